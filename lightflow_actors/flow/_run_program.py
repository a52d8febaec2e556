"""`RunProgram`: a workflow run as an ISA program (Mount, Render, Patch, Subscribe, Submit,
Shutdown), pure: no I/O, no clock, no randomness of its own.

State is the manifest, the outputs of succeeded steps and what the scheduler is waiting
for; `plan_steps` decides, the `_manifest` transitions change the manifest. The run actor
interprets it through `isa.execute_or_reject`, the pure interpreter runs it in tests, a
trace replays it. What each instruction means for a run (specs/isa.md):

- Mount: start a run (`StartRun`) or resume one from its manifest (`ResumeRun`); a
  resumed step that was submitted is committed again under the same request id.
- Render: the run view (`RunView`, the manifest with its status) as `Rendered`.
- Patch: a run event that happened outside this interpreter (a `run.cancelled` written
  by the CLI) is adopted and passed on to the watchers.
- Subscribe: a watcher joins (leaves) the run's event stream.
- Submit: input arrives (`RunInput`): a step request from `run submit` (with an explicit
  body or not), a retry of a failed run (`run retry`: the run remounted from its failed
  manifest goes on from its failure frontier), a wake, the outcome of a commit or of a
  cache lookup, an answer, an error, a timeout.
- Shutdown: `cancelled` cancels the run (unless it already ended); any other reason
  stops interpreting and leaves the manifest as it is (finished, failed, or resumable).

Effects are what watchers and askers see: each manifest transition is a `Patched` whose
diff is the event (the same line `events.jsonl` and the NDJSON/SSE/LFRS streams carry);
a refusal is `Replied(ref, Refusal)`, its reason one of the kernel's `RefusalReason`s
(never a status: the edges map reasons). The I/O is in `commands` (`_run_commands.py`).
The host sets `now_ms` before each instruction: that is the program's only clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import msgspec

from lightflow_actors.isa import (
    Effect,
    JSONValue,
    Mount,
    Patch,
    Patched,
    PayloadError,
    Render,
    Rendered,
    Replied,
    Shutdown,
    ShutdownReason,
    Submit,
    Subscribe,
    Subscribed,
    Unsubscribed,
    from_json_value,
)
from lightflow_actors.kernel import RefusalReason, Refused

from . import _records as records
from ._errors import (
    Conflict,
    FlowError,
    Invalid,
    MalformedResponse,
    NotFound,
    StepNotFound,
    StepTransitionError,
)
from ._manifest import (
    TERMINAL,
    RunManifest,
    StepState,
    check_submittable,
    new_manifest,
    retry_refusal,
)
from ._outputs import step_output
from ._records import RunCancelled, RunEvent
from ._resolved import ResolvedStep, ResolvedWorkflow
from ._run_commands import (
    CancelTransition,
    CommitRequest,
    Create,
    FailTransition,
    LookUpCache,
    ObserveAnswer,
    Record,
    RememberOutput,
    RetryTransition,
    RunCommand,
    SubmitTransition,
    SucceedTransition,
    TraceExchange,
    Transition,
    WakeAt,
    WriteOutput,
    apply_transition,
    output_path,
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
    Retry,
    RunInput,
    RunMountParams,
    StartRun,
    StepRequest,
    Wake,
    json_form,
)
from ._scheduler import (
    ReuseOutput,
    SchedulePlan,
    SubmitStep,
    plan_steps,
    request_id_for,
    retry_at_ms,
)
from ._service import RunView
from ._store import CachedOutput

__all__ = ["Refusal", "RunProgram"]

_MakeTrace = Callable[[int], records.TraceRecord]


class Refusal(msgspec.Struct, frozen=True):
    """An input the run declines: the payload of its `Replied` effect (data, so a trace
    and a vector hold it). The run actor answers the asker with `as_error()`, the typed
    refusal; the kernel's `Refused` itself is an exception, not a payload."""

    reason: RefusalReason
    message: str  # what was wrong and what to do instead

    def as_error(self) -> Refused:
        """The flow's `Invalid`, `NotFound` or `Conflict` for the reason (the kernel's
        `Refused` for a reason the flow has no class of its own for)."""
        match self.reason:
            case "invalid":
                return Invalid(self.message)
            case "not_found":
                return NotFound(self.message)
            case "conflict":
                return Conflict(self.message)
        return Refused(self.message, self.reason)


