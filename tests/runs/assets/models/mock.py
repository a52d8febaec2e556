"""The model the runs tests route to their Python-callable provider."""

from lightflow_actors.flow import Model

METADATA = {
    "id": "mock",
    "title": "Mock model",
    "kind": "model",
    "description": "Answered by tests/runs/_providers.py (a Python-callable provider).",
    "stability": "stable",
}

DEFINITION = Model(
    provider="mock",
    name="mock-1",
    formats=("openai.chat", "openai.responses", "anthropic.messages", "google.generate_content"),
)
