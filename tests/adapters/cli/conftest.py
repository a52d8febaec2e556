"""Fixtures of the CLI tests shared with the runs tests (helpers in `tests/runs/`)."""

from ...runs.conftest import gate

__all__ = ["gate"]
