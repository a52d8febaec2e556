"""`LiveSession`: the actor that runs one live view for one connected browser.

It interprets the ISA instructions its watcher (the transport actor) forwards:
Mount, Render, Patch (URL params changed), Subscribe, Submit (a browser event),
Shutdown; and the messages that are not instructions: pubsub deliveries, presence
changes, timers (`handle_info`). Each instruction goes through `isa.execute_or_reject`, so a
misordered one becomes a ``Rejected`` effect and the session lives on; a view
callback that raises crashes the session, for its supervisor and the browser to
handle (the browser rejoins and the view is mounted again, ADR 0020).

Every instruction from the watcher is answered by exactly one `SessionOutput`
(maybe empty), so the watcher knows how many are still in flight: that count is
its backpressure window.

Tenants (ADR 0104): after the ``on_mount`` hooks, the session knows its tenant (what a
hook assigned as ``tenant``, else the signed cookie session's, else ``default``), shown on
the actor to operators. With a `TenantLedger` in its services, the mount is refused past
the tenant's ``live_sessions`` budget and each event past its events-per-second budgets
(per session and per tenant): an ``over_budget`` problem with ``retry_after``, the event
not handled (specs/live-wire.md §16).

With a `SessionStore` (a cluster), a view whose `rejoin` is ``"rehydrate"`` is durable:
its state is written after each handled message that changed it (queued, coalesced per
session by the store), and a Mount of a session id the store knows continues from that
snapshot instead of calling the view's `mount` (specs/cluster.md §Sessions). A write
refused by fencing (another node claimed the session) stops this session.

Live children (`live_render`, ADR 0115): a view whose render places children gets one
`LiveSession` per child, spawned under this one, whose watcher is this session. Their
outputs come back here and go on to the transport, each frame's envelope naming the
child's path (``"child": "clock"``); browser events whose ``target`` starts with a
child's id, and a Render asking for one (``view: {"child": path}``), go to that child.
A child that crashes is started again alone (mounted, rendered in full), at most
`CHILD_MAX_RESTARTS` times in `CHILD_RESTART_PERIOD` seconds, after which this session
crashes too (OTP's escalation); this session's exit takes its children down. A view
without children holds nothing for them (class attributes).
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final, TypeAlias

import msgspec

from ..isa import (
    Effect,
    ErrorCode,
    Instruction,
    Mount,
    Patch,
    Patched,
    Phase,
    Rejected,
    Render,
    Rendered,
    Replied,
    Shutdown,
    Stopped,
    Submit,
    Subscribe,
    Subscribed,
    Tracer,
    Unsubscribed,
    execute_or_reject,
    exit_reason_of,
)
from ..kernel import (
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorRef,
    AnyRef,
    Ask,
    Down,
    ExitReason,
    Reply,
    format_reason,
    handler,
    is_normal_exit,
)
from ..tenants import (
    DEFAULT_TENANT,
    BudgetName,
    OverBudget,
    TenantIdError,
    TenantLedger,
    TokenBucket,
    tenant_of_session,
)
from ._async import AssignAsync, AsyncDone, AsyncResult, AsyncWorker, CancelAsync, StartAsync
from ._auth import run_on_mount
from ._children import MAX_DEPTH, ChildCall, child_session, names_child, split_target
from ._commands import (
    Broadcast,
    Command,
    ListPresence,
    NotifyParent,
    PageTitle,
    SendAfter,
    SendChild,
    SendTo,
    SubscribeTo,
    Track,
    Untrack,
    Update,
)
from ._component import Halt, SessionInfo, ViewSpec
from ._cookie import BrowserSeal
from ._errors import (
    LiveSessionError,
    SessionStoreUnavailable,
    StaleSessionOwner,
    ViewDefinitionError,
)
from ._immutable import immutable_value
from ._presence import ListPresences, PresenceMessage, TrackPresence, UntrackPresence
from ._program import ViewProgram, resumed
from ._pubsub import Delivery, Publish, PubSubMessage, SubscribeTopic, UnsubscribeTopic
from ._snapshot import StateCodec
from ._store import SessionSnapshot, SessionStore, snapshot_key
from ._upload import UploadFiles

logger = logging.getLogger(__name__)

ToBrowser: TypeAlias = Render | Patch | Shutdown
"""Instructions a session sends to its browser (framed by the transport)."""


class Problem(msgspec.Struct, frozen=True):
    """An input the session refused; the transport sends it as a non-fatal error frame."""

    code: ErrorCode
    message: str
    path: str | None = None
    ref: str | None = None
    retry_after: float | None = None  # with over_budget: seconds until it may be sent again
    tenant: str | None = None  # with over_budget: whose budget refused it
    budget: BudgetName | None = None  # with over_budget: which budget


MOUNT_REF = "mount"
"""`Problem.ref` of a problem with the Mount itself (the transport names the Mount frame)."""


class SessionOutput(msgspec.Struct, frozen=True):
    """What a session tells its watcher after a message.

    `epoch` names the session on its connection (a rejoin starts a new epoch, so a
    late output of the previous session is recognised and dropped); `answers` is
    True when this output answers one instruction the watcher forwarded.
    """

    epoch: int
    answers: bool
    frames: tuple[ToBrowser, ...] = ()
    problems: tuple[Problem, ...] = ()
    sticky: StickyChildren | None = None
    """The sticky children (ADR 0126) the page's view shows now, for the connection that
    owns them: set with each full render of the page's view and when the set changes."""


