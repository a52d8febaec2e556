"""MCP tests run against a runs host: the runs tests' fixtures."""

from ...runs.conftest import host, runs_env, server_factory

__all__ = ["host", "runs_env", "server_factory"]
