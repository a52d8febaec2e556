"""Event and trace records: the JSON lines of `events.jsonl` and `trace.jsonl`.

Events (field `event`) tell the run's story (`run.created`, `step.submitted`,
`step.succeeded`, `step.failed`, `run.cancelled`, `run.retried`) and are numbered by
`seq` from 1, in step with the manifest's `sequence`. Trace records (field `record`) log every
CortexFS exchange (`cortex.request.committed`, `cortex.response.observed`,
`cortex.error.observed`), numbered by their own `seq`.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.isa import JSONValue


class RunCreated(msgspec.Struct, frozen=True, tag="run.created", tag_field="event"):
    seq: int
    ts_ms: int
    run_id: str
    workflow: str
    steps: tuple[str, ...]
    tenant: str | msgspec.UnsetType = msgspec.UNSET  # absent for the default tenant


class StepSubmitted(msgspec.Struct, frozen=True, tag="step.submitted", tag_field="event"):
    seq: int
    ts_ms: int
    step: str
    attempt: int
    fingerprint: str
    request_id: str


class StepSucceeded(msgspec.Struct, frozen=True, tag="step.succeeded", tag_field="event"):
    """`cached_from` is `<run id>/<step id>` when the output was reused, not computed."""

    seq: int
    ts_ms: int
    step: str
    attempt: int
    output: str
    cached_from: str | None = None


class StepFailed(msgspec.Struct, frozen=True, tag="step.failed", tag_field="event"):
    """`retry_at_ms` (unix ms) is set when the step goes back to `planned` for a retry."""

    seq: int
    ts_ms: int
    step: str
    attempt: int
    error: str
    retry_at_ms: int | None = None


class RunCancelled(msgspec.Struct, frozen=True, tag="run.cancelled", tag_field="event"):
    seq: int
    ts_ms: int
    reason: str
    steps: tuple[str, ...]


class RunRetried(msgspec.Struct, frozen=True, tag="run.retried", tag_field="event"):
    """A failed run was retried: `steps` (the failed ones) went back to `planned`; every
    succeeded step keeps its output, and attempts go on counting."""

    seq: int
    ts_ms: int
    steps: tuple[str, ...]


RunEvent = RunCreated | StepSubmitted | StepSucceeded | StepFailed | RunCancelled | RunRetried
EVENT_NAMES = (
    "run.created",
    "step.submitted",
    "step.succeeded",
    "step.failed",
    "run.cancelled",
    "run.retried",
)


class RequestCommitted(
    msgspec.Struct, frozen=True, tag="cortex.request.committed", tag_field="record"
):
    """A step request renamed into place as `<path>` (`.../inbox/<request_id>.req.json`)."""

    seq: int
    ts_ms: int
    step: str
    attempt: int
    request_id: str
    path: str
    fingerprint: str
    # The step's resolved model name (api steps, the run's override applied; absent else).
    model: str | msgspec.UnsetType = msgspec.UNSET
    # The run's tenant, whose provider budget and fair share the call counts against.
    tenant: str | msgspec.UnsetType = msgspec.UNSET


class ResponseObserved(
    msgspec.Struct, frozen=True, tag="cortex.response.observed", tag_field="record"
):
    """A response file seen in the outbox; `route` is the `<id>.route.json` content if any."""

    seq: int
    ts_ms: int
    step: str
    request_id: str
    path: str
    route: dict[str, JSONValue] | None = None
    # True when the call may have been made twice: the request was in flight when the
    # server stopped and was sent again after the restart (same idempotency key).
    may_repeat: bool | msgspec.UnsetType = msgspec.UNSET


class ErrorObserved(msgspec.Struct, frozen=True, tag="cortex.error.observed", tag_field="record"):
    seq: int
    ts_ms: int
    step: str
    request_id: str
    path: str
    error: str


TraceRecord = RequestCommitted | ResponseObserved | ErrorObserved
TRACE_NAMES = ("cortex.request.committed", "cortex.response.observed", "cortex.error.observed")
