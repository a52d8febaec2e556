"""Runs page tests share the runs tests' fixtures (the `gate` of the failing provider)."""

from ...runs.conftest import gate

__all__ = ["gate"]