class RunProgram:
    """One run of `workflow`, driven by instructions.

    ::

        program = RunProgram(resolved)
        interpreter = PureInterpreter(program)
        program.now_ms = 1_700_000_000_000
        interpreter.apply(run_mount("tea-1", resolved.workflow, StartRun(inputs=resolved.inputs)))
        interpreter.apply(Render())
        interpreter.apply(Submit(event="tea-1", payload=json_form(Wake())))
        program.take_commands()   # [Create(...), Record(...), CommitRequest(...)]
    """

    def __init__(self, workflow: ResolvedWorkflow, *, max_in_flight: int | None = None) -> None:
        self.workflow = workflow
        self.max_in_flight = max_in_flight
        # The time of the instruction being interpreted (unix ms), set by the host.
        self.now_ms = 0
        # None until mounted; afterwards the manifest as this program has changed it
        # (the host records each change on disk in the order of `commands`).
        self.manifest: RunManifest | None = None
        # The output of every succeeded step (templates of later steps read them).
        self.outputs: dict[str, JSONValue] = {}
        # Watchers of the run's event stream.
        self.topics: set[str] = set()
        # The I/O to carry out, in order (taken by the host after each instruction).
        self.commands: list[RunCommand] = []
        self._effects: list[Effect] = []
        self._rng = random.Random(0)
        # The `seq` the next `trace.jsonl` record gets.
        self._trace_seq = 1
        # Commits asked for whose outcome has not arrived: request id -> step id.
        self._commits: dict[str, str] = {}
        # Cache answers for the plan being made, and fingerprints asked for but not answered.
        self._known: dict[str, CacheEntry] = {}
        self._asked: set[str] = set()
        # Steps `run submit` asked for: ready now whatever their backoff says.
        self._requested: set[str] = set()
        # Nothing more can happen: the host should send `ending()`.
        self._settled = False

    # -- host hooks -----------------------------------------------------------------------

    def take_commands(self) -> list[RunCommand]:
        """The commands the host must carry out now, in order (and forget)."""
        commands, self.commands = self.commands, []
        return commands

    def waiting_step(self, request_id: str) -> str | None:
        """The submitted step waiting for `request_id`, if any (else the answer is to an
        older attempt or to a cancelled step, and means nothing)."""
        if self.manifest is None:
            return None
        for state in self.manifest.steps:
            if state.status == "submitted" and state.request_id == request_id:
                return state.id
        return None

    @property
    def settled(self) -> bool:
        """True once the run ended or can make no more progress (nothing is in flight and
        nothing can become ready): the host should then send `ending()`."""
        return self._settled or (self.manifest is not None and self.manifest.status in TERMINAL)

    def ending(self) -> Shutdown:
        """The Shutdown closing a settled run: `error` when it failed, else `normal` (a
        cancelled run was cancelled already: `cancelled` would ask to cancel it again)."""
        status = self._run.status
        reason: ShutdownReason = "error" if status == "failed" else "normal"
        return Shutdown(reason=reason, detail=f"run {status}")

    # -- the ISA program ------------------------------------------------------------------

    def mount(self, instruction: Mount) -> Sequence[Effect]:
        self._effects = []
        # A union is a type msgspec converts to, though `type[T]` cannot name it.
        params: RunMountParams = from_json_value(instruction.params, RunMountParams)  # type: ignore[arg-type]
        if instruction.target != self.workflow.workflow:
            raise Invalid(
                f"Mount names workflow {instruction.target!r} but this program runs "
                f"{self.workflow.workflow!r}; build the program from that run's workflow"
            )
        self._rng = random.Random(params.seed)
        match params:
            case StartRun(inputs=inputs):
                if inputs != self.workflow.inputs:
                    raise Invalid(
                        "Mount inputs differ from those the workflow was resolved with; "
                        "resolve the workflow with these inputs first"
                    )
                self.manifest = new_manifest(instruction.id, self.workflow, self.now_ms)
                self.commands.append(Create(manifest=self.manifest))
                self._patched(self.manifest.last_event)
            case ResumeRun(manifest=manifest):
                if manifest.run_id != instruction.id or manifest.workflow != instruction.target:
                    raise Invalid(
                        f"Mount of run {instruction.id!r} carries the manifest of run "
                        f"{manifest.run_id!r} ({manifest.workflow}); send that run's manifest"
                    )
                self.manifest = manifest
                self.outputs = dict(params.outputs)
                self._trace_seq = params.trace_seq
                for state in manifest.steps:
                    if state.status == "submitted" and state.request_id is not None:
                        self._resume_submitted(self.workflow.step(state.id), state)
        return self._effects

    def render(self, instruction: Render) -> Sequence[Effect]:
        return [Rendered(view=json_form(RunView.of(self._run)))]

    def patch(self, instruction: Patch) -> Sequence[Effect]:
        self._effects = []
        try:
            event: RunEvent = from_json_value(instruction.diff, RunEvent)  # type: ignore[arg-type]
        except PayloadError as error:
            return [_refusal(None, "invalid", f"run patch: {error}")]
        if not isinstance(event, RunCancelled):
            only = "only a run.cancelled event can arrive from outside"
            return [_refusal(None, "invalid", only)]
        manifest = self._run
        if not manifest.cancelled and manifest.status not in TERMINAL:
            cancelled, _ = apply_transition(
                manifest, CancelTransition(reason=event.reason, now_ms=event.ts_ms)
            )
            # The event is the one on disk: keep its numbering, not ours.
            self.manifest = msgspec.structs.replace(
                cancelled, sequence=event.seq, last_event=event, updated_at_ms=event.ts_ms
            )
        self._effects.append(Patched(diff=instruction.diff))
        return self._effects

    def subscribe(self, instruction: Subscribe) -> Sequence[Effect]:
        topic = instruction.topic
        if instruction.off:
            if topic not in self.topics:
                return []
            self.topics.discard(topic)
            return [Unsubscribed(topic=topic)]
        if topic in self.topics:
            return []
        self.topics.add(topic)
        return [Subscribed(topic=topic)]

    def submit(self, instruction: Submit) -> Sequence[Effect]:
        self._effects = []
        try:
            payload: RunInput = from_json_value(instruction.payload, RunInput)  # type: ignore[arg-type]
        except PayloadError as error:
            return [_refusal(instruction.ref, "invalid", f"run input: {error}")]
        if isinstance(payload, StepRequest) and payload.body is None and _has_body(instruction):
            # The lax conversion reads the string "null" as None: a body that is there
            # must be an object, whatever its spelling.
            why = "run input: Expected `object | null`, got `str` - at `$.body`"
            return [_refusal(instruction.ref, "invalid", why)]
        event = instruction.event
        match payload:
            case Wake() | CacheAnswer() | Retry() if event != self._run.run_id:
                why = _RUN_EVENT.format(event, self._run.run_id)
                return [_refusal(instruction.ref, "invalid", why)]
            case Wake():
                self._advance()
            case Retry(seq=seq):
                return self._retry(seq, instruction.ref)
            case CacheAnswer(entries=entries):
                for entry in entries:
                    self._asked.discard(entry.fingerprint)
                    self._known[entry.fingerprint] = entry
                self._advance()
            case StepRequest(body=body):
                return self._request(event, instruction.ref, body)
            case Committed() | CommitRefused():
                if self._commits.get(payload.request_id) == event:
                    del self._commits[payload.request_id]
                    self._commit_outcome(event, payload)
            case Answer() | AnswerError() | AnswerTimeout():
                if self.waiting_step(payload.request_id) == event:
                    self._answer(event, payload)
        return self._effects

    def shutdown(self, instruction: Shutdown) -> Sequence[Effect]:
        self._effects = []
        if self.manifest is not None and instruction.reason == "cancelled":
            try:
                self._record(CancelTransition(reason=instruction.detail, now_ms=self.now_ms))
            except StepTransitionError as error:
                self._effects.append(_refused(None, error))
        self._effects.extend(Unsubscribed(topic=topic) for topic in sorted(self.topics))
        self.topics.clear()
        if self.manifest is not None:
            # The final snapshot: what a watcher (or the canceller) sees last.
            self._effects.append(Rendered(view=json_form(RunView.of(self.manifest))))
        self._settled = True
        return self._effects

    # -- inputs ---------------------------------------------------------------------------

    def _request(
        self, step_id: str, ref: str | None, body: dict[str, JSONValue] | None
    ) -> list[Effect]:
        """`run submit`: refuse a step that is not ready and planned, else make it ready
        now (its backoff is skipped) and advance; with a `body`, submit that body as the
        step's request at once (its templates and the cache are not consulted). An
        accepted request has no reply of its own: the host answers with a Render once the
        run has moved."""
        manifest = self._run
        try:
            depends_on = self.workflow.step(step_id).depends_on
        except StepNotFound:
            depends_on = ()  # the manifest names the step that is not there
        try:
            state = check_submittable(manifest, step_id, depends_on)
        except (StepNotFound, StepTransitionError) as error:
            return [_refused(ref, error)]
        step = self.workflow.step(step_id)
        if body is None:
            self._requested.add(step_id)
        else:
            attempt = state.attempts + 1
            request_id = request_id_for(manifest.run_id, step_id, attempt)
            self._record(
                SubmitTransition(
                    step=step_id,
                    fingerprint=step.fingerprint_of(body),
                    request_id=request_id,
                    now_ms=self.now_ms,
                    body=body,
                )
            )
            self._commit(step, request_id, body)
        self._advance()
        return self._effects

    def _retry(self, seq: int, ref: str | None) -> list[Effect]:
        """`run retry`: a failed run goes on from its failure frontier (`retry_run`), in
        this same run: new events, attempts counting on. Refused unless the run is failed
        and still at `seq` (the event the retry was asked at)."""
        manifest = self._run
        if manifest.status != "failed":
            return [_refusal(ref, "conflict", retry_refusal(manifest.run_id, manifest.status))]
        if manifest.sequence != seq:
            moved = (
                f"run {manifest.run_id!r} moved on since the retry was asked for (event "
                f"{seq}, now {manifest.sequence}); look at it again before retrying"
            )
            return [_refusal(ref, "conflict", moved)]
        self._settled = False
        self._record(RetryTransition(now_ms=self.now_ms))
        self._advance()
        return self._effects

    def _commit_outcome(self, step_id: str, outcome: Committed | CommitRefused) -> None:
        if isinstance(outcome, Committed):
            state = self._run.step(step_id)
            self._trace(
                lambda seq: records.RequestCommitted(
                    seq=seq,
                    ts_ms=self.now_ms,
                    step=step_id,
                    attempt=state.attempts,
                    request_id=outcome.request_id,
                    path=outcome.path,
                    fingerprint=state.fingerprint or "",
                    model=self._model_of(step_id),
                    tenant=self._run.tenant,
                )
            )
        elif outcome.cause == "conflict":
            # Committed before the restart: only watch for its answer. Ids never repeat
            # (run, step and an attempt count that only grows), so a conflict is this very
            # attempt's request: resumed from `submitted`, or committed by a pipelined
            # flush whose `submitted` a crash took back (ADR 0117).
            step = self.workflow.step(step_id)
            self.commands.append(
                ObserveAnswer(
                    step=step_id,
                    target=step.target,
                    address=step.address,
                    request_id=outcome.request_id,
                )
            )
        else:
            self._attempt_failed(
                step_id, outcome.request_id, "", f"commit failed: {outcome.reason}"
            )
            self._advance()

    def _answer(self, step_id: str, answer: Answer | AnswerError | AnswerTimeout) -> None:
        match answer:
            case AnswerError(error=error):
                self._attempt_failed(step_id, answer.request_id, answer.path, error)
            case AnswerTimeout(timeout_s=timeout_s):
                error = f"timeout: no answer within {timeout_s:g} s"
                self._attempt_failed(step_id, answer.request_id, answer.path, error)
            case Answer():
                self._response(step_id, answer)
        self._advance()

    def _response(self, step_id: str, answer: Answer) -> None:
        self._trace(
            lambda seq: records.ResponseObserved(
                seq=seq,
                ts_ms=self.now_ms,
                step=step_id,
                request_id=answer.request_id,
                path=answer.path,
                route=answer.route,
                may_repeat=_may_repeat(answer.route),
            )
        )
        step = self.workflow.step(step_id)
        try:
            if answer.body is None:
                raise MalformedResponse(f"step {step_id!r}: response is not UTF-8 text")
            value = step_output(step, answer.body.encode())
        except MalformedResponse as error:
            # An answer that is not the step's output is an error like `<id>.error`.
            self._attempt_failed(step_id, answer.request_id, answer.path, str(error))
            return
        output = output_path(step_id)
        self.commands.append(WriteOutput(step=step_id, value=value))
        self._record(SucceedTransition(step=step_id, output=output, now_ms=self.now_ms))
        self.outputs[step_id] = value
        fingerprint = self._run.step(step_id).fingerprint
        if step.cache and fingerprint is not None:
            cached = CachedOutput(fingerprint, self._run.run_id, step_id, output)
            self.commands.append(RememberOutput(cached=cached))

    # -- the scheduling loop ----------------------------------------------------------------

    def _advance(self) -> None:
        """Apply plans until nothing more can happen now; ask the cache first when a plan
        needs it; wake later for a backoff. Mirrors one pass of the scheduler per loop."""
        while True:
            if self._run.status in TERMINAL:
                self._settled = True
                return
            plan, unknown = self._plan()
            if unknown:
                ask = tuple(fp for fp in dict.fromkeys(unknown) if fp not in self._asked)
                if ask:
                    self._asked.update(ask)
                    self.commands.append(LookUpCache(fingerprints=ask))
                return  # act once the cache has answered every lookup of this plan
            for reuse in plan.reuse:
                self._reuse(reuse)
            for failed in plan.failed:
                self._fail(failed.step, failed.error, retry=False)
            for submit in plan.submit:
                self._submit(submit)
            self._known.clear()
            planned = {s.id for s in self._run.steps if s.status == "planned"}
            self._requested &= planned
            if plan.finished:
                self._settled = True
                return
            if not (plan.reuse or plan.failed or plan.submit):
                # Nothing to do until an answer arrives or a backoff ends.
                if plan.wake_at_ms is not None:
                    self.commands.append(WakeAt(at_ms=plan.wake_at_ms))
                return

    def _plan(self) -> tuple[SchedulePlan, list[str]]:
        """The scheduler's plan, and the fingerprints it looked up that the cache has not
        answered yet (a plan with any is not acted on)."""
        unknown: list[str] = []

        def lookup(fingerprint: str) -> CachedOutput | None:
            entry = self._known.get(fingerprint)
            if entry is None:
                unknown.append(fingerprint)
                return None
            return entry.cached

        manifest = self._run
        if self._requested:
            # A requested step is ready now: plan it as if its backoff had ended.
            steps = tuple(
                msgspec.structs.replace(s, retry_at_ms=None) if s.id in self._requested else s
                for s in manifest.steps
            )
            manifest = msgspec.structs.replace(manifest, steps=steps)
        plan = plan_steps(
            self.workflow,
            manifest,
            outputs=self.outputs,
            now_ms=self.now_ms,
            lookup=lookup,
            max_in_flight=self.max_in_flight,
        )
        return plan, unknown

    def _reuse(self, action: ReuseOutput) -> None:
        value = self._known[action.fingerprint].value
        cached = action.cached
        self.commands.append(WriteOutput(step=action.step, value=value))
        self._record(
            SucceedTransition(
                step=action.step,
                output=output_path(action.step),
                now_ms=self.now_ms,
                cached_from=f"{cached.run_id}/{cached.step}",
                fingerprint=action.fingerprint,
            )
        )
        self.outputs[action.step] = value

    def _submit(self, action: SubmitStep) -> None:
        self._record(
            SubmitTransition(
                step=action.step,
                fingerprint=action.fingerprint,
                request_id=action.request_id,
                now_ms=self.now_ms,
            )
        )
        self._commit(self.workflow.step(action.step), action.request_id, action.request)

    def _resume_submitted(self, step: ResolvedStep, state: StepState) -> None:
        """Commit a step submitted before the restart again, under its request id: the
        explicit body it was submitted with, else its rendered request."""
        request_id = state.request_id
        assert request_id is not None  # a submitted step always has one
        request: JSONValue
        if state.body is not None:
            request = state.body
        else:
            try:
                request = step.render(self.outputs)
            except FlowError as error:  # TemplateError: its inputs can never render
                self._fail(step.id, str(error), retry=False)
                return
        self._commit(step, request_id, request, resuming=True)

    def _commit(
        self, step: ResolvedStep, request_id: str, request: JSONValue, *, resuming: bool = False
    ) -> None:
        self._commits[request_id] = step.id
        self.commands.append(
            CommitRequest(
                step=step.id,
                target=step.target,
                address=step.address,
                request_id=request_id,
                body=request,
                resuming=resuming,
                at_most_once=step.at_most_once,
            )
        )

    def _attempt_failed(self, step_id: str, request_id: str, path: str, error: str) -> None:
        """An attempt ended without an output: trace `cortex.error.observed`, then fail the
        step with a retry (or for good when its attempts are used up)."""
        self._trace(
            lambda seq: records.ErrorObserved(
                seq=seq,
                ts_ms=self.now_ms,
                step=step_id,
                request_id=request_id,
                path=path,
                error=error,
            )
        )
        # An at-most-once step whose call was cut by a restart is not tried again by
        # itself: the provider may have done (and billed) it; a person retries the run.
        interrupted = error.startswith(INTERRUPTED) and self.workflow.step(step_id).at_most_once
        self._fail(step_id, error, retry=not interrupted)

    def _fail(self, step_id: str, error: str, *, retry: bool) -> None:
        state = self._run.step(step_id)
        at = None
        if retry and state.status == "submitted":
            # The policy counts the attempts since the run was last retried.
            policy = self.workflow.step(step_id).retry
            attempt = state.attempts - state.retries_from
            at = retry_at_ms(policy, attempt, self.now_ms, self._rng)
        self._record(FailTransition(step=step_id, error=error, now_ms=self.now_ms, retry_at_ms=at))

    # -- effects and commands -----------------------------------------------------------------

    def _record(self, transition: Transition) -> None:
        """Change the manifest; the host records the same transition on disk, and the
        event goes to the watchers."""
        self.manifest, event = apply_transition(self._run, transition)
        self.commands.append(Record(transition=transition))
        self._patched(event)

    def _patched(self, event: RunEvent | None) -> None:
        if event is not None:
            self._effects.append(Patched(diff=json_form(event)))

    def _model_of(self, step_id: str) -> str | msgspec.UnsetType:
        model = self.workflow.step(step_id).model
        return msgspec.UNSET if model is None else model.name

    def _trace(self, make: _MakeTrace) -> None:
        self.commands.append(TraceExchange(record=make(self._trace_seq)))
        self._trace_seq += 1

    @property
    def _run(self) -> RunManifest:
        if self.manifest is None:
            # The lifecycle lets no instruction but Mount and Subscribe reach an
            # unmounted program; a host that calls in directly made a mistake.
            raise Invalid("the run is not mounted yet; send Mount first")
        return self.manifest


_RUN_EVENT = "a run input is about the whole run: its event is the run id, not {!r} (run {!r})"


def _has_body(instruction: Submit) -> bool:
    """Whether a `StepRequest` payload carries a `body` that is not JSON null."""
    payload = instruction.payload
    return isinstance(payload, dict) and payload.get("body") is not None


def _refusal(ref: str | None, reason: RefusalReason, message: str) -> Replied:
    """The effect refusing an input; the host answers the asker with its typed refusal."""
    return Replied(ref=ref or "", payload=json_form(Refusal(reason=reason, message=message)))


def _refused(ref: str | None, error: Refused) -> Replied:
    """The effect refusing an input with the reason and message of `error`."""
    return _refusal(ref, error.reason, str(error))


INTERRUPTED = "interrupted:"
"""How the error of an at-most-once request cut by a restart begins (`<kind>: <message>`)."""


def _may_repeat(route: dict[str, JSONValue] | None) -> bool | msgspec.UnsetType:
    """True when the substrate served the request again after a restart found it in flight
    (its route record says `resumed`): the provider may have been called twice."""
    return True if route is not None and route.get("resumed") is True else msgspec.UNSET
