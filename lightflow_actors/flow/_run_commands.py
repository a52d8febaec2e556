"""Run commands: the I/O a `RunProgram` asks its host for, as data, in order.

The program's ISA effects say what watchers and askers see (`Patched` run events,
`Rendered` snapshots, `Replied` refusals, `Stopped`). Everything else the run needs done
is a command, the way a live view hands its host commands that have no ISA effect (ADR
0024): create the run folder, record a manifest transition, commit a request to `/ctx`,
observe an answer, look up the output cache, write an output, index it, append a
CortexFS trace record, wake up later. The host carries them out in the order given;
that order is the crash-safety order of the run (manifest `submitted` before the
commit; output file, then manifest `succeeded`, then the cache index).

A `Record` holds a `Transition`, not the new manifest: the host applies the same pure
transition to the manifest on disk under the run's lock, so a change made outside the
actor (a `run cancel` from the CLI) refuses it exactly as it refused the old code.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.isa import JSONValue

from ._manifest import RunManifest, cancel_run, fail_step, retry_run, submit_step, succeed_step
from ._records import RunEvent, TraceRecord
from ._resolved import Target
from ._store import OUTPUTS, CachedOutput

__all__ = [
    "CancelTransition",
    "CommitRequest",
    "Create",
    "FailTransition",
    "LookUpCache",
    "ObserveAnswer",
    "Record",
    "RememberOutput",
    "RetryTransition",
    "RunCommand",
    "SubmitTransition",
    "SucceedTransition",
    "TraceExchange",
    "Transition",
    "WakeAt",
    "WriteOutput",
    "apply_transition",
    "output_path",
]


class _Transition(msgspec.Struct, frozen=True, kw_only=True, tag_field="transition"):
    """Shared options: frozen, keyword-only, tagged by `transition`."""


class SubmitTransition(_Transition, frozen=True, tag="submit"):
    """`submit_step`: planned → submitted under `request_id` (counts an attempt); `body`
    is the explicit request of a `run submit` with a body (None: rendered from the step)."""

    step: str
    fingerprint: str
    request_id: str
    now_ms: int
    body: JSONValue = None


class SucceedTransition(_Transition, frozen=True, tag="succeed"):
    """`succeed_step`: submitted → succeeded, or planned → succeeded from the cache when
    `cached_from` names the reused output (then `fingerprint` is the cache key)."""

    step: str
    output: str
    now_ms: int
    cached_from: str | None = None
    fingerprint: str | None = None


class FailTransition(_Transition, frozen=True, tag="fail"):
    """`fail_step`: back to planned until `retry_at_ms`, or failed for good when None."""

    step: str
    error: str
    now_ms: int
    retry_at_ms: int | None


class CancelTransition(_Transition, frozen=True, tag="cancel"):
    """`cancel_run`: set the cancel flag; planned and submitted steps become cancelled."""

    reason: str
    now_ms: int


class RetryTransition(_Transition, frozen=True, tag="retry"):
    """`retry_run`: a failed run's failed steps go back to planned (the run is running)."""

    now_ms: int


Transition = (
    SubmitTransition | SucceedTransition | FailTransition | CancelTransition | RetryTransition
)


def apply_transition(manifest: RunManifest, transition: Transition) -> tuple[RunManifest, RunEvent]:
    """The manifest after `transition` and the event recording it (raises
    `StepTransitionError` when the manifest does not allow it)."""
    result: tuple[RunManifest, RunEvent]
    match transition:
        case SubmitTransition(step=step, fingerprint=fingerprint, request_id=request_id):
            result = submit_step(
                manifest,
                step,
                fingerprint=fingerprint,
                request_id=request_id,
                now_ms=transition.now_ms,
                body=transition.body,
            )
        case SucceedTransition(step=step, output=output, cached_from=cached_from):
            result = succeed_step(
                manifest,
                step,
                output=output,
                now_ms=transition.now_ms,
                cached_from=cached_from,
                fingerprint=transition.fingerprint,
            )
        case FailTransition(step=step, error=error, retry_at_ms=retry_at):
            result = fail_step(
                manifest, step, error=error, now_ms=transition.now_ms, retry_at_ms=retry_at
            )
        case CancelTransition(reason=reason):
            result = cancel_run(manifest, reason=reason, now_ms=transition.now_ms)
        case RetryTransition(now_ms=now_ms):
            result = retry_run(manifest, now_ms=now_ms)
    return result


def output_path(step_id: str) -> str:
    """Where `RunStore.write_output` puts a step's output, relative to the run folder."""
    return f"{OUTPUTS}/{step_id}.json"


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="command"):
    """Shared options: frozen, keyword-only, tagged by `command`."""


class Create(_Command, frozen=True, tag="create"):
    """Create the run folder (request, resolved workflow, `manifest` with `run.created`)."""

    manifest: RunManifest


class Record(_Command, frozen=True, tag="record"):
    """Apply `transition` to `manifest.json` under the run's lock and append its event."""

    transition: Transition


class CommitRequest(_Command, frozen=True, tag="commit"):
    """Commit `body` as request `request_id` of `target`/`address`, answers to the run.

    The host gives the outcome of the commit itself back as a `Submit` of `Committed` or
    `CommitRefused`; `resuming` marks a request committed again after a restart. A
    `conflict` means this attempt's request is already in the inbox (committed again
    after a restart, or its queued `submitted` was taken back by a crash, ADR 0117):
    the program observes it.
    """

    step: str
    target: Target
    address: str
    request_id: str
    body: JSONValue
    resuming: bool = False
    at_most_once: bool = False  # the step's delivery policy (`commit_request` marks it)


class ObserveAnswer(_Command, frozen=True, tag="observe"):
    """Watch for the answer of a request committed before a restart."""

    step: str
    target: Target
    address: str
    request_id: str


class LookUpCache(_Command, frozen=True, tag="look_up_cache"):
    """Find earlier outputs by input fingerprint; the host gives the answer back as a
    `Submit` of `CacheAnswer` (with each hit's output value)."""

    fingerprints: tuple[str, ...]


class WriteOutput(_Command, frozen=True, tag="write_output"):
    """Store `value` as `outputs/<step>.json` (atomically)."""

    step: str
    value: JSONValue


class RememberOutput(_Command, frozen=True, tag="remember_output"):
    """Index a succeeded output by its fingerprint, for later runs to reuse."""

    cached: CachedOutput


class TraceExchange(_Command, frozen=True, tag="trace"):
    """Append `record` to the run's `trace.jsonl` (a CortexFS exchange)."""

    record: TraceRecord


class WakeAt(_Command, frozen=True, tag="wake_at"):
    """Give the run a `Wake` input at `at_ms` (a backoff ends); an earlier wake wins."""

    at_ms: int


RunCommand = (
    Create
    | Record
    | CommitRequest
    | ObserveAnswer
    | LookUpCache
    | WriteOutput
    | RememberOutput
    | TraceExchange
    | WakeAt
)
