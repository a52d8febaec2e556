"""The run manifest (`manifest.json`), run status derivation, and the step lifecycle.

A step moves `planned → submitted → succeeded | failed`; a failed attempt with retries
left goes back to `planned` (with `retry_at_ms`), a cache hit goes `planned → succeeded`
without a submission, cancelling a run turns every planned or submitted step into
`cancelled`, and retrying a failed run turns its failed steps back into `planned` (the
failure frontier: succeeded steps keep their outputs). Each transition is a pure
function returning the new manifest and the event that records it; `RunStore.update`
persists both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from lightflow_actors.isa import JSONValue

from ._errors import StepNotFound, StepTransitionError
from ._records import (
    RunCancelled,
    RunCreated,
    RunEvent,
    RunRetried,
    StepFailed,
    StepSubmitted,
    StepSucceeded,
)
from ._resolved import ResolvedWorkflow

StepStatus = Literal["planned", "submitted", "cancelled", "succeeded", "failed"]
RunStatus = Literal["planned", "running", "cancelled", "succeeded", "failed"]
STEP_STATUSES: tuple[StepStatus, ...] = ("planned", "submitted", "cancelled", "succeeded", "failed")
RUN_STATUSES: tuple[RunStatus, ...] = ("planned", "running", "cancelled", "succeeded", "failed")


def _planned() -> StepStatus:
    return "planned"


class StepState(msgspec.Struct, frozen=True, omit_defaults=True):
    """One step's progress. `fingerprint` is the hash of the rendered request (the cache
    key); `attempts` counts submissions over the whole run (a retry goes on counting);
    `retries_from` is `attempts` when the run was last retried; `body` is the explicit
    request of a `run submit`, if any; `output` is relative to the run folder."""

    id: str
    # Always written, "planned" included (the seed's readers look for it): msgspec never
    # omits a field whose default comes from a factory that is not a container.
    status: StepStatus = msgspec.field(default_factory=_planned)
    attempts: int = 0
    fingerprint: str | None = None
    request_id: str | None = None
    retry_at_ms: int | None = None
    error: str | None = None
    output: str | None = None
    cached_from: str | None = None
    updated_at_ms: int = 0
    retries_from: int = 0  # the retry policy counts the attempts after it
    body: JSONValue = None  # kept so a resume commits the same body again


class RunManifest(msgspec.Struct, frozen=True):
    """The state of a run. `sequence` is the `seq` of the last event; `last_event` is that
    event, so a crash between writing the manifest and appending the event is repaired
    by re-appending it (see `RunStore.recover`)."""

    run_id: str
    workflow: str
    created_at_ms: int
    updated_at_ms: int
    steps: tuple[StepState, ...]
    cancelled: bool = False
    sequence: int = 0
    last_event: RunEvent | None = None
    version: int = 1
    # The run's model override (`run create --model`); absent from the file without one.
    model: str | msgspec.UnsetType = msgspec.UNSET
    # The tenant the run works for (ADR 0104); absent from the file for the default one.
    tenant: str | msgspec.UnsetType = msgspec.UNSET

    @property
    def status(self) -> RunStatus:
        return derive_status(self.cancelled, (s.status for s in self.steps))

    def step(self, step_id: str) -> StepState:
        for step in self.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.steps)
        raise StepNotFound(f"run {self.run_id!r} has no step {step_id!r}; steps: {known}")


def derive_status(cancelled: bool, statuses: Iterable[StepStatus]) -> RunStatus:
    """The run status from the cancel flag and step statuses (DESIGN §7, in this order)."""
    seen = set(statuses)
    if cancelled:
        return "cancelled"
    if "failed" in seen:
        return "failed"
    if "cancelled" in seen and not seen & {"planned", "submitted"}:
        return "cancelled"
    if seen <= {"succeeded"}:  # all succeeded (vacuously for no steps)
        return "succeeded"
    if seen & {"submitted", "succeeded"}:
        return "running"
    return "planned"


TERMINAL: frozenset[RunStatus] = frozenset({"cancelled", "succeeded", "failed"})


def new_manifest(
    run_id: str, resolved: ResolvedWorkflow, now_ms: int, tenant: str | None = None
) -> RunManifest:
    """The manifest of a new run (all steps planned) holding its `run.created` event;
    `tenant` (None: the default tenant) is recorded in both."""
    named: str | msgspec.UnsetType = msgspec.UNSET if tenant is None else tenant
    event = RunCreated(
        seq=1,
        ts_ms=now_ms,
        run_id=run_id,
        workflow=resolved.workflow,
        steps=tuple(s.id for s in resolved.steps),
        tenant=named,
    )
    return RunManifest(
        run_id=run_id,
        workflow=resolved.workflow,
        created_at_ms=now_ms,
        updated_at_ms=now_ms,
        steps=tuple(StepState(id=s.id, updated_at_ms=now_ms) for s in resolved.steps),
        sequence=1,
        last_event=event,
        model=msgspec.UNSET if resolved.model is None else resolved.model,
        tenant=named,
    )


def submit_step(
    manifest: RunManifest,
    step_id: str,
    *,
    fingerprint: str,
    request_id: str,
    now_ms: int,
    body: JSONValue = None,
) -> tuple[RunManifest, StepSubmitted]:
    """planned → submitted; counts the attempt. `body` is an explicit request (`run
    submit` with a body), kept in the manifest until the step is submitted again."""
    step = _expect(manifest, step_id, ("planned",), "submitted")
    attempt = step.attempts + 1
    new = msgspec.structs.replace(
        step,
        status="submitted",
        attempts=attempt,
        fingerprint=fingerprint,
        request_id=request_id,
        retry_at_ms=None,
        updated_at_ms=now_ms,
        body=body,
    )
    event = StepSubmitted(
        seq=manifest.sequence + 1,
        ts_ms=now_ms,
        step=step_id,
        attempt=attempt,
        fingerprint=fingerprint,
        request_id=request_id,
    )
    return _with(manifest, new, event, now_ms), event


def succeed_step(
    manifest: RunManifest,
    step_id: str,
    *,
    output: str,
    now_ms: int,
    cached_from: str | None = None,
    fingerprint: str | None = None,
) -> tuple[RunManifest, StepSucceeded]:
    """submitted → succeeded; or planned → succeeded when `cached_from` names the reused
    output (a cache hit never submits)."""
    allowed: tuple[StepStatus, ...] = ("planned",) if cached_from is not None else ("submitted",)
    step = _expect(manifest, step_id, allowed, "succeeded")
    new = msgspec.structs.replace(
        step,
        status="succeeded",
        output=output,
        cached_from=cached_from,
        fingerprint=fingerprint or step.fingerprint,
        error=None,
        retry_at_ms=None,
        updated_at_ms=now_ms,
    )
    event = StepSucceeded(
        seq=manifest.sequence + 1,
        ts_ms=now_ms,
        step=step_id,
        attempt=step.attempts,
        output=output,
        cached_from=cached_from,
    )
    return _with(manifest, new, event, now_ms), event


def fail_step(
    manifest: RunManifest, step_id: str, *, error: str, now_ms: int, retry_at_ms: int | None
) -> tuple[RunManifest, StepFailed]:
    """submitted → planned (retry at `retry_at_ms`) or → failed (when None). A planned step
    may also fail for good (its request could not be rendered)."""
    allowed: tuple[StepStatus, ...] = (
        ("submitted",) if retry_at_ms is not None else ("submitted", "planned")
    )
    step = _expect(manifest, step_id, allowed, "failed")
    new = msgspec.structs.replace(
        step,
        status="planned" if retry_at_ms is not None else "failed",
        error=error,
        retry_at_ms=retry_at_ms,
        updated_at_ms=now_ms,
    )
    event = StepFailed(
        seq=manifest.sequence + 1,
        ts_ms=now_ms,
        step=step_id,
        attempt=step.attempts,
        error=error,
        retry_at_ms=retry_at_ms,
    )
    return _with(manifest, new, event, now_ms), event


def cancel_run(
    manifest: RunManifest, *, reason: str, now_ms: int
) -> tuple[RunManifest, RunCancelled]:
    """Set the cancel flag; planned and submitted steps become cancelled."""
    status = manifest.status
    if status in TERMINAL:
        raise StepTransitionError(
            f"run {manifest.run_id!r} is already {status}; only a planned or running run "
            "can be cancelled"
        )
    touched = tuple(s.id for s in manifest.steps if s.status in ("planned", "submitted"))
    steps = tuple(
        msgspec.structs.replace(s, status="cancelled", updated_at_ms=now_ms)
        if s.id in touched
        else s
        for s in manifest.steps
    )
    event = RunCancelled(seq=manifest.sequence + 1, ts_ms=now_ms, reason=reason, steps=touched)
    cancelled = msgspec.structs.replace(
        manifest,
        steps=steps,
        cancelled=True,
        sequence=event.seq,
        last_event=event,
        updated_at_ms=now_ms,
    )
    return cancelled, event


def check_submittable(manifest: RunManifest, step_id: str, depends_on: Iterable[str]) -> StepState:
    """The state of `step_id` if `run submit` may submit it now: planned, every step of
    `depends_on` succeeded, the run not ended. Raises `StepNotFound` or
    `StepTransitionError` (a conflict) saying why not."""
    state = manifest.step(step_id)
    blocked = [d for d in depends_on if manifest.step(d).status != "succeeded"]
    if state.status != "planned" or blocked or manifest.status in TERMINAL:
        why = f"waits for {', '.join(blocked)}" if blocked else f"is {state.status}"
        raise StepTransitionError(
            f"step {step_id!r} {why}; only a ready planned step can be submitted"
        )
    return state


def retry_run(manifest: RunManifest, *, now_ms: int) -> tuple[RunManifest, RunRetried]:
    """A failed run goes on from its failure frontier: failed steps → planned (attempts
    keep counting; each gets its retry policy afresh), succeeded steps keep their outputs,
    steps never started stay planned, submitted ones stay submitted (their answers are
    still awaited). The run is running again."""
    status = manifest.status
    if status != "failed":
        raise StepTransitionError(retry_refusal(manifest.run_id, status))
    failed = tuple(s.id for s in manifest.steps if s.status == "failed")
    steps = tuple(
        msgspec.structs.replace(
            s, status="planned", retry_at_ms=None, retries_from=s.attempts, updated_at_ms=now_ms
        )
        if s.id in failed
        else s
        for s in manifest.steps
    )
    event = RunRetried(seq=manifest.sequence + 1, ts_ms=now_ms, steps=failed)
    retried = msgspec.structs.replace(
        manifest, steps=steps, sequence=event.seq, last_event=event, updated_at_ms=now_ms
    )
    return retried, event


def retry_refusal(run_id: str, status: RunStatus) -> str:
    """Why a run in `status` cannot be retried (only a failed one can), and what to do."""
    why = {
        "succeeded": "succeeded; there is nothing to retry",
        "cancelled": "cancelled; a cancelled run stays cancelled (create a new run)",
        "running": "running; wait for it to settle (or cancel it) first",
        "planned": "planned and not started; refresh it to drive it",
    }
    return f"run {run_id!r} is {why.get(status, status)}; only a failed run can be retried"


def _expect(
    manifest: RunManifest, step_id: str, allowed: tuple[StepStatus, ...], target: str
) -> StepState:
    if manifest.cancelled:
        raise StepTransitionError(f"run {manifest.run_id!r} is cancelled; its steps cannot change")
    step = manifest.step(step_id)
    if step.status not in allowed:
        raise StepTransitionError(
            f"step {step_id!r} of run {manifest.run_id!r} is {step.status}; it can become "
            f"{target} only from {' or '.join(allowed)}"
        )
    return step


def _with(manifest: RunManifest, step: StepState, event: RunEvent, now_ms: int) -> RunManifest:
    return msgspec.structs.replace(
        manifest,
        steps=tuple(step if s.id == step.id else s for s in manifest.steps),
        sequence=manifest.sequence + 1,
        last_event=event,
        updated_at_ms=now_ms,
    )
