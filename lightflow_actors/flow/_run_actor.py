"""The run actor: executes one run's steps as a DAG through CortexFS, resumably.

One `RunActor` per active run. It asks the pure scheduler (`plan_steps`) what to do, and
does it in a crash-safe order, so that a `kill -9` at any point resumes from the run folder
with nothing lost and no step answered twice:

- submit: manifest `submitted` (with the request id) first, then commit to `/ctx`. On
  resume a submitted step is committed again under the same id; the CortexFS client
  refuses an id already committed (`CommitFailed` with cause `conflict`), and the actor
  then only observes it, so an answer that arrived while it was down is picked up.
- success: output file, then manifest `succeeded`, then the cache index.
- failure: manifest back to `planned` with `retry_at_ms` (exponential backoff from the
  system clock and RNG) or `failed` when attempts are used up.

File I/O runs off the loop (`run_blocking`); under the deterministic scheduler use
`Scenario(allow_threads=True)`. Run it under a `DynamicSupervisor` with restart
`transient`: a crash (e.g. a full disk) restarts it, and `on_start` resumes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TypeVar

import msgspec

from lightflow_actors.cortex import (
    Commit,
    CtxLayout,
    ErrorObserved,
    Observe,
    ObserveTimedOut,
    RequestCommitted,
    ResponseObserved,
    Suffix,
    TargetKind,
)
from lightflow_actors.kernel import Actor, ActorRef, Ask, Timer, handler

from . import _records as records
from ._errors import (
    CorruptRun,
    FlowError,
    MalformedResponse,
    RunNotFound,
    StepTransitionError,
    TemplateError,
)
from ._json import Json
from ._manifest import (
    TERMINAL,
    RunManifest,
    StepState,
    cancel_run,
    fail_step,
    submit_step,
    succeed_step,
)
from ._outputs import step_output
from ._records import RunEvent
from ._resolved import ResolvedStep, ResolvedWorkflow
from ._scheduler import ReuseOutput, SchedulePlan, SubmitStep, plan_steps, retry_at_ms
from ._service import RunView
from ._store import CachedOutput, RunStore

logger = logging.getLogger("lightflow_actors.flow")

E = TypeVar("E", bound=RunEvent)
T = TypeVar("T")

DEFAULT_STEP_TIMEOUT_S = 600.0


class Refused(msgspec.Struct, frozen=True):
    """An ask the run could not honour; `status` is the HTTP status to answer with."""

    error: str
    status: int


class GetRun(Ask[RunView], frozen=True):
    """The run as the actor sees it now."""


class CancelRun(Ask["RunView | Refused"], frozen=True):
    """Cancel the run (409 Refused when it already finished); the actor then stops."""

    reason: str = "cancelled by request"


class SubmitNow(Ask["RunView | Refused"], frozen=True):
    """Submit planned `step` now, without waiting for its retry backoff (409 Refused when
    it is not planned or its dependencies have not all succeeded)."""

    step: str


class Refresh(Ask[RunView], frozen=True):
    """Re-plan now (e.g. after outputs were repaired by hand) and return the run."""


class _Wake(msgspec.Struct, frozen=True):
    pass


RunMessage = (
    GetRun
    | CancelRun
    | SubmitNow
    | Refresh
    | _Wake
    | ResponseObserved
    | ErrorObserved
    | ObserveTimedOut
)


class RunActor(Actor[RunMessage]):
    """Drive run `run_id` (already created in `store`) to completion.

    ::

        cortex = system.spawn(lambda: CortexClient(CtxLayout.from_env()))
        run = await system.start_actor(lambda: RunActor(store, "tea-1", cortex))
        view = await run.ask(GetRun())
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        cortex: ActorRef[Commit | Observe],
        *,
        step_timeout_s: float = DEFAULT_STEP_TIMEOUT_S,
        max_in_flight: int | None = None,
        layout: CtxLayout | None = None,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._cortex = cortex
        self._step_timeout_s = step_timeout_s
        self._max_in_flight = max_in_flight
        self._layout = layout
        self._manifest: RunManifest | None = None
        self._resolved: ResolvedWorkflow | None = None
        self._outputs: dict[str, Json] = {}
        self._trace_seq = 1
        self._timer: Timer | None = None
        self._timer_at_ms: int | None = None

    # -- start and resume -------------------------------------------------------------------

    async def on_start(self) -> None:
        store, run_id = self._store, self._run_id
        self._manifest = await self._blocking(store.recover, run_id)
        self._resolved = await self._blocking(store.resolved, run_id)
        for state in self._manifest.steps:
            if state.status == "succeeded":
                self._outputs[state.id] = await self._blocking(store.output, run_id, state.id)
        self._trace_seq = await self._blocking(store.next_trace_seq, run_id)
        for state in self._manifest.steps:
            if state.status == "submitted" and state.request_id is not None:
                await self._resume_submitted(state)
        self.ref.tell(_Wake())

    async def _resume_submitted(self, state: StepState) -> None:
        step = self._workflow.step(state.id)
        try:
            request = step.render(self._outputs)
        except TemplateError as exc:
            await self._fail(state.id, str(exc), retry=False)
            return
        assert state.request_id is not None
        await self._commit(step, state.request_id, request, state.attempts, resuming=True)

    # -- asks --------------------------------------------------------------------------------

    @handler
    def get(self, msg: GetRun) -> RunView:
        return RunView.of(self._run)

    @handler
    async def refresh(self, msg: Refresh) -> RunView:
        await self._advance()
        return RunView.of(self._run)

    @handler
    async def cancel(self, msg: CancelRun) -> RunView | Refused:
        now = self.system.clock.wall_ms()
        change = functools.partial(cancel_run, reason=msg.reason, now_ms=now)
        try:
            result = await self._blocking(self._store.update, self._run_id, change)
        except StepTransitionError as exc:
            return Refused(str(exc), exc.http_status)
        self._manifest = result[0]
        self.stop()
        return RunView.of(self._run)

    @handler
    async def submit_now(self, msg: SubmitNow) -> RunView | Refused:
        try:
            state = self._run.step(msg.step)
        except FlowError as exc:
            return Refused(str(exc), exc.http_status)
        step = self._workflow.step(msg.step)
        blocked = [d for d in step.depends_on if self._run.step(d).status != "succeeded"]
        if state.status != "planned" or blocked or self._run.status in TERMINAL:
            why = f"waits for {', '.join(blocked)}" if blocked else f"is {state.status}"
            return Refused(
                f"step {msg.step!r} {why}; only a ready planned step can be submitted", 409
            )
        ready = self._plan(now_ms=max(self.system.clock.wall_ms(), state.retry_at_ms or 0))
        for action in ready.submit:
            if action.step == msg.step:
                await self._submit(action)
        for failed in ready.failed:
            if failed.step == msg.step:
                await self._fail(failed.step, failed.error, retry=False)
        self.ref.tell(_Wake())
        return RunView.of(self._run)

    # -- the loop -----------------------------------------------------------------------------

    @handler
    async def wake(self, msg: _Wake) -> None:
        self._timer_at_ms = None
        await self._advance()

    async def _advance(self) -> None:
        """Apply plans until nothing more can happen now; arm a timer for backoffs."""
        while True:
            if self._run.status in TERMINAL:
                self.stop()
                return
            plan = await self._blocking(self._plan, self.system.clock.wall_ms())
            for reuse in plan.reuse:
                await self._reuse(reuse)
            for failed in plan.failed:
                await self._fail(failed.step, failed.error, retry=False)
            for submit in plan.submit:
                await self._submit(submit)
            if self._manifest is None or self._run.cancelled:
                return
            if plan.finished:
                self.stop()
                return
            if not (plan.reuse or plan.failed or plan.submit):
                # Nothing to do until an answer arrives or a backoff ends.
                self._arm(plan.wake_at_ms)
                return

    def _plan(self, now_ms: int) -> SchedulePlan:
        return plan_steps(
            self._workflow,
            self._run,
            outputs=self._outputs,
            now_ms=now_ms,
            lookup=self._store.cached_output,
            max_in_flight=self._max_in_flight,
        )

    def _arm(self, at_ms: int | None) -> None:
        if at_ms is None or (self._timer_at_ms is not None and self._timer_at_ms <= at_ms):
            return
        if self._timer is not None:
            self._timer.cancel()
        delay_s = max(0.0, (at_ms - self.system.clock.wall_ms()) / 1000)
        self._timer = self.send_after(delay_s, self.ref, _Wake())
        self._timer_at_ms = at_ms

    # -- actions --------------------------------------------------------------------------------

    async def _submit(self, action: SubmitStep) -> None:
        now = self.system.clock.wall_ms()
        submitted = await self._update(
            lambda m: submit_step(
                m,
                action.step,
                fingerprint=action.fingerprint,
                request_id=action.request_id,
                now_ms=now,
            )
        )
        if not submitted:
            return
        step = self._workflow.step(action.step)
        await self._commit(step, action.request_id, action.request, action.attempt, resuming=False)

    async def _commit(
        self, step: ResolvedStep, request_id: str, request: Json, attempt: int, *, resuming: bool
    ) -> None:
        commit = Commit(
            kind=step.target,
            name=step.address,
            id=request_id,
            body=request,
            notify=self.ref,
            timeout_s=self._step_timeout_s,
        )
        result = await self._cortex.ask(commit)
        if isinstance(result, RequestCommitted):
            fingerprint = self._run.step(step.id).fingerprint or ""
            await self._trace(
                lambda seq, ts: records.RequestCommitted(
                    seq=seq,
                    ts_ms=ts,
                    step=step.id,
                    attempt=attempt,
                    request_id=request_id,
                    path=result.path,
                    fingerprint=fingerprint,
                )
            )
        elif resuming and result.cause == "conflict":
            # Committed before the restart: only watch for its answer.
            self._cortex.tell(
                Observe(step.target, step.address, request_id, self.ref, self._step_timeout_s)
            )
        else:
            await self._attempt_failed(step.id, request_id, "", f"commit failed: {result.reason}")

    async def _reuse(self, action: ReuseOutput) -> None:
        cached = action.cached
        value = await self._blocking(self._store.output, cached.run_id, cached.step)
        output = await self._blocking(self._store.write_output, self._run_id, action.step, value)
        now = self.system.clock.wall_ms()
        if await self._update(
            lambda m: succeed_step(
                m,
                action.step,
                output=output,
                now_ms=now,
                cached_from=f"{cached.run_id}/{cached.step}",
                fingerprint=action.fingerprint,
            )
        ):
            self._outputs[action.step] = value

    async def _fail(self, step_id: str, error: str, *, retry: bool) -> None:
        state = self._run.step(step_id)
        now = self.system.clock.wall_ms()
        at = None
        if retry and state.status == "submitted":
            at = retry_at_ms(
                self._workflow.step(step_id).retry, state.attempts, now, self.system.random
            )
        await self._update(lambda m: fail_step(m, step_id, error=error, now_ms=now, retry_at_ms=at))

    # -- answers from /ctx ----------------------------------------------------------------------

    @handler
    async def response(self, msg: ResponseObserved) -> None:
        step_id = self._waiting_step(msg.id)
        if step_id is None:
            return  # an answer to an older attempt, or to a cancelled step
        route = None if msg.route is None else msgspec.to_builtins(msg.route)
        path = self._answer_path(msg.kind, msg.name, msg.id, Suffix.RESPONSE)
        await self._trace(
            lambda seq, ts: records.ResponseObserved(
                seq=seq, ts_ms=ts, step=step_id, request_id=msg.id, path=path, route=route
            )
        )
        step = self._workflow.step(step_id)
        try:
            value = step_output(step, msg.body)
        except MalformedResponse as exc:
            # An answer that is not the step's output is an error like `<id>.error`.
            await self._attempt_failed(step_id, msg.id, path, str(exc))
        else:
            output = await self._blocking(self._store.write_output, self._run_id, step_id, value)
            now = self.system.clock.wall_ms()
            if not await self._update(
                lambda m: succeed_step(m, step_id, output=output, now_ms=now)
            ):
                return
            self._outputs[step_id] = value
            fingerprint = self._run.step(step_id).fingerprint
            if step.cache and fingerprint is not None:
                cached = CachedOutput(fingerprint, self._run_id, step_id, output)
                await self._blocking(self._store.remember_output, cached)
        await self._advance()

    @handler
    async def error(self, msg: ErrorObserved) -> None:
        await self._answer_failed(msg, Suffix.ERROR, f"{msg.error.kind}: {msg.error.message}")

    @handler
    async def timed_out(self, msg: ObserveTimedOut) -> None:
        await self._answer_failed(
            msg, Suffix.RESPONSE, f"timeout: no answer within {msg.timeout_s:g} s"
        )

    async def _answer_failed(
        self, msg: ErrorObserved | ObserveTimedOut, suffix: str, error: str
    ) -> None:
        step_id = self._waiting_step(msg.id)
        if step_id is None:
            return  # an answer to an older attempt, or to a cancelled step
        path = self._answer_path(msg.kind, msg.name, msg.id, suffix)
        await self._attempt_failed(step_id, msg.id, path, error)
        await self._advance()

    def _answer_path(self, kind: TargetKind, name: str, request_id: str, suffix: str) -> str:
        """The answer file: its full path when the layout is known (client notices carry
        no path), else the logical address `<kind>/<name>/<id><suffix>`."""
        if self._layout is None:
            return f"{kind}/{name}/{request_id}{suffix}"
        return str(CtxLayout.file(self._layout.outbox(kind, name), request_id, suffix))

    def _waiting_step(self, request_id: str) -> str | None:
        for state in self._run.steps:
            if state.status == "submitted" and state.request_id == request_id:
                return state.id
        return None

    # -- persistence ------------------------------------------------------------------------------

    async def _update(self, change: Callable[[RunManifest], tuple[RunManifest, E]]) -> bool:
        """Persist a transition; False (and the actor stops) when the run was cancelled
        outside this actor, e.g. by `lightflow run cancel` while the server runs."""
        try:
            result: tuple[RunManifest, E] = await self._blocking(
                self._store.update, self._run_id, change
            )
        except StepTransitionError:
            self._manifest = await self._blocking(self._store.manifest, self._run_id)
            if self._manifest.cancelled:
                self.stop()
                return False
            raise
        self._manifest = result[0]
        return True

    async def _trace(self, make: Callable[[int, int], records.TraceRecord]) -> None:
        record = make(self._trace_seq, self.system.clock.wall_ms())
        await self._blocking(self._store.append_trace, self._run_id, record)
        self._trace_seq += 1

    async def _attempt_failed(self, step_id: str, request_id: str, path: str, error: str) -> None:
        """An attempt ended without an output: trace `cortex.error.observed`, then fail the
        step with a retry (or for good when its attempts are used up)."""
        await self._trace(
            lambda seq, ts: records.ErrorObserved(
                seq=seq, ts_ms=ts, step=step_id, request_id=request_id, path=path, error=error
            )
        )
        await self._fail(step_id, error, retry=True)

    async def _blocking(self, fn: Callable[..., T], *args: object) -> T:
        return await self.run_blocking(functools.partial(fn, *args))

    @property
    def _run(self) -> RunManifest:
        assert self._manifest is not None, "used before on_start"
        return self._manifest

    @property
    def _workflow(self) -> ResolvedWorkflow:
        assert self._resolved is not None, "used before on_start"
        return self._resolved


def resumable_runs(store: RunStore) -> list[str]:
    """Runs still planned or running (to restart their actors when the server starts).

    A run whose manifest cannot be read (corrupt, unreadable, or removed meanwhile) is
    skipped with a warning: one bad folder must not keep every other run from resuming.
    """
    ids = []
    for run_id in store.list_ids():
        try:
            status = store.manifest(run_id).status
        except (CorruptRun, RunNotFound, OSError) as exc:
            logger.warning("run %r is not resumed: %s", run_id, exc)
            continue
        if status not in TERMINAL:
            ids.append(run_id)
    return ids
