"""The run actor: interprets one run's `RunProgram`, carrying out its I/O, resumably.

One `RunActor` per active run. Its mailbox messages are decoded into ISA instructions
and each goes through `isa.execute_or_reject`, the step `LiveSession` runs too:

| message | instruction |
|---|---|
| (start) | `Mount` from the manifest on disk (`ResumeRun`), then `Render`, then a wake |
| (start, `start_with=`) | the same, with that `Submit` right after the `Render` |
| `GetRun` | `Render` (the reply is the rendered `RunView`) |
| `Refresh`, the backoff timer | `Submit` of `Wake` (a `Refresh` is answered by a `Render`) |
| `SubmitNow` (`run submit`) | `Submit` of `StepRequest`, answered by a `Render` |
| `CancelRun` | `Shutdown(cancelled)` |
| CortexFS answers, errors, timeouts | `Submit` of `Answer`, `AnswerError`, `AnswerTimeout` |
| an instruction (a test, a wire) | itself |

The program's commands are carried out in the order given, which is the crash-safety
order, so that a `kill -9` at any point resumes from the run folder with nothing lost and
no step answered twice:

- submit: manifest `submitted` (with the request id) first, then commit to `/ctx`. On
  resume a submitted step is committed again under the same id; the CortexFS client
  refuses an id already committed (`CommitFailed` with cause `conflict`), and the program
  then only observes it, so an answer that arrived while it was down is picked up. With
  a group-committing store the `submitted` is queued, not waited for (pipelined, ADR
  0117): it is journaled ahead of anything later, and a crash that took it back makes
  the resumed run submit the same attempt, whose `conflict` is observed the same way.
- success: output file, then manifest `succeeded`, then the cache index.
- failure: manifest back to `planned` with `retry_at_ms` (exponential backoff, jitter from
  the seed the Mount carries) or `failed` when attempts are used up.

A command whose outcome the program needs (a commit, a cache lookup) gives back a `Submit`,
interpreted after the commands of the instruction that asked for it, in order. When the
program says the run settled, the actor sends it `ending()` and stops (an orderly exit,
`isa.exit_reason_of`). A `tracer` records every instruction with its effects, stamped
with the time the program was given, so the trace replays through `PureInterpreter`.

Refusals and crashes (ADR 0003): an ask the run declines (`SubmitNow` of a step that is
not ready, `CancelRun` of a run that ended) is answered by raising the typed refusal the
program's `Replied(ref, Refusal)` names, and the actor goes on. Anything raised while
interpreting (the program, or a command such as a transition the manifest on disk
refuses) is a broken invariant, whatever message brought it: `RunInvariantBroken`, a
crash, never a refusal the kernel would answer or, for a notice, drop.

File I/O runs off the loop (`run_blocking`); under the deterministic scheduler use
`Scenario(allow_threads=True)`. Run it under a `DynamicSupervisor` with restart
`transient`: a crash (e.g. a full disk, a broken invariant) restarts it, and `on_start`
resumes from the manifest.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import msgspec

from lightflow_actors.cortex import (
    Commit,
    CtxLayout,
    ErrorObserved,
    JournaledFile,
    Observe,
    ObserveTimedOut,
    RequestCommitted,
    ResponseObserved,
    Suffix,
    TargetKind,
)
from lightflow_actors.isa import (
    Effect,
    Instruction,
    JSONValue,
    Mount,
    Patch,
    Phase,
    Rejected,
    Render,
    Rendered,
    Replied,
    Shutdown,
    Submit,
    Subscribe,
    Tracer,
    execute_or_reject,
    exit_reason_of,
    from_json_value,
)
from lightflow_actors.kernel import Actor, ActorRef, Ask, ExitReason, Refused, Timer, handler
from lightflow_actors.tenants import DEFAULT_TENANT, StepTurns

from ._errors import (
    Conflict,
    CorruptRun,
    RunFenced,
    RunInvariantBroken,
    RunNotFound,
    StepTransitionError,
)
from ._manifest import TERMINAL, RunManifest
from ._records import RunCancelled
from ._resolved import ResolvedWorkflow
from ._run_commands import (
    CancelTransition,
    CommitRequest,
    Create,
    LookUpCache,
    ObserveAnswer,
    Record,
    RememberOutput,
    RunCommand,
    TraceExchange,
    Transition,
    WakeAt,
    WriteOutput,
    apply_transition,
)
from ._run_inputs import (
    Answer,
    AnswerError,
    AnswerTimeout,
    CacheAnswer,
    CacheEntry,
    CommitRefused,
    Committed,
    ResumeRun,
    RunInput,
    StepRequest,
    Wake,
    json_form,
    run_mount,
)
from ._run_program import Refusal, RunProgram
from ._service import RunView
from ._store import (
    AppendTrace,
    CommitResult,
    IndexOutput,
    PutCopies,
    PutOutput,
    RunRequest,
    RunStore,
    StoreOp,
    UpdateManifest,
)


class _WriteFiles(msgspec.Struct, frozen=True):
    """A journaled exchange's CortexFS files (ADR 0122), written with the run's commit."""

    files: tuple[JournaledFile, ...]


StoreWrite = Record | WriteOutput | RememberOutput | TraceExchange | _WriteFiles
"""The commands that only write to the run's store (batched into one blocking call)."""
_STORE_WRITES = (Record, WriteOutput, RememberOutput, TraceExchange, _WriteFiles)
_NO_FLUSH = (LookUpCache, WakeAt)
"""Commands carried out without first committing the buffered writes: a timer and a read
of the output cache act on nothing another process sees (the cache read also looks at the
buffered `RememberOutput`s, so a step finds the output an earlier step of its run cached)."""