class StickyChildren(msgspec.Struct, frozen=True):
    """The sticky children of the page's view's last render (ADR 0126): the `live_render`
    calls, the page's session info their mounts derive from, and its seal."""

    session: SessionInfo
    calls: tuple[ChildCall, ...]
    seal: BrowserSeal | None = None
    tenant: str = DEFAULT_TENANT  # the page's: a sticky child's events count for it


class FlowControl(msgspec.Struct, frozen=True):
    """From the watcher: the browser is behind (`held`) or caught up again.

    While held the session goes on handling every message but sends no patch; on
    release it sends one patch with the latest state (specs/live-wire.md §8).
    """

    held: bool


class Info(msgspec.Struct, frozen=True):
    """Any message for the view's `handle_info` (what `SendAfter` delivers, too)."""

    message: object


class Fenced(msgspec.Struct, frozen=True):
    """From the session store: a snapshot write was refused, another owner claimed."""

    error: StaleSessionOwner


class SessionServices(msgspec.Struct, frozen=True):
    """The node's actors a session talks to (and its snapshot store, in a cluster), where
    its uploads go, and the ledger of tenant budgets (`tenants`; None: no budgets).

    `upload_dir`: the folder under which each session keeps its upload temp files in a
    folder of its own (``s<actor id>``); None: sessions take no uploads.
    """

    pubsub: ActorRef[PubSubMessage]
    presence: ActorRef[PresenceMessage]
    store: SessionStore | None = None
    upload_dir: str | None = None
    tenants: TenantLedger | None = None


def session_upload_dir(upload_dir: str, session: AnyRef) -> Path:
    """The folder of `session`'s upload temp files (removed when it stops; the transport
    removes it too when it sees the session killed)."""
    return Path(os.path.join(upload_dir, f"s{session.id}"))


class AwaitAsync(Ask[bool], frozen=True):
    """Answered True once session `session_id` runs no async work (at once if none runs);
    False at once from any other session. For test drivers (``render_async``)."""

    session_id: str


class _Task(msgspec.Struct):
    """Async work the session started: its worker, and what its outcome updates."""

    worker: AnyRef
    monitor: int
    name: str
    keys: tuple[str, ...] | None  # the assign_async keys; None for start_async


_LIVE_PHASES: Final = frozenset({"mounted", "live"})

CHILD_MAX_RESTARTS: Final = 3
"""Restarts of one live child within `CHILD_RESTART_PERIOD` before its parent gives up
(and crashes, so the browser joins the whole page again)."""

CHILD_RESTART_PERIOD: Final = 5.0
"""Seconds (the loop's clock) over which a child's restarts are counted."""


class ChildRun:
    """A running live child: its `live_render` call, its session actor and monitor, the
    `epoch` its outputs carry (one per start), the instructions it owes an answer for,
    oldest first (the ref of a browser's Submit, ``""`` for a browser's Render, None for
    what the parent sent itself), and when it was restarted lately."""

    __slots__ = ("call", "epoch", "monitor", "owed", "ref", "restarts")

    def __init__(
        self,
        call: ChildCall,
        ref: ActorRef[Instruction | FlowControl | Info],
        monitor: int,
        epoch: int,
        restarts: list[float],
    ) -> None:
        self.call = call
        self.ref = ref
        self.monitor = monitor
        self.epoch = epoch
        self.owed: list[str | None] = []
        self.restarts = restarts


