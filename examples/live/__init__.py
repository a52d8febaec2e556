"""Live view examples (counter, chat with presence, 1 000-row live table); see app.py."""
