"""Typed errors of the runs hosting: configuration, leases, and the host's own refusals.

Flow errors (`lightflow_actors.flow.FlowError`) cross this layer unchanged. The errors
here that refuse a request are kernel `Refused`s with a fixed `reason` (a run driven
elsewhere is a `conflict`, a host that is not running is `unavailable`); the others are
failures. Each surface maps both families once (HTTP, MCP, CLI), by reason.
"""

from __future__ import annotations

from lightflow_actors.kernel import LightflowError, Refused


class RunsError(LightflowError):
    """Base class of the runs hosting errors; the ones that are not `Refused` are failures."""


class RunsConfigError(RunsError):
    """The runs configuration file is unreadable, malformed, or names a bad provider."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        super().__init__(f"runs config {source}: {problem}; fix it (see specs/runs-http.md §1)")


class RunHostedElsewhere(RunsError, Refused):
    """Another process (a `lightflow serve`, or a CLI that hosts it) drives this run."""

    reason = "conflict"

    def __init__(self, run_id: str, holder: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} is being driven by another lightflow process ({holder}); "
            "wait for it to settle, or talk to that process (e.g. its HTTP API)"
        )


class HostNotRunning(RunsError, Refused):
    """The runs host is not started yet, or has stopped; retry once it runs."""

    reason = "unavailable"
