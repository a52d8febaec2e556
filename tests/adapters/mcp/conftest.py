"""MCP tests run against a runs host: the runs tests' fixtures."""

from ...runs.conftest import gate, host, runs_env, server_factory

__all__ = ["gate", "host", "runs_env", "server_factory"]