WAITING_FOR_STEPS = "waiting for its tenant's steps budget (steps_per_s, specs/tenants.md §4)"
"""The run actor's `remark` while it waits for a step's turn (ADR 0134)."""

TRACE_FLUSH_S = 0.2
"""How long trace records alone may wait for the run's next commit before being written."""

__all__ = [
    "DEFAULT_STEP_TIMEOUT_S",
    "CancelRun",
    "GetRun",
    "Refresh",
    "RunActor",
    "RunMessage",
    "SubmitNow",
    "resumable_runs",
]

logger = logging.getLogger("lightflow_actors.flow")

T = TypeVar("T")

DEFAULT_STEP_TIMEOUT_S = 600.0


class GetRun(Ask[RunView], frozen=True):
    """The run as the actor sees it now."""


class CancelRun(Ask[RunView], frozen=True):
    """Cancel the run (refused with `Conflict` when it already ended); the actor then
    stops."""

    reason: str = "cancelled by request"


class SubmitNow(Ask[RunView], frozen=True):
    """Submit planned `step` now, without waiting for its retry backoff (refused with
    `Conflict` when it is not planned or its dependencies have not all succeeded, with
    `NotFound` when the workflow has no such step); with `body`, that JSON object is the
    request committed (not the one the step's templates render)."""

    step: str
    body: dict[str, JSONValue] | None = None


class Refresh(Ask[RunView], frozen=True):
    """Re-plan now (e.g. after outputs were repaired by hand) and return the run."""


class _Wake(msgspec.Struct, frozen=True):
    pass


class _FlushTrace(msgspec.Struct, frozen=True):
    pass


class _Durable(msgspec.Struct, frozen=True):
    """A pipelined commit failed or was refused: look at it now (`_drain`)."""


RunMessage = (
    GetRun
    | CancelRun
    | SubmitNow
    | Refresh
    | _Wake
    | _FlushTrace
    | _Durable
    | ResponseObserved
    | ErrorObserved
    | ObserveTimedOut
    | Mount
    | Render
    | Patch
    | Subscribe
    | Submit
    | Shutdown
)


class _RunEnded(Exception):
    """The store refused a transition because the run ended outside this actor (a
    `run cancel` from another process), or refused this actor's own cancel."""

    def __init__(self, error: StepTransitionError, manifest: RunManifest) -> None:
        super().__init__(str(error))
        self.error = error
        self.manifest = manifest


class RunActor(Actor[RunMessage]):
    """Drive run `run_id` (already created in `store`) to completion.

    ::

        cortex = system.spawn(lambda: CortexClient(CtxLayout.from_env()))
        run = await system.start_actor(lambda: RunActor(store, "tea-1", cortex))
        view = await run.ask(GetRun())

    `resume=False` mounts nothing at start: the run waits for a `Mount` instruction (a
    test, or a wire, drives it); `workflow` then names the workflow when the run folder
    does not exist yet (a `Mount` of `StartRun` creates it).

    `start_with`: an input the run gets right after the first accepted Mount and its
    Render, before the wake the Mount arms, so nothing is planned before it: a `Retry`
    (`run retry`: a failed run, remounted from its manifest, goes on from its failure
    frontier) or a `StepRequest` with a body (`run submit` with a body to a run nobody
    drives: the step must not be submitted with its rendered request first). Refused,
    `on_start` raises the refusal, so whoever started the actor for it gets it
    (`StartFailed` with the refusal as reason) and nothing was written.
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
        tracer: Tracer | None = None,
        workflow: ResolvedWorkflow | None = None,
        resume: bool = True,
        start_with: Submit | None = None,
        pipeline: bool = True,
        fresh: RunManifest | None = None,
        turns: StepTurns | None = None,
    ) -> None:
        self._store = store
        # Where the run's steps take their turn within their tenant's `steps` budget
        # (ADR 0134); None: steps go at once.
        self._turns = turns
        # A run this process created a moment ago (`fresh`, its manifest as written, with
        # `workflow`): its start reads nothing back (ADR 0132). Used once: a restarted
        # actor resumes from the folder like any other.
        assert fresh is None or workflow is not None, "a fresh run needs its workflow"
        self._fresh = fresh
        # Pipelined commits (ADR 0117): with a group-committing store, the writes flushed
        # before a request commit are queued, and the commit goes on while their group is
        # made durable; anything acknowledged waits for them (`_drain`).
        self._pipeline = pipeline and store.group_commit
        self._inflight: deque[tuple[asyncio.Future[CommitResult], list[StoreWrite]]] = deque()
        self._run_id = run_id
        self._cortex = cortex
        self._step_timeout_s = step_timeout_s
        self._max_in_flight = max_in_flight
        self._layout = layout
        # The journaled exchange (ADR 0122): a step's request to a target served on this
        # process's loop goes out with no file; its files come back with the answer and
        # are written with the run's next commit (in its journal frame, with group
        # commit). Only when the tree is under the store's root (a journal op's path is).
        self._journal = layout is not None and Path(layout.root).is_relative_to(store.root)
        self.tracer = tracer
        self._workflow = workflow
        self._resume = resume
        self._program: RunProgram | None = None
        self.phase: Phase = "disconnected"
        # The time given to the instruction being interpreted (the program's clock).
        self._now = 0
        # The last run view rendered (an ask is answered with it when its own Render
        # could not run because the run closed meanwhile).
        self._last_view: RunView | None = None
        # Set when the store refused this actor's own cancel: the canceller's answer.
        self._cancel_refused: StepTransitionError | None = None
        self._closing: Shutdown | None = None
        self._timer: Timer | None = None
        self._timer_at_ms: int | None = None
        # The input to submit after the first accepted Mount (then None), and the
        # refusal it got, if any (raised by `on_start`).
        self._start_with = start_with
        self._start_refused: Refused | None = None
        # Store writes of the program not yet committed (`_flush`), in order, and the
        # timer that writes trace records left alone (`_flush_settled`).
        self._buffered: list[StoreWrite] = []
        self._trace_timer: Timer | None = None
        self._doing: Instruction = Render()  # what `_guarded` names in a crash

    # -- start and resume -------------------------------------------------------------------

    async def on_start(self) -> None:
        workflow = self._workflow
        if not self._resume:
            if workflow is None:
                workflow = await self._blocking(self._store.resolved, self._run_id)
            self._program = RunProgram(workflow, max_in_flight=self._max_in_flight)
            return
        # What resuming reads (the workflow, the manifest made to agree with its journal,
        # the outputs of succeeded steps, the next trace seq) in one worker-thread call:
        # each hand-off is a wait on a busy machine, and a new run's start is on the
        # path of its first step.
        outputs: dict[str, JSONValue]
        if self._fresh is not None and workflow is not None:
            # Nothing to recover or read: no step ran, its trace is empty, and its
            # journal holds nothing after the creation this store just applied.
            resolved, manifest, outputs, trace_seq = workflow, self._fresh, {}, 1
            self._fresh = None
        else:
            resolved, manifest, outputs, trace_seq = await self._blocking(self._read_for_resume)
        self._program = RunProgram(resolved, max_in_flight=self._max_in_flight)
        # Who the run works for (ADR 0104): shown on the actor to operators, written
        # beside each request so the substrate queues and budgets it as that tenant's.
        self.tenant = manifest.tenant if isinstance(manifest.tenant, str) else DEFAULT_TENANT
        params = ResumeRun(
            manifest=manifest,
            outputs=outputs,
            trace_seq=trace_seq,
            seed=self.system.random.getrandbits(32),
        )
        await self._execute(run_mount(self._run_id, resolved.workflow, params))
        if self._start_refused is not None:
            refused, self._start_refused = self._start_refused, None
            raise refused  # the start fails: nothing was written, the run is as it was

    def _read_for_resume(
        self,
    ) -> tuple[ResolvedWorkflow, RunManifest, dict[str, JSONValue], int]:
        store, run_id = self._store, self._run_id
        workflow = self._workflow or store.resolved(run_id)
        manifest = store.recover(run_id)
        outputs = {
            state.id: store.output(run_id, state.id)
            for state in manifest.steps
            if state.status == "succeeded"
        }
        return workflow, manifest, outputs, store.next_trace_seq(run_id)

    def on_stop(self, reason: ExitReason) -> None:
        # Writes still buffered when the actor stops: trace records waiting for the run's
        # next commit (`_flush_settled`) when the server shuts down, or, after a crash in
        # the middle of an instruction, the transitions decided before it (which the
        # flush per step used to have written already). Written here, on the loop, since
        # a stopping actor awaits nothing more.
        if self._buffered:
            writes, self._buffered = self._buffered, []
            try:
                self._write_in_order(writes)
            except OSError as exc:
                logger.warning("run %r: trace records not written at stop: %s", self._run_id, exc)

    # -- asks --------------------------------------------------------------------------------

    @handler
    async def get(self, msg: GetRun) -> RunView:
        view = await self._render()
        return await self._durable_view(view)

    @handler
    async def refresh(self, msg: Refresh) -> RunView:
        await self._execute(self._wake_input())
        view = await self._render()
        await self._settle()
        return await self._durable_view(view)

    @handler
    async def cancel(self, msg: CancelRun) -> RunView:
        effects = await self._execute(Shutdown(reason="cancelled", detail=msg.reason))
        refused: Refused | None = self._cancel_refused or _refusal_in(effects)
        self._cancel_refused = None
        if refused is not None:
            raise refused
        return await self._durable_view(self._view())

    async def _durable_view(self, view: RunView) -> RunView:
        """`view`, once every write it shows is durable: an ask is answered with nothing
        a crash could take back (ADR 0117). A pipelined commit found refused meanwhile
        (the run ended outside this actor) closes the run; the view is then the last
        one rendered."""
        if not self._inflight:
            return view
        await self._guarded(self._drain)
        return self._last_view if self.phase == "closed" and self._last_view else view

    @handler
    async def submit_now(self, msg: SubmitNow) -> RunView:
        payload = json_form(StepRequest(body=msg.body))
        request = Submit(event=msg.step, payload=payload, ref="submit")
        refused = _refusal_in(await self._execute(request))
        if refused is not None:
            raise refused
        view = await self._render()
        await self._settle()
        return await self._durable_view(view)

    # -- the loop -----------------------------------------------------------------------------

    @handler
    async def wake(self, msg: _Wake) -> None:
        self._timer_at_ms = None
        await self._execute(self._wake_input())
        await self._settle()

    @handler
    async def instruction(
        self, msg: Mount | Render | Patch | Subscribe | Submit | Shutdown
    ) -> None:
        await self._execute(msg)
        await self._settle()

    # -- answers from /ctx ----------------------------------------------------------------------

    @handler
    async def response(self, msg: ResponseObserved) -> None:
        self._journal_files(msg.files)
        try:
            body: str | None = msg.body.decode()
        except UnicodeDecodeError:
            body = None
        route = None if msg.route is None else msgspec.to_builtins(msg.route)
        path = self._answer_path(msg.kind, msg.name, msg.id, Suffix.RESPONSE)
        await self._answer(msg.id, Answer(request_id=msg.id, path=path, body=body, route=route))

    @handler
    async def error(self, msg: ErrorObserved) -> None:
        self._journal_files(msg.files)
        path = self._answer_path(msg.kind, msg.name, msg.id, Suffix.ERROR)
        error = f"{msg.error.kind}: {msg.error.message}"
        await self._answer(msg.id, AnswerError(request_id=msg.id, path=path, error=error))

    @handler
    async def timed_out(self, msg: ObserveTimedOut) -> None:
        path = self._answer_path(msg.kind, msg.name, msg.id, Suffix.RESPONSE)
        await self._answer(
            msg.id, AnswerTimeout(request_id=msg.id, path=path, timeout_s=msg.timeout_s)
        )

    def _journal_files(self, files: tuple[JournaledFile, ...]) -> None:
        """A journaled exchange's files: buffered ahead of what its answer makes the run
        write, so they are in the same commit as the step's outcome, or an earlier one."""
        if files:
            self._buffered.append(_WriteFiles(files))

    async def _answer(self, request_id: str, answer: Answer | AnswerError | AnswerTimeout) -> None:
        step = self.program.waiting_step(request_id)
        if step is None:
            # An answer to an older attempt, or to a cancelled step: its files, if it
            # brought any, are still written (they are the ABI's record of the exchange).
            await self._guarded(self._flush_settled)
            return
        await self._execute(_input(step, answer))
        await self._settle()

    def _answer_path(self, kind: TargetKind, name: str, request_id: str, suffix: str) -> str:
        """The answer file: its full path when the layout is known (client notices carry
        no path), else the logical address `<kind>/<name>/<id><suffix>`."""
        if self._layout is None:
            return f"{kind}/{name}/{request_id}{suffix}"
        return str(CtxLayout.file(self._layout.outbox(kind, name), request_id, suffix))

    # -- interpreting ---------------------------------------------------------------------------

    async def _execute(self, instruction: Instruction) -> list[Effect]:
        """Interpret `instruction`, carry out its commands, then interpret the inputs those
        commands gave back (in order, each with its commands) until none is left; stop
        once closed. Returns the effects of `instruction` itself.

        A refusal is an effect (`Replied`, `Rejected`), never an exception: one raised in
        here (a `StepTransitionError` from the store, a `FlowError` from the program) is
        a broken invariant and crashes the actor as `RunInvariantBroken`, whether an ask
        or a notice (an answer, a timer, a commit's outcome) is being handled."""
        pending: deque[Instruction] = deque()
        self._doing = instruction

        async def interpret() -> list[Effect]:
            effects = await self._step(instruction, pending)
            while pending:
                self._doing = pending.popleft()
                await self._step(self._doing, pending)
            await self._flush_settled()
            return effects

        return await self._guarded(interpret)

    async def _guarded(self, work: Callable[[], Awaitable[list[Effect] | None]]) -> list[Effect]:
        """Do `work` (interpreting, or waiting for pipelined commits), turning what it
        raises into what it means for the run: the run ended outside this actor, another
        node owns it, or a broken invariant (`RunInvariantBroken`, a crash)."""
        try:
            effects = await work() or []
        except _RunEnded as ended:
            effects = await self._ended_outside(ended)
        except RunFenced as fenced:
            # Another node owns the run now: nothing more is made visible from here.
            logger.warning("%s; this actor stops", fenced)
            self.stop(("shutdown", "fenced"))
            return []
        except Refused as error:
            raise RunInvariantBroken(self._run_id, _doing(self._doing), error) from error
        if self._closing is not None:
            self.stop(exit_reason_of(self._closing.reason))
        return effects

    async def _step(self, instruction: Instruction, pending: deque[Instruction]) -> list[Effect]:
        program = self.program
        self._now = program.now_ms = self.system.clock.wall_ms()
        self.phase, effects, accepted = execute_or_reject(program, self.phase, instruction)
        commands = program.take_commands()
        if self.tracer is not None:
            self.tracer.record(instruction, effects, at_ms=self._now)
        if accepted and isinstance(instruction, Mount):
            # A mounted run renders at once, so it is live for the inputs that follow
            # (`start_with`, then the outcomes of its resumed commits), then wakes to
            # start its steps.
            if self._start_with is not None:
                pending.appendleft(self._start_with)
            pending.appendleft(Render())
            self.ref.tell(_Wake())
        if instruction is self._start_with:
            self._start_with = None
            self._start_refused = _refusal_in(effects)
        if accepted and isinstance(instruction, Shutdown):
            self._closing = instruction
        for command in commands:
            # Store writes wait in `_buffered` and go to the worker together, in order,
            # as one commit (one journal fsync with group commit): a step's output, its
            # `succeeded`, the next step's `submitted` and their trace records cost one
            # thread round trip and one fsync, not four. They are flushed before any
            # command that acts on the world (a commit must find the step `submitted` on
            # disk); a cache look-up or a timer does not need them.
            if isinstance(command, _STORE_WRITES):
                self._buffered.append(command)
                continue
            if self._turns is not None:
                await self._take_turn(command)
            if not isinstance(command, _NO_FLUSH):
                # A request's commit goes on while the writes before it are made durable
                # (ADR 0117): its `submitted` is queued ahead of anything written later.
                await self._flush(durable=not isinstance(command, CommitRequest))
            follow = await self._carry_out(command)
            if follow is not None:
                pending.append(follow)
        for effect in effects:
            if isinstance(effect, Rendered):
                self._last_view = from_json_value(effect.view, RunView)
        # Patched needs no delivery: Record wrote the event to events.jsonl, which is the
        # stream every watcher (NDJSON, SSE, LFRS) tails. Subscribed likewise.
        return effects

    async def _ended_outside(self, ended: _RunEnded) -> list[Effect]:
        """The store refused a transition: the run ended outside this actor. Tell the
        program (Patch with the event on disk) and close; a refused cancel is answered."""
        self._cancel_refused = ended.error
        if self.phase == "closed":
            return []  # this actor's own cancel: it closes as it was told
        last = ended.manifest.last_event
        if self.phase == "live" and isinstance(last, RunCancelled):
            await self._execute(Patch(diff=json_form(last)))
        detail = f"run {self._run_id!r} is {ended.manifest.status} outside this actor"
        return await self._execute(Shutdown(reason="normal", detail=detail))

    async def _settle(self) -> None:
        """Close a run that can make no more progress."""
        if self.phase in ("mounted", "live") and self.program.settled:
            await self._execute(self.program.ending())

    async def _render(self) -> RunView:
        await self._execute(Render())
        return self._view()

    def _wake_input(self) -> Submit:
        return _input(self._run_id, Wake())

    def _view(self) -> RunView:
        """The run as last rendered (by the ask's own Render, or by the closing Shutdown
        when the run ended under it)."""
        if self._last_view is None:
            raise Conflict(f"run {self._run_id!r} is not mounted; send Mount first")
        return self._last_view

    # -- step turns (ADR 0134) --------------------------------------------------------------

    async def _take_turn(self, command: RunCommand) -> None:
        """Before dispatching steps (a cache look-up of each, or the commit of a step whose
        cache is off), take their turn in the tenant's `steps` budget. While the run
        waits, what it buffered is on its way to disk (queued for the next group commit),
        and operators see it in the actor's `remark`."""
        assert self._turns is not None
        cost = self._step_cost(command)
        if not cost:
            return
        waiting = self._turns.turn(self.tenant or DEFAULT_TENANT, cost, self._run_id)
        if waiting is None:
            return
        await self._flush(durable=False)
        self.remark = WAITING_FOR_STEPS
        try:
            await waiting
        finally:
            self.remark = None

    def _step_cost(self, command: RunCommand) -> int:
        """Steps `command` dispatches: one per fingerprint a look-up asks for; one for a
        commit of a step whose cache is off (a cached step counted at its look-up; a
        commit resumed after a restart is not counted again)."""
        match command:
            case LookUpCache(fingerprints=fingerprints):
                return len(fingerprints)
            case CommitRequest(step=step, resuming=False):
                return 0 if self.program.workflow.step(step).cache else 1
        return 0

    # -- commands --------------------------------------------------------------------------------

    async def _carry_out(self, command: RunCommand) -> Instruction | None:
        """Do what `command` says; the input it gives back, if any. (Store writes go
        through `_flush`, batched.)"""
        store, run_id = self._store, self._run_id
        match command:
            case CommitRequest():
                return await self._commit(command)
            case ObserveAnswer(target=target, address=address, request_id=request_id):
                notify = self.ref
                self._cortex.tell(
                    Observe(target, address, request_id, notify, self._step_timeout_s)
                )
            case LookUpCache(fingerprints=fingerprints):
                buffered = self._buffered_outputs()
                if any(f in buffered or store.may_have_cached(f) for f in fingerprints):
                    entries = await self._blocking(self._look_up, fingerprints, buffered)
                else:
                    # All misses, known from a stat each: no worker thread on the step's
                    # way (ADR 0117), as the client reads answer files on the loop.
                    entries = tuple(CacheEntry(fingerprint=f) for f in fingerprints)
                return _input(run_id, CacheAnswer(entries=entries))
            case WakeAt(at_ms=at_ms):
                self._arm(at_ms)
            case Create(manifest=manifest):
                workflow = self.program.workflow
                request = RunRequest(
                    run_id=run_id,
                    workflow=workflow.workflow,
                    inputs=workflow.inputs,
                    created_at_ms=manifest.created_at_ms,
                    preset=workflow.preset,
                )
                await self._blocking(store.create, request, workflow, manifest)
        return None

    async def _flush_settled(self) -> None:
        """At the end of an instruction and its inputs: commit what is buffered, unless it
        is only trace records (a commit's `cortex.request.committed`), which then ride
        with the run's next commit (a step's answer, usually milliseconds later) or are
        written by the `_FlushTrace` timer within `TRACE_FLUSH_S`. A closing run writes
        everything now."""
        buffered = self._buffered
        if not buffered:
            if self._closing is not None:
                await self._drain()  # the run ends only once all it wrote is durable
            return
        if self._closing is None and all(isinstance(w, TraceExchange) for w in buffered):
            if self._trace_timer is None:
                self._trace_timer = self.send_after(TRACE_FLUSH_S, self.ref, _FlushTrace())
            return
        await self._flush()

    @handler
    async def flush_trace(self, msg: _FlushTrace) -> None:
        self._trace_timer = None
        await self._flush()  # trace records only: never a refused transition

    async def _flush(self, *, durable: bool = True) -> None:
        """Carry out the buffered store writes in one blocking call, in order, stopping at
        the first refused transition. Refused because the run was cancelled outside this
        actor (`lightflow run cancel` while the server runs), or refusing this actor's own
        cancel: `_RunEnded`. Any other refusal propagates, and `_execute` makes it the
        crash it is (`RunInvariantBroken`).

        Pipelined (`durable=False`, a group-committing store, ADR 0117): the writes are
        queued for the next group and this returns at once; a worker thread waits for
        their group, and whatever is acknowledged later (an ask's answer, the run's end,
        any durable flush) first waits for every queued write (`_drain`)."""
        if not self._buffered:
            if durable:
                await self._drain()
            return
        writes, self._buffered = self._buffered, []
        if self._trace_timer is not None:
            self._trace_timer.cancel()
            self._trace_timer = None
        if self._pipeline:
            queued = self._store.enqueue(self._run_id, self._ops(writes))
            assert queued is not None  # `_pipeline` is only set for a group-committing store
            # Completed by the store's committer threads; without them, a worker waits.
            task = queued.future(self.system.loop) or self.system.loop.create_task(
                self._blocking(queued.wait)
            )
            task.add_done_callback(self._queued_done)
            self._inflight.append((task, writes))
            # A durable flush (the run's last writes, an ask's) queues its writes too and
            # waits for them with the ones before: staged while those sync, in the same
            # order, with no worker thread leading a group of its own (ADR 0132).
            await self._drain(only_done=not durable)
            return
        await self._drain()
        refused = await self._blocking(self._write_in_order, writes)
        await self.written()
        if refused is not None:
            await self._refused(*refused)

    def _queued_done(self, task: asyncio.Future[CommitResult]) -> None:
        """A pipelined commit ended: if it failed or was refused, the actor looks now,
        not at its next flush (which might not come)."""
        if task.cancelled():
            return
        if task.exception() is not None or task.result().refused is not None:
            self.ref.tell(_Durable())

    @handler
    async def durable(self, msg: _Durable) -> None:
        await self._guarded(self._drain)

    async def _drain(self, *, only_done: bool = False) -> None:
        """Wait for the pipelined commits, oldest first (with `only_done`, only look at
        those already done), and act on a refusal or an error as a blocking flush would."""
        while self._inflight:
            task, writes = self._inflight[0]
            if only_done and not task.done():
                return
            try:
                result = await asyncio.shield(task)
            finally:
                if task.done():
                    self._inflight.popleft()
            await self.written()
            refused = self._refusal(writes, result)
            if refused is not None:
                self._abandon_inflight()
                await self._refused(*refused)

    def _abandon_inflight(self) -> None:
        """After a refused pipelined commit, the later ones stop at the same refusal
        (the run ended): nothing to wait for."""
        self._inflight.clear()

    # -- hooks of a hosted run (a cluster copies the run and fences it) ----------------------

    async def written(self) -> None:
        """The run's store took a batch of writes. A clustered host copies the run where
        another node can read it (raising `RunFenced` when another node owns it now);
        here, nothing."""

    async def committing(self, request_id: str) -> None:
        """A step's request is about to be committed (a provider will be called). A
        clustered host confirms its lease first (`RunFenced` when it was taken over);
        here, nothing."""

    def _write_in_order(
        self, writes: Sequence[StoreWrite]
    ) -> tuple[StepTransitionError, Transition] | None:
        # One commit: with group commit, one journal fsync for all of them.
        return self._refusal(writes, self._store.commit(self._run_id, self._ops(writes)))

    @staticmethod
    def _ops(writes: Sequence[StoreWrite]) -> list[StoreOp]:
        ops: list[StoreOp] = []
        for write in writes:
            match write:
                case Record(transition=transition):
                    ops.append(
                        UpdateManifest(functools.partial(apply_transition, transition=transition))
                    )
                case WriteOutput(step=step, value=value):
                    ops.append(PutOutput(step, value))
                case RememberOutput(cached=cached):
                    ops.append(IndexOutput(cached))
                case TraceExchange(record=record):
                    ops.append(AppendTrace(record))
                case _WriteFiles(files=files):
                    ops.append(PutCopies(tuple((f.path, f.data) for f in files)))
        return ops

    @staticmethod
    def _refusal(
        writes: Sequence[StoreWrite], result: CommitResult
    ) -> tuple[StepTransitionError, Transition] | None:
        if result.refused is None or result.refused_at is None:
            return None
        refused = writes[result.refused_at]
        assert isinstance(refused, Record)
        return result.refused, refused.transition

    async def _refused(self, error: StepTransitionError, transition: Transition) -> None:
        manifest = await self._blocking(self._store.manifest, self._run_id)
        if manifest.cancelled or isinstance(transition, CancelTransition):
            raise _RunEnded(error, manifest) from None
        raise error

    async def _commit(self, command: CommitRequest) -> Submit:
        await self.committing(command.request_id)
        commit = Commit(
            kind=command.target,
            name=command.address,
            id=command.request_id,
            body=command.body,
            notify=self.ref,
            timeout_s=self._step_timeout_s,
            at_most_once=command.at_most_once,
            tenant=self.tenant if self.tenant != DEFAULT_TENANT else None,
            journal=self._journal,
            resuming=command.resuming,
        )
        result = await self._cortex.ask(commit)
        outcome: Committed | CommitRefused
        if isinstance(result, RequestCommitted):
            outcome = Committed(request_id=result.id, path=result.path)
        else:
            outcome = CommitRefused(request_id=result.id, cause=result.cause, reason=result.reason)
        return _input(command.step, outcome)

    def _buffered_outputs(self) -> dict[str, CacheEntry]:
        """Outputs this run cached whose writes are still buffered, by fingerprint."""
        pending = [w for _, writes in self._inflight for w in writes] + self._buffered
        values = {w.step: w.value for w in pending if isinstance(w, WriteOutput)}
        return {
            w.cached.fingerprint: CacheEntry(
                fingerprint=w.cached.fingerprint, cached=w.cached, value=values[w.cached.step]
            )
            for w in pending
            if isinstance(w, RememberOutput) and w.cached.step in values
        }

    def _look_up(
        self, fingerprints: tuple[str, ...], buffered: dict[str, CacheEntry]
    ) -> tuple[CacheEntry, ...]:
        entries = []
        for fingerprint in fingerprints:
            if fingerprint in buffered:
                entries.append(buffered[fingerprint])
                continue
            cached = self._store.cached_output(fingerprint)
            value = None if cached is None else self._store.output(cached.run_id, cached.step)
            entries.append(CacheEntry(fingerprint=fingerprint, cached=cached, value=value))
        return tuple(entries)

    def _arm(self, at_ms: int) -> None:
        if self._timer_at_ms is not None and self._timer_at_ms <= at_ms:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay_s = max(0.0, (at_ms - self.system.clock.wall_ms()) / 1000)
        self._timer = self.send_after(delay_s, self.ref, _Wake())
        self._timer_at_ms = at_ms

    async def _blocking(self, fn: Callable[..., T], *args: object) -> T:
        return await self.run_blocking(functools.partial(fn, *args))

    @property
    def program(self) -> RunProgram:
        """The run's program (built in `on_start`, from the run's resolved workflow)."""
        assert self._program is not None, "used before on_start"
        return self._program


def _doing(instruction: Instruction) -> str:
    """An instruction as an error message names it."""
    if isinstance(instruction, Submit):
        return f"Submit for {instruction.event!r}"
    return type(instruction).__name__


def _input(event: str, payload: RunInput) -> Submit:
    return Submit(event=event, payload=json_form(payload))


def _refusal_in(effects: list[Effect]) -> Refused | None:
    """The typed refusal among an instruction's effects: the program's (`Replied` with a
    `Refusal`), or the lifecycle's (`Rejected`: the run is not in a phase that takes the
    request, a `Conflict`)."""
    for effect in effects:
        if isinstance(effect, Replied):
            return from_json_value(effect.payload, Refusal).as_error()
        if isinstance(effect, Rejected):
            return Conflict(effect.message)
    return None


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
