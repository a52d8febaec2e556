"""Typed errors of the runs hosting: configuration, leases, and the host's own refusals.

Flow errors (`lightflow_actors.flow.FlowError`) cross this layer unchanged. The errors
here that refuse a request are kernel `Refused`s with a fixed `reason` (a run driven
elsewhere is a `conflict`, a host that is not running is `unavailable`); the others are
failures. Each surface maps both families once (HTTP, MCP, CLI), by reason.
"""

from __future__ import annotations

import errno

from lightflow_actors.flow import StepTransitionError
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


class RunActorRestarting(RunsError, Refused):
    """A run's actor crashed before it answered; its supervisor resumes the run from its
    manifest. Whether the request was applied is for the run to say: read it, then retry."""

    reason = "unavailable"

    def __init__(self, run_id: str, why: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r}: its run actor stopped before answering ({why}); it is resumed "
            "from its manifest by its supervisor: read the run, and retry in a moment if needed"
        )


class RunEndedFirst(StepTransitionError):
    """A submit reached the run actor as its run ended (its last answer arrived, another
    process cancelled it): a conflict, like any submit to a finished run."""

    def __init__(self, run_id: str, step: str, status: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id!r} {status} before step {step!r} could be submitted (its run actor "
            f"stopped as the submit arrived); a {status} run's steps cannot be submitted"
        )


class HostNotRunning(RunsError, Refused):
    """The runs host is not started yet, or has stopped; retry once it runs."""

    reason = "unavailable"


STORAGE_ERRNOS = frozenset(
    {
        errno.ENOSPC,  # the device is full
        errno.EDQUOT,  # the user's quota is spent
        errno.EACCES,  # permissions changed under the state folder
        errno.EPERM,
        errno.EROFS,  # remounted read-only
        errno.EMFILE,  # this process is out of file descriptors
        errno.ENFILE,  # the machine is
        errno.EIO,
    }
)
"""The `OSError`s that say "the state folder cannot be used now", not "the host is
wrong": they refuse the one request that hit them and the host goes on."""


class StorageUnavailable(RunsError, Refused):
    """The state folder could not be read or written for this request (full disk, quota,
    permissions, read-only, no file descriptors left). No file was torn (the store writes
    by rename and appends whole lines); a run created before the failure stays `planned`
    and is driven by `refresh` or the next start. Retry once the cause is fixed."""

    reason = "unavailable"

    def __init__(self, error: OSError) -> None:
        self.errno = error.errno
        name = errno.errorcode.get(error.errno or 0, "OSError")
        where = f" ({error.filename})" if error.filename else ""
        super().__init__(
            f"the runs state folder cannot be used: {error.strerror or error} [{name}]{where}; "
            "retry once it is fixed (free space, fix permissions)"
        )

    @staticmethod
    def covers(error: BaseException) -> bool:
        return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS
