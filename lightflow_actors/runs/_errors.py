"""Typed errors of the runs hosting: configuration, leases, and the host's own refusals.

Flow-level errors (`lightflow_actors.flow.FlowError`: 400/404/409/500/502) cross this layer
unchanged; the errors here carry an `http_status` the same way, so every surface (HTTP,
MCP, CLI) maps both families with one rule.
"""

from __future__ import annotations

from typing import ClassVar

from lightflow_actors.kernel import LightflowError


class RunsError(LightflowError):
    """Base class of the runs hosting errors; `http_status` is the HTTP answer."""

    http_status: ClassVar[int] = 500


class RunsConfigError(RunsError):
    """The runs configuration file is unreadable, malformed, or names a bad provider."""

    http_status: ClassVar[int] = 500

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        super().__init__(f"runs config {source}: {problem}; fix it (see specs/runs-http.md §1)")


class RunHostedElsewhere(RunsError):
    """Another process (a `lightflow serve`, or a CLI that hosts it) drives this run."""

    http_status: ClassVar[int] = 409

    def __init__(self, run_id: str, holder: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} is being driven by another lightflow process ({holder}); "
            "wait for it to settle, or talk to that process (e.g. its HTTP API)"
        )


class HostNotRunning(RunsError):
    """The runs host is not started yet, or has stopped (503)."""

    http_status: ClassVar[int] = 503


class InvalidRequest(RunsError):
    """A request to a runs surface is malformed (400): the message names the field."""

    http_status: ClassVar[int] = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class PayloadTooLarge(RunsError):
    """A request body is larger than the runs surfaces accept (413)."""

    http_status: ClassVar[int] = 413