_NOTHING: Final = object()


class LiveSession(
    Actor[
        Instruction
        | Delivery
        | Info
        | FlowControl
        | AsyncDone
        | AwaitAsync
        | Down
        | Fenced
        | SessionOutput
    ]
):
    """One view, one browser. Spawned by the transport (under the sessions supervisor).

    ::

        session = system.spawn(lambda: LiveSession(spec, SessionInfo("s1", True),
                                                   watcher=transport, epoch=1,
                                                   services=services))
        session.tell(Mount(id="s1", target="counter"))
        session.tell(Render())     # -> SessionOutput(frames=(Render(view=...),))
    """

    # Live children: None (class attributes) until the view renders one, so a session
    # without children holds nothing for them (ADR 0108's per-session memory).
    children: dict[str, ChildRun] | None = None
    child_starts = 0  # children started (each start's outputs carry its own epoch)
    depth = 0  # 0: the page's view; n: a child n levels down
    parent: ActorRef[Info] | None = None  # a live child's parent session
    sticky_shown: tuple[str, ...] = ()  # ids of the sticky children last reported
    counts_session = True  # False: a sticky child (its events count, not its session)

    def __init__(
        self,
        spec: ViewSpec,
        session: SessionInfo,
        *,
        watcher: ActorRef[SessionOutput],
        epoch: int,
        services: SessionServices,
        tracer: Tracer | None = None,
        seal: BrowserSeal | None = None,
    ) -> None:
        self.program = ViewProgram(spec, session, seal=seal)
        self.watcher = watcher
        self.epoch = epoch
        self.services = services
        self.tracer = tracer
        self.phase: Phase = "disconnected"
        # Durable state (a cluster): the store, this view's key in it, what was last written.
        self.store: SessionStore | None = None
        self.codec: StateCodec | None = None
        if services.store is not None and spec.view.rejoin == "rehydrate":
            codec = StateCodec.of(spec.view)
            if codec.usable:
                self.store, self.codec = services.store, codec
        self.key = snapshot_key(session.id, spec.name)
        self.saved: tuple[object, bytes, tuple[str, ...], str | None] | None = None
        self.rehydrated = False
        self.tasks: dict[int, _Task] = {}  # running async work by token
        self.next_token = 0
        self.idle_waiters: list[Reply[bool]] = []
        self.tenant: str = DEFAULT_TENANT  # known once the on_mount hooks ran
        self.counted = False  # counted in the ledger's live sessions of `tenant`
        self.events: TokenBucket | None = None  # this session's own events budget

    def on_start(self) -> None:
        self.monitor(self.watcher)
        upload_dir = self.services.upload_dir
        if upload_dir is not None:  # as text: made a Path only by a session that uploads
            self.program.uploads = UploadFiles(os.path.join(upload_dir, f"s{self.ref.id}"))

    def on_stop(self, reason: ExitReason) -> None:
        if self.counted and self.services.tenants is not None:
            self.services.tenants.close_session(self.tenant)
            self.counted = False
        if self.store is not None:
            self.store.release(self.key)
        for task in self.tasks.values():
            self.unlink(task.worker)
            self.system.kill(task.worker)  # its work is for a view that is going away
        self.tasks.clear()
        if self.children is not None:
            for child in self.children.values():  # a parent's exit takes its children
                self.demonitor(child.monitor)
                self.system.exit(child.ref, SHUTDOWN)
            self.children = None
        if self.phase in _LIVE_PHASES:
            self.program.terminate(format_reason(reason))
        self.program.close()

    # -- instructions from the watcher -------------------------------------------------

    @handler
    async def mount(self, msg: Mount) -> None:
        # An async mount (it may ask other actors) is awaited here, before the ISA step,
        # so the program itself stays synchronous and pure.
        if self.phase in ("disconnected", "joined"):
            program = self.program
            params = {k: v for k, v in msg.params.items() if isinstance(v, str)}
            # on_mount hooks (its live_session's, then the view's) may assign or halt; they
            # run on a rehydrating rejoin too (who may see the view is checked every time).
            outcome = await run_on_mount(program.spec.hooks, params, program.session)
            if isinstance(outcome, Halt):
                program.halt(outcome)
            else:
                if not self._admit_session(outcome):
                    return
                program.prepare_session(outcome)
                result = await self._rehydrate() if self.store is not None else _NOTHING
                if result is _NOTHING:
                    result = program.spec.view.mount(params, outcome)
                    if inspect.isawaitable(result):
                        result = await result
                program.prepare_mount(result)
        self._interpret(msg)

    @handler
    def instruction(self, msg: Render | Patch | Subscribe | Submit | Shutdown) -> None:
        tenants = self.services.tenants
        if tenants is not None and isinstance(msg, Submit) and self.phase in _LIVE_PHASES:
            try:
                tenants.admit_event(self.tenant, self.events, self.program.session.id)
            except OverBudget as refusal:
                self._over_budget(refusal, msg.ref)
                return
        if self.phase in _LIVE_PHASES:
            if isinstance(msg, Submit) and names_child(msg.target):
                self._submit_to_child(msg)
                return
            if isinstance(msg, Render) and isinstance(msg.view, dict) and "child" in msg.view:
                self._render_child(msg.view)
                return
        self._interpret(msg)
        if self.program.halted is not None and isinstance(msg, Render):
            self.stop(NORMAL)  # the render told the browser where to go; nothing runs here

    # -- tenant budgets ------------------------------------------------------------------

    def _admit_session(self, outcome: SessionInfo) -> bool:
        """Learn the tenant and count this session in its live sessions; False (the Mount
        refused, the session stopping) when the tenant has no room left (``over_budget``)
        or a hook or the cookie named no tenant id (``unauthorized``: a server-side bug,
        so the page is reloaded, never shown to the wrong tenant). A sticky child
        (`counts_session` False) keeps the page's tenant, is not a session of its own,
        and gets a bucket for its own events."""
        if not self.counts_session:
            tenants = self.services.tenants
            if tenants is not None:
                self.events = tenants.session_bucket(self.tenant)
            return True
        try:
            self.tenant = tenant_of_session(outcome.assigns, outcome.signed)
        except TenantIdError as error:
            problem = Problem("unauthorized", str(error), "$.instruction", MOUNT_REF)
            self.watcher.tell(SessionOutput(self.epoch, True, (), (problem,)))
            self.stop(("shutdown", "bad_tenant"))
            return False
        tenants = self.services.tenants
        if tenants is None:
            return True
        try:
            tenants.open_session(self.tenant, self.program.session.id)
        except OverBudget as refusal:
            self._over_budget(refusal, MOUNT_REF)
            self.stop(("shutdown", "over_budget"))
            return False
        self.counted = True
        self.events = tenants.session_bucket(self.tenant)
        return True

    def _over_budget(self, refusal: OverBudget, ref: str | None) -> None:
        problem = Problem(
            "over_budget",
            str(refusal),
            "$.instruction",
            ref,
            retry_after=refusal.retry_after,
            tenant=refusal.tenant,
            budget=refusal.budget,
        )
        self.watcher.tell(SessionOutput(self.epoch, True, (), (problem,)))

    # -- other messages: handle_info --------------------------------------------------

    @handler
    def delivery(self, msg: Delivery) -> None:
        self._info(msg.message)

    @handler
    def info(self, msg: Info) -> None:
        self._info(msg.message)

    @handler
    def flow_control(self, msg: FlowControl) -> None:
        if not msg.held:
            effects = self.program.release()
            if effects:
                self._carry_out(effects, answers=False)
        elif not self.program.held:
            self.program.hold()
        if self.children is not None:
            for child in self.children.values():
                child.ref.tell(msg)

    @handler
    def down(self, msg: Down) -> None:
        if msg.actor == self.watcher:
            # The browser is gone (socket closed, transport stopped): nobody to render for.
            self.stop(SHUTDOWN)
            return
        if self.children is not None:
            for child in self.children.values():
                if child.monitor == msg.monitor:
                    self._child_down(child, msg.reason)
                    return
        for token, task in self.tasks.items():
            if task.monitor == msg.monitor:
                if not is_normal_exit(msg.reason):
                    # The worker died without reporting (killed from outside).
                    reason = f"the async worker exited: {format_reason(msg.reason)}"
                    self._async_done(AsyncDone(token, False, failed=reason))
                return

    # -- async work (_async.py) ----------------------------------------------------------

    @handler
    def async_done(self, msg: AsyncDone) -> None:
        self._async_done(msg)

    @handler
    def await_async(self, msg: AwaitAsync) -> bool | None:
        if msg.session_id != self.program.session.id:
            return False
        if not self.tasks:
            return True
        self.idle_waiters.append(self.defer(msg))
        return None

    def _async_done(self, msg: AsyncDone) -> None:
        task = self.tasks.pop(msg.token, None)
        if task is None:
            return  # replaced or cancelled meanwhile: its outcome is stale
        self.demonitor(task.monitor)
        self._finish_task(task, msg)
        if not self.tasks:
            waiters, self.idle_waiters = self.idle_waiters, []
            for waiter in waiters:
                waiter.send(True)

    def _finish_task(self, task: _Task, msg: AsyncDone) -> None:
        if self.phase not in _LIVE_PHASES:
            return
        outcome: AsyncResult[object] = (
            AsyncResult.of(msg.value) if msg.ok else AsyncResult.failure(msg.failed or "failed")
        )
        if task.keys is not None:
            effects = self.program.async_assigned(task.keys, outcome)
        else:
            effects = self.program.async_started(task.name, outcome)
        self._carry_out(effects, answers=False)

    def _start_async(self, command: AssignAsync | StartAsync) -> None:
        fn: Callable[[], object] = command.fn
        if isinstance(command, AssignAsync):
            name, keys = ",".join(command.keys), command.keys
            for key in keys:  # a new load of a field replaces the one running
                self._cancel_async(key, reason=None)
        else:
            name, keys = command.name, None
            self._cancel_async(name, reason=None)
        self.next_token += 1
        token = self.next_token
        session: ActorRef[AsyncDone] = self.ref
        worker = self.spawn(
            lambda: AsyncWorker(fn, blocking=command.blocking, token=token, session=session),
            link=True,  # a session that exits (shutdown, killed) takes its work with it
        )
        self.tasks[token] = _Task(worker, self.monitor(worker), name, keys)

    def _cancel_async(self, name: str, *, reason: str | None) -> None:
        """Stop the work `name` (a start_async name or an assign_async key); with a
        `reason`, the view sees it failed with it, else it is silently replaced."""
        for token, task in list(self.tasks.items()):
            if task.name == name or (task.keys is not None and name in task.keys):
                del self.tasks[token]
                self.demonitor(task.monitor)
                self.unlink(task.worker)
                self.system.kill(task.worker)
                if reason is not None:
                    self._finish_task(task, AsyncDone(token, False, failed=reason))
        if not self.tasks and self.idle_waiters:
            waiters, self.idle_waiters = self.idle_waiters, []
            for waiter in waiters:
                waiter.send(True)

    @handler
    def fenced(self, msg: Fenced) -> None:
        # Another node owns this session now (its browser rejoined there): this one is
        # stale, and writes nothing more.
        logger.warning("live session %s stops: %s", self.key, msg.error)
        self.store = None
        self.stop(("shutdown", "fenced"))

    # -- durable state ------------------------------------------------------------------

    async def _rehydrate(self) -> object:
        """The view's state from the store (as a mount result), or `_NOTHING` to mount."""
        store, codec = self.store, self.codec
        assert store is not None and codec is not None
        try:
            snapshot = await store.claim(self.key)
        except SessionStoreUnavailable as error:
            logger.warning("live session %s: no snapshot store (%s); mounting", self.key, error)
            self.store = None
            return _NOTHING
        if snapshot is None or snapshot.view != self.program.spec.name:
            return _NOTHING
        try:
            state = codec.decode(snapshot.state)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            logger.warning(
                "live session %s: snapshot does not decode (%s); mounting", self.key, error
            )
            return _NOTHING
        self.rehydrated = True
        self.saved = (state, snapshot.state, snapshot.topics, snapshot.title)
        state = resumed(state)  # uploads and async work of the old session are gone
        commands: list[Command] = [SubscribeTo(topic=t) for t in snapshot.topics]
        # The page that rejoins holds no stream entry (its streams start empty, as after a
        # resync): the view may stream its rows again with the first render (ADR 0112).
        again = self.program.spec.view.handle_resync(state)
        if isinstance(again, Update):
            state = again.state
            commands.extend(again.commands)
        else:
            state = again
        if snapshot.title is not None:
            commands.append(PageTitle(title=snapshot.title))
        return Update(state, tuple(commands))

    def _persist(self) -> None:
        """Write the state if it changed since the last write (the store coalesces)."""
        store, codec, program = self.store, self.codec, self.program
        assert store is not None and codec is not None
        state, saved = program.state, self.saved
        topics, title = tuple(sorted(program.topics)), program.title
        if (
            saved is not None
            and state is saved[0]
            and immutable_value(state)
            and saved[2] == topics
            and saved[3] == title
        ):
            return
        try:
            data = codec.encode(state)
        except (msgspec.EncodeError, TypeError, ValueError) as error:
            logger.warning(
                "live session %s: its state does not serialise (%s); it is not kept (name the "
                "field in the view's `transient`, or set rejoin = 'remount')",
                self.key,
                error,
            )
            self.store = None
            return
        if saved is not None and saved[1] == data and saved[2] == topics and saved[3] == title:
            self.saved = (state, data, topics, title)
            return
        self.saved = (state, data, topics, title)
        snapshot = SessionSnapshot(
            view=program.spec.name,
            state=data,
            topics=topics,
            title=title,
            owner=store.owner,
            saved_ms=self.system.clock.wall_ms(),
        )
        ref = self.ref
        store.save(self.key, snapshot, lambda error: ref.tell(Fenced(error)))

    # -- internals --------------------------------------------------------------------

    def _interpret(self, instruction: Instruction) -> None:
        self.phase, effects, accepted = execute_or_reject(self.program, self.phase, instruction)
        if self.tracer is not None:
            self.tracer.record(instruction, effects)
        self._carry_out(effects, answers=True)
        if accepted and isinstance(instruction, Shutdown):
            self.stop(exit_reason_of(instruction.reason))

    def _info(self, message: object) -> None:
        if self.phase not in _LIVE_PHASES:
            return  # not mounted yet (or closed): the view has no state to update
        self._carry_out(self.program.info(message), answers=False)

    def _carry_out(self, effects: list[Effect], *, answers: bool) -> None:
        frames: list[ToBrowser] = []
        problems: list[Problem] = []
        services = self.services
        for effect in effects:
            match effect:
                case Rendered(view=view):
                    frames.append(Render(view=view))
                case Patched(diff=diff):
                    frames.append(Patch(diff=diff))
                case Subscribed(topic=topic):
                    services.pubsub.tell(SubscribeTopic(topic, self.ref))
                case Unsubscribed(topic=topic):
                    services.pubsub.tell(UnsubscribeTopic(topic, self.ref))
                case Replied(ref=ref, payload=payload):
                    problems.append(_problem_of(ref, payload))
                case Rejected(message=message):
                    problems.append(Problem("unexpected_frame", message))
                case Stopped():
                    pass  # _interpret stops the actor once the effects are out
                case _:
                    pass  # Published is never produced: broadcasts are commands
        for command in self.program.take_commands():
            self._command(command)
        sticky = None
        if self.depth == 0 and (self.program.children is not None or self.sticky_shown):
            sticky = self._sticky_report(frames)
        if answers or frames or problems or sticky is not None:
            self.watcher.tell(
                SessionOutput(self.epoch, answers, tuple(frames), tuple(problems), sticky)
            )
        if self.store is not None and self.phase in _LIVE_PHASES:
            self._persist()
        if (self.program.children is not None or self.children is not None) and self.live:
            # After the parent's frames went out: a new child's first render follows
            # the parent's render that holds its container.
            self._reconcile_children()

    @property
    def live(self) -> bool:
        return self.phase in _LIVE_PHASES and self.program.live

    # -- live children (ADR 0115) ---------------------------------------------------------

    @handler
    def child_output(self, msg: SessionOutput) -> None:
        """A child's output: its frames go to the browser naming the child, its answers
        to what the browser sent it count for the transport."""
        child = self._child_of(msg.epoch)
        if child is None:
            return  # a child stopped or started again since: stale
        answers = False
        if msg.answers and child.owed:
            answers = child.owed.pop(0) is not None
        path = child.call.id
        frames = tuple(
            tagged for frame in msg.frames if (tagged := tag_child_frame(frame, path)) is not None
        )
        problems = tuple(
            msgspec.structs.replace(p, ref=None) if p.ref == MOUNT_REF else p for p in msg.problems
        )
        if answers or frames or problems:
            self.watcher.tell(SessionOutput(self.epoch, answers, frames, problems))

    def _child_of(self, epoch: int) -> ChildRun | None:
        for child in (self.children or {}).values():
            if child.epoch == epoch:
                return child
        return None

    def _sticky_report(self, frames: list[ToBrowser]) -> StickyChildren | None:
        """The sticky children for the connection (ADR 0126): with every full render of
        the view, and whenever the ids it shows change; None when there is no news."""
        program = self.program
        calls = tuple(c for c in (program.children or {}).values() if c.sticky)
        ids = tuple(c.id for c in calls)
        if ids == self.sticky_shown and not any(isinstance(f, Render) for f in frames):
            return None
        self.sticky_shown = ids
        return StickyChildren(program.session, calls, program.seal, self.tenant)

    def _reconcile_children(self) -> None:
        """Start the children the last render placed, stop those it no longer holds;
        a child whose id stays (with the same view) is left running as it is. Sticky
        children are the connection's (`_sticky_report`), not this session's."""
        found: Mapping[str, ChildCall] = self.program.children or {}
        wanted = {id: call for id, call in found.items() if not call.sticky}
        if self.depth > 0 and len(wanted) != len(found):
            sticky = ", ".join(id for id, call in found.items() if call.sticky)
            raise ViewDefinitionError(
                f"live child {self.program.spec.name!r} places sticky children ({sticky}): "
                "only the page's view (or its layout) may, as they outlive it"
            )
        for id, child in list((self.children or {}).items()):
            call = wanted.get(id)
            if call is None or not child.call.same_child(call):
                self._stop_child(child)
        if wanted and self.depth >= MAX_DEPTH:
            raise ViewDefinitionError(f"live children nest more than {MAX_DEPTH} levels deep")
        for id, call in wanted.items():
            if self.children is None or id not in self.children:
                self._start_child(call, [])

    def _start_child(self, call: ChildCall, restarts: list[float]) -> None:
        program = self.program
        self.child_starts += 1
        epoch = self.child_starts
        info = child_session(program.session, call, True)
        spec = ViewSpec(
            f"{program.spec.name}.{call.id}", call.view, live_session=program.spec.live_session
        )
        services = SessionServices(self.services.pubsub, self.services.presence)
        watcher: ActorRef[SessionOutput] = self.ref
        seal, depth, tracer = program.seal, self.depth + 1, self.tracer

        def factory() -> LiveSession:
            session = LiveSession(
                spec,
                info,
                watcher=watcher,
                epoch=epoch,
                services=services,
                tracer=tracer,
                seal=seal,
            )
            session.depth = depth
            session.parent = parent
            session.program.nested = True
            return session

        parent: ActorRef[Info] = self.ref
        ref: ActorRef[Instruction | FlowControl | Info] = self.spawn(factory)
        child = ChildRun(call, ref, self.monitor(ref), epoch, restarts)
        if self.children is None:
            self.children = {}
        self.children[call.id] = child
        if program.held:
            ref.tell(FlowControl(held=True))
        ref.tell(Mount(id=info.id, target=spec.name))
        ref.tell(Render())
        child.owed += (None, None)  # what the parent asked for itself: no browser waits

    def _stop_child(self, child: ChildRun) -> None:
        """The child left the parent's render: it stops (its ``terminate`` runs); an
        event the browser sent it meanwhile is answered as refused."""
        self._forget_child(child, f"live child {child.call.id!r} left the page")
        self.demonitor(child.monitor)
        self.system.exit(child.ref, SHUTDOWN)

    def _forget_child(self, child: ChildRun, why: str) -> None:
        children = self.children
        if children is not None and children.get(child.call.id) is child:
            del children[child.call.id]
            if not children:
                self.children = None
        for ref in child.owed:
            if ref is not None:  # the browser waits for this one: it is refused
                problem = Problem(
                    "unexpected_frame",
                    f"{why} before answering",
                    "$.instruction.target",
                    ref or None,
                )
                self.watcher.tell(SessionOutput(self.epoch, True, (), (problem,)))
        child.owed.clear()

    def _child_down(self, child: ChildRun, reason: ExitReason) -> None:
        """A child exited by itself. Stopped normally (an on_mount hook halted it, say):
        it stays stopped. Crashed: it starts again alone, unless it crashed
        `CHILD_MAX_RESTARTS` times lately, when this session crashes (and the browser
        joins the whole page again, children included)."""
        text = format_reason(reason)
        self._forget_child(child, f"live child {child.call.id!r} exited ({text})")
        if is_normal_exit(reason) or not self.live:
            return
        now = self.system.clock.now()
        recent = [t for t in child.restarts if now - t < CHILD_RESTART_PERIOD]
        if len(recent) >= CHILD_MAX_RESTARTS:
            raise LiveSessionError(
                f"live child {child.call.id!r} crashed {len(recent) + 1} times within "
                f"{CHILD_RESTART_PERIOD:g} s (last: {text}); its parent gives up"
            )
        logger.warning(
            "live child %s of %s crashed (%s); restarting", child.call.id, self.key, text
        )
        self._start_child(child.call, [*recent, now])

    def _submit_to_child(self, msg: Submit) -> None:
        assert msg.target is not None
        head, rest = split_target(msg.target)
        child = self._child_named(head, "$.instruction.target", msg.ref)
        if child is not None:
            child.owed.append(msg.ref or "")
            child.ref.tell(
                Submit(event=msg.event, payload=msg.payload, ref=msg.ref, target=rest or None)
            )

    def _render_child(self, view: Mapping[str, object]) -> None:
        """A browser's Render for a child (its merge failed): that child renders in full."""
        path = view.get("child")
        if len(view) != 1 or not isinstance(path, str):
            problem = Problem(
                "malformed_frame",
                'a Render for a live child carries only {"child": "<path>"}',
                "$.instruction.view",
            )
            self.watcher.tell(SessionOutput(self.epoch, True, (), (problem,)))
            return
        head, rest = split_target(path)
        child = self._child_named(head, "$.instruction.view.child", None)
        if child is not None:
            child.owed.append("")
            child.ref.tell(Render(view={"child": rest}) if rest else Render())

    def _child_named(self, id: str, path: str, ref: str | None) -> ChildRun | None:
        child = self.children.get(id) if self.children is not None else None
        if child is None:
            known = ", ".join(sorted(self.children or {})) or "none"
            problem = Problem(
                "malformed_frame",
                f"{self.program.spec.name} has no live child {id[:64]!r} (its children: {known})",
                path,
                ref,
            )
            self.watcher.tell(SessionOutput(self.epoch, True, (), (problem,)))
        return child

    def _command(self, command: Command) -> None:
        services = self.services
        match command:
            case Broadcast(topic=topic, message=message):
                services.pubsub.tell(Publish(topic, message))
            case Track(topic=topic, key=key, meta=meta):
                services.presence.tell(TrackPresence(topic, key, meta, self.ref))
            case Untrack(topic=topic, key=key):
                services.presence.tell(UntrackPresence(topic, key, self.ref))
            case ListPresence(topic=topic):
                services.presence.tell(ListPresences(topic, self.ref))
            case SendAfter(delay=delay, message=message):
                self.send_after(delay, self.ref, Info(message))
            case SendTo(to=to, message=message):
                to.tell(message)
            case SendChild(id=id, message=message):
                child = self.children.get(id) if self.children is not None else None
                if child is not None:
                    child.ref.tell(Info(message))
            case NotifyParent(message=message) if self.parent is not None:
                self.parent.tell(Info(message))
            case AssignAsync() | StartAsync():
                self._start_async(command)
            case CancelAsync(name=name, reason=reason):
                self._cancel_async(name, reason=reason)
            case _:
                pass


