"""The pure DAG scheduler core: which steps to start now, retries with backoff, caching.

`plan_steps` looks at a manifest and its resolved workflow and answers, without doing any
I/O: which planned steps are ready (every dependency succeeded, backoff elapsed), with
their rendered request, fingerprint and attempt number; which of them can reuse a cached
output instead of running; which cannot be rendered; and when to look again. The run
actor applies the answer through the manifest transitions and calls it again.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping

import msgspec

from lightflow_actors.isa import JSONValue

from ._definition import RetryPolicy
from ._errors import CorruptRun, TemplateError
from ._manifest import TERMINAL, RunManifest
from ._resolved import ResolvedWorkflow
from ._store import CachedOutput
from ._templates import RefPart


class SubmitStep(msgspec.Struct, frozen=True):
    """Commit `request` for `step` as attempt `attempt` under `request_id`."""

    step: str
    request: JSONValue
    fingerprint: str
    attempt: int
    request_id: str


class ReuseOutput(msgspec.Struct, frozen=True):
    """`step`'s request matches a succeeded output: copy it instead of running."""

    step: str
    fingerprint: str
    cached: CachedOutput


class RenderFailed(msgspec.Struct, frozen=True):
    """`step`'s request cannot be built from its dependencies' outputs (permanent)."""

    step: str
    error: str


class SchedulePlan(msgspec.Struct, frozen=True):
    """What to do now. `wake_at_ms` is the earliest backoff expiry still ahead;
    `finished` means nothing is in flight and nothing can become ready any more."""

    submit: tuple[SubmitStep, ...] = ()
    reuse: tuple[ReuseOutput, ...] = ()
    failed: tuple[RenderFailed, ...] = ()
    wake_at_ms: int | None = None
    finished: bool = False


def plan_steps(
    resolved: ResolvedWorkflow,
    manifest: RunManifest,
    *,
    outputs: Mapping[str, JSONValue],
    now_ms: int,
    lookup: Callable[[str], CachedOutput | None] | None = None,
    max_in_flight: int | None = None,
) -> SchedulePlan:
    """Decide the next actions. `outputs` must hold the decoded output of every succeeded
    step a ready step references; `lookup` finds cached outputs by fingerprint."""
    if manifest.status in TERMINAL:
        return SchedulePlan(finished=True)
    states = {s.id: s for s in manifest.steps}
    in_flight = sum(1 for s in manifest.steps if s.status == "submitted")
    budget = math.inf if max_in_flight is None else max(0, max_in_flight - in_flight)
    submit: list[SubmitStep] = []
    reuse: list[ReuseOutput] = []
    failed: list[RenderFailed] = []
    wake_at: int | None = None
    for step in resolved.steps:
        state = states[step.id]
        if state.status != "planned":
            continue
        if any(states[d].status != "succeeded" for d in step.depends_on):
            continue  # not ready yet, or blocked for good by a failed dependency
        if state.retry_at_ms is not None and state.retry_at_ms > now_ms:
            wake_at = state.retry_at_ms if wake_at is None else min(wake_at, state.retry_at_ms)
            continue
        for binding in step.bindings:
            for part in binding.parts:
                if isinstance(part, RefPart) and part.step not in outputs:
                    raise CorruptRun(
                        f"run {manifest.run_id!r}: step {part.step!r} succeeded but its output "
                        "was not passed to the scheduler (is outputs/ intact?)"
                    )
        try:
            request = step.render(outputs)
        except TemplateError as exc:
            failed.append(RenderFailed(step.id, str(exc)))
            continue
        fingerprint = step.fingerprint or step.fingerprint_of(request)
        cached = lookup(fingerprint) if step.cache and lookup is not None else None
        if cached is not None:
            reuse.append(ReuseOutput(step.id, fingerprint, cached))
            continue
        if budget <= 0:
            continue
        budget -= 1
        attempt = state.attempts + 1
        submit.append(
            SubmitStep(
                step=step.id,
                request=request,
                fingerprint=fingerprint,
                attempt=attempt,
                request_id=request_id_for(manifest.run_id, step.id, attempt),
            )
        )
    finished = not (submit or reuse or failed) and wake_at is None and in_flight == 0
    return SchedulePlan(
        submit=tuple(submit),
        reuse=tuple(reuse),
        failed=tuple(failed),
        wake_at_ms=wake_at,
        finished=finished,
    )


def request_id_for(run_id: str, step_id: str, attempt: int) -> str:
    """A CortexFS request id unique across runs (the inbox is shared): the step id and
    attempt for people, a hash of run/step/attempt for uniqueness. One path segment."""
    digest = hashlib.sha256(f"{run_id}\x00{step_id}\x00{attempt}".encode()).hexdigest()
    return f"{step_id}-{attempt}-{digest[:16]}"


def backoff_s(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Delay after failed attempt `attempt` (>= 1): exponential, capped, with jitter."""
    try:
        capped = min(
            policy.max_backoff_s, policy.initial_backoff_s * policy.multiplier ** (attempt - 1)
        )
    except OverflowError:
        capped = policy.max_backoff_s
    factor = 1.0 + policy.jitter * (2.0 * rng.random() - 1.0)
    return max(0.0, capped * factor)


def retry_at_ms(policy: RetryPolicy, attempt: int, now_ms: int, rng: random.Random) -> int | None:
    """When to retry after failed attempt `attempt`, or None when attempts are used up."""
    if attempt >= policy.max_attempts:
        return None
    return now_ms + math.ceil(backoff_s(policy, attempt, rng) * 1000)
