"""Composition-root tests share the runs tests' fixtures."""

from ..runs.conftest import host, runs_env, server_factory

__all__ = ["host", "runs_env", "server_factory"]