def tag_child_frame(frame: ToBrowser, path: str) -> ToBrowser | None:
    """A child's frame for the browser, its envelope naming the child's `path` (the
    child's own children's paths go under it); None for what the browser does not get
    from a child (a Shutdown: the parent's transport speaks for the connection)."""
    if isinstance(frame, Render) and isinstance(frame.view, dict):
        inner = frame.view.get("child")
        return Render(view={**frame.view, "child": f"{path}/{inner}" if inner else path})
    if isinstance(frame, Patch) and isinstance(frame.diff, dict):
        inner = frame.diff.get("child")
        return Patch(diff={**frame.diff, "child": f"{path}/{inner}" if inner else path})
    return None


def _problem_of(ref: str, payload: object) -> Problem:
    """A ``Replied`` effect carrying ``{"error": {...}}`` (see `program.problem`)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return Problem("malformed_frame", "the session refused the input", None, ref or None)
    code, message, path = error.get("code"), error.get("message"), error.get("path")
    return Problem(
        _CODES.get(code, "malformed_frame") if isinstance(code, str) else "malformed_frame",
        message if isinstance(message, str) else "the session refused the input",
        path if isinstance(path, str) else None,
        ref or None,
    )


# The codes a program may put in a refusal; anything else is reported as malformed.
_CODES: Final[dict[str, ErrorCode]] = {
    "malformed_frame": "malformed_frame",
    "unexpected_frame": "unexpected_frame",
}
