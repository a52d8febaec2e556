"""The ``lightflow`` console script (``pyproject``: ``lightflow = "lightflow_actors.cli:main"``).

The verbs live in ``lightflow_actors.adapters.cli``; ``python -m lightflow_actors.cli`` works
too.
"""

from __future__ import annotations

from .adapters.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
