"""`Transport`: one WebSocket connection = one actor speaking the ISA wire protocol.

The socket loop hands it raw frames (`Receive`, one at a time) and it owns the
`isa.Connection` state machine: negotiation, sequence numbers, acks, heartbeats,
error frames. Instructions go to the connection's `LiveSession` (started on Mount
under the sessions supervisor); the session's answers come back as
`SessionOutput` and leave as frames. Limits (specs/live-wire.md §8): oversized or
malformed frames get error frames (fatal ones close), a flood of events is held
back by the in-flight `window` (reading pauses), and a session whose events its tenant's
budget refused stops being read until the budget has a token again (reading pauses
`retry_after`; an event read meanwhile is refused here, never reaching the session:
specs/tenants.md §3). Outbound, a browser that is behind
(`send_window` frames or `send_window_bytes` unacknowledged) makes the session hold
its patches and coalesce them, never a close; only a browser that stops reading
(no ack for `ack_timeout` while held, or a write buffer past its bound) is closed,
and what was buffered for it is dropped. Acks to the browser are lazy: one
cumulative ack per tick. None of it can crash anything but this actor.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from typing import Final, Protocol, TypeAlias

import msgspec

from lightflow_actors.isa import (
    CloseCode,
    Connection,
    ErrorCode,
    Instruction,
    JsonCodec,
    Mount,
    Render,
    Shutdown,
    Submit,
    Subscribe,
)
from lightflow_actors.kernel import (
    KILLED,
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorRef,
    Ask,
    Down,
    ExitReason,
    LightflowError,
    format_reason,
    handler,
    is_normal_exit,
)
from lightflow_actors.live import (
    CHILD_MAX_RESTARTS,
    CHILD_RESTART_PERIOD,
    MOUNT_REF,
    BrowserSeal,
    ChildCall,
    ChildRun,
    Delivery,
    FlowControl,
    Info,
    LiveConfig,
    LiveError,
    LiveHub,
    LiveSession,
    LiveSessionError,
    MountParams,
    Problem,
    RequestInfo,
    SessionCookieError,
    SessionInfo,
    SessionOutput,
    SessionSeal,
    SessionServices,
    StickyChildren,
    SubscribeTopic,
    ToBrowser,
    ViewSpec,
    Visit,
    browser_topic,
    child_session,
    names_child,
    session_upload_dir,
    split_target,
    tag_child_frame,
)

from ._socket import Socket

# WebSocket close codes (RFC 6455 §7.4.1) for each way a connection ends.
_WS_CODES: Final[dict[str, int]] = {
    "normal": 1000,
    "peer_closed": 1000,
    "heartbeat_timeout": 1001,
    "frame_too_large": 1009,
    "too_many_errors": 1008,
    "slow_peer": 1008,
}
_WS_PROTOCOL_ERROR: Final = 1002

SessionRef: TypeAlias = ActorRef[Instruction | FlowControl]
"""What a transport may tell its session: the browser's instructions, and flow control."""


def ws_close_code(code: str) -> int:
    """The WebSocket close code for a close decision's code."""
    return _WS_CODES.get(code, _WS_PROTOCOL_ERROR)


class Receive(Ask[None], frozen=True):
    """One frame from the socket. The reader awaits the reply before reading the next."""

    data: bytes


class SocketClosed(msgspec.Struct, frozen=True):
    """The peer closed the socket (or the network dropped it)."""


class Tick(msgspec.Struct, frozen=True):
    """Heartbeat timer."""


class BudgetResume(msgspec.Struct, frozen=True):
    """Timer: the tenant budget that refused the session's last event has a token again."""


MAX_BUDGET_PAUSE: Final = 5.0
"""Seconds reading may stay paused for one refusal, whatever its ``retry_after`` (a rate
of one event a minute would say 60): the browser's acks and heartbeats wait behind the
paused events, and must be read well within ``heartbeat_timeout`` and ``ack_timeout``.
A refusal after the pause pauses again."""


class _Sticky(ChildRun):
    """A sticky live child (ADR 0126) this connection runs: a running child (`ChildRun`;
    its instructions owed are a browser Submit's ref, ``""`` for a browser's Render, None
    for what the transport asked itself, and its epoch is negative) and the page view's
    `source` that placed it."""

    __slots__ = ("source",)

    def __init__(
        self,
        call: ChildCall,
        source: StickyChildren,
        ref: ActorRef[Instruction | FlowControl | Info],
        monitor: int,
        epoch: int,
        restarts: list[float],
    ) -> None:
        super().__init__(call, ref, monitor, epoch, restarts)
        self.source = source


class TransportHost(Protocol):
    """What a transport needs from the hub that started it."""

    @property
    def config(self) -> LiveConfig: ...

    @property
    def services(self) -> SessionServices: ...

    @property
    def started(self) -> bool: ...

    def view(self, name: str) -> ViewSpec:
        """The view named `name`; raises `UnknownViewError`."""
        ...

    def verify(self, session_id: str, token: str, binding: str = "") -> bool:
        """True when `token` was issued for `session_id` by this hub, to the browser
        whose session cookie has the sid `binding`."""
        ...

    @property
    def seal(self) -> SessionSeal:
        """The signers of flash and session change tokens."""
        ...

    async def start_session(self, factory: Callable[[], LiveSession]) -> SessionRef:
        """Start a session actor under the sessions supervisor."""
        ...


class Transport(
    Actor[Receive | SocketClosed | Tick | BudgetResume | SessionOutput | Down | Delivery]
):
    """The server side of one browser connection.

    ::

        transport = system.spawn(lambda: Transport(hub, socket))
        await transport.ask(Receive(frame_bytes), timeout=None)   # for each frame read
        transport.tell(SocketClosed())                            # when the socket closes
    """

    # One per open connection (a live tab): slots, not an attribute dict (ADR 0114).
    __slots__ = (
        "budget_paused",
        "closed",
        "config",
        "connection",
        "epoch",
        "held",
        "host",
        "in_flight",
        "live_session",
        "mount_seq",
        "paused",
        "refusal",
        "refusing_until",
        "session",
        "session_id",
        "session_monitor",
        "socket",
        "stalled_since",
        "sticky",
        "sticky_starts",
        "unacked",
        "unacked_bytes",
        "visit",
        "watching",
    )

    def __init__(self, host: TransportHost, socket: Socket, visit: Visit | None = None) -> None:
        self.host = host
        self.socket = socket
        self.config = host.config
        # What the WebSocket handshake brought (cookies, headers, the cookie session):
        # joins are checked against its sid and views mount with it. None: no request
        # (an in-process peer), which can only use tokens issued without a cookie.
        self.visit = visit
        self.live_session: str | None = None  # the group of the views mounted here
        self.watching = False  # subscribed to the browser's topic (a signed-in session)
        self.connection: Connection
        self.session: SessionRef | None = None
        self.session_monitor = 0
        self.mount_seq: int | None = None  # the seq of the Mount frame of this session
        self.session_id: str | None = None  # its id (the Mount's), naming it in the ledger
        self.epoch = 0
        self.in_flight = 0
        self.paused = False  # reading paused: `window` instructions in flight
        self.closed = False
        # The session's last event refused by its tenant's budget (an over_budget Problem)
        # and until when (loop seconds) its budget has no token: reading is paused until
        # then (`budget_paused`, a BudgetResume timer), and an event read meanwhile (read
        # before the pause took hold) is refused here without reaching the session.
        self.refusal: Problem | None = None
        self.refusing_until = 0.0
        self.budget_paused = False
        # Outbound flow: (seq, bytes) of instruction frames the browser has not acked,
        # oldest first; their byte total; whether the session is holding its patches
        # back, and since when no ack has come while held.
        self.unacked: list[tuple[int, int]] = []  # a list: a deque costs ~760 B empty
        self.unacked_bytes = 0
        self.held = False
        self.stalled_since = 0.0
        # Sticky live children (ADR 0126): None until a page places one; they outlive
        # the page's session across live navigation. Their outputs carry negative epochs.
        self.sticky: dict[str, _Sticky] | None = None
        self.sticky_starts = 0

    def on_start(self) -> None:
        config = self.config
        self.connection = Connection(
            "server",
            JsonCodec(max_frame_bytes=config.max_frame_bytes),
            now=self._now(),
            max_errors=config.max_errors,
            heartbeat_interval=config.heartbeat_interval,
            heartbeat_timeout=config.heartbeat_timeout,
            auto_ack=False,  # acks are lazy: one per tick (specs/live-wire.md §8)
        )
        self._schedule_tick()

    def on_stop(self, reason: ExitReason) -> None:
        if self.sticky is not None:
            for entry in self.sticky.values():
                self.demonitor(entry.monitor)
                self.system.exit(entry.ref, SHUTDOWN)
            self.sticky = None
        if not self.closed:
            self.closed = True
            code = 1000 if is_normal_exit(reason) else 1011
            self.socket.close(code, "server closed the connection"[:120])

    # -- frames from the browser --------------------------------------------------------

    # eager_start: the endpoint's ask_now runs it on the reader's step when the transport
    # is idle (most frames), without the loop turns of an ask (ADR 0106, ADR 0099).
    @handler(eager_start=True)
    async def receive(self, msg: Receive) -> None:
        if self.closed:
            return
        outcome = self.connection.receive(msg.data, now=self._now())
        self._write(outcome.outgoing)
        if self.unacked:
            self._acknowledged()
        for instruction in outcome.instructions:
            await self._route(instruction)
            if self.closed:
                return
        if outcome.close is not None:
            self._close(outcome.close.code, outcome.close.message)

    async def _route(self, instruction: Instruction) -> None:
        if isinstance(instruction, Mount):
            await self._mount(instruction)
            return
        if isinstance(instruction, Subscribe):
            self._problem(
                "unexpected_frame",
                "a browser cannot subscribe to topics: the view chooses its own",
                "$.instruction",
            )
            return
        if self.sticky is not None and self._to_sticky(instruction):
            return
        session = self.session
        if session is None:
            self._problem(
                "unexpected_frame",
                f"no view is mounted on this connection; send Mount before "
                f"{type(instruction).__name__}",
                "$.instruction",
            )
            return
        if isinstance(instruction, Submit):
            if self.refusal is not None and self._refused_here(self.refusal):
                return
            if instruction.ref is None:
                # Every event gets a ref, so its answer (patch or error) can name it.
                instruction = Submit(
                    event=instruction.event,
                    payload=instruction.payload,
                    ref=str(self.connection.last_seq_in),
                    target=instruction.target,
                )
        session.tell(instruction)
        if isinstance(instruction, Shutdown):
            # The browser left this view (navigation): later output of it is stale.
            self._detach()
            return
        self._count_in_flight()

    def _count_in_flight(self) -> None:
        self.in_flight += 1
        if self.in_flight >= self.config.window and not self.paused:
            self.paused = True
            self.socket.pause_reading()

    def _answered(self) -> None:
        self.in_flight -= 1
        if self.paused and self.in_flight <= self.config.window // 2:
            self.paused = False
            if not self.budget_paused:
                self.socket.resume_reading()

    async def _mount(self, mount: Mount) -> None:
        if self.session is not None:
            self._problem(
                "unexpected_frame",
                "a view is already mounted on this connection; send Shutdown first",
                "$.instruction",
            )
            return
        try:
            params = msgspec.convert(mount.params, MountParams)
        except msgspec.ValidationError as error:
            self._problem("malformed_frame", f"mount params: {error}", _path(error, "params"))
            return
        visit = self.visit
        binding = "" if visit is None or visit.fresh else visit.sid
        if not self.host.verify(mount.id, params.token, binding):
            self._problem("unauthorized", _refusal(visit), "$.instruction.params.token")
            return
        try:
            spec = self.host.view(mount.target)
        except LiveError as error:
            self._problem("malformed_frame", str(error), "$.instruction.target")
            return
        if self.live_session is not None and spec.live_session != self.live_session:
            # Another group's hooks never ran for this page: the browser loads it anew.
            self._problem(
                "unexpected_frame",
                f"view {mount.target!r} is in live_session {spec.live_session!r}, this "
                f"page's in {self.live_session!r}: load the page instead of navigating live",
                "$.instruction.target",
            )
            return
        flash: dict[str, str] = {}
        if params.flash:
            # A stale or foreign flash token is dropped, not refused: it only carried text.
            with contextlib.suppress(SessionCookieError):
                flash = self.host.seal.read_flash(params.flash, binding)
        self.epoch += 1
        epoch = self.epoch
        if visit is None:
            info = SessionInfo(mount.id, True, flash=flash, live_session=spec.live_session)
        else:
            info = SessionInfo(
                mount.id,
                True,
                signed=visit.data if not visit.fresh else {},
                cookies=visit.cookies,
                headers=visit.headers,
                flash=flash,
                live_session=spec.live_session,
            )
        services = self.host.services
        watcher: ActorRef[SessionOutput] = self.ref
        seal = BrowserSeal(self.host.seal, binding)

        def factory() -> LiveSession:
            return LiveSession(
                spec, info, watcher=watcher, epoch=epoch, services=services, seal=seal
            )

        try:
            session = await self.host.start_session(factory)
        except LightflowError as error:
            self._send(Shutdown(reason="error", detail=f"cannot start the session: {error}"))
            return
        if self.closed or epoch != self.epoch:
            self.system.exit(session, "shutdown")
            return
        self.session = session
        self.live_session = spec.live_session
        self.session_monitor = self.monitor(session)
        if visit is not None and binding and visit.data and not self.watching:
            # A session with data (signed in): its log out elsewhere must end this tab.
            # Anonymous ones are not watched, so idle pages cost no subscription.
            self.watching = True
            services.pubsub.tell(SubscribeTopic(browser_topic(binding), self.ref))
        if self.held:
            session.tell(FlowControl(held=True))  # the browser is still behind
        self.mount_seq = self.connection.last_seq_in or None
        self.session_id = mount.id
        session.tell(Mount(id=mount.id, target=mount.target, params=dict(params.params)))
        self.in_flight += 1

    # -- messages from the session and the system --------------------------------------

    @handler
    def output(self, msg: SessionOutput) -> None:
        if msg.epoch < 0:
            self._sticky_output(msg)
            return
        if msg.epoch != self.epoch or self.closed:
            return  # a previous session of this connection, already replaced
        if msg.answers:
            self._answered()
        for frame in msg.frames:
            self._send(frame)
            if self.closed:
                return
        if msg.sticky is not None:
            self._reconcile_sticky(msg.sticky)
        elif self.sticky is not None and any(_page_render(f) for f in msg.frames):
            # A full render of a page with no children at all: it shows no sticky child.
            self._reconcile_sticky(None)
        for problem in msg.problems:
            if problem.ref == MOUNT_REF:  # the Mount itself was refused (a tenant budget)
                ref = self.mount_seq
            else:
                ref = int(problem.ref) if problem.ref and problem.ref.isdigit() else None
                if problem.code == "over_budget" and problem.retry_after:
                    self._pause_for_budget(problem)
            self._problem(problem.code, problem.message, problem.path, ref, problem.retry_after)

    @handler
    def down(self, msg: Down) -> None:
        if self.sticky is not None:
            for entry in self.sticky.values():
                if entry.monitor == msg.monitor:
                    self._sticky_down(entry, msg.reason)
                    return
        if self.session is None or msg.monitor != self.session_monitor:
            return
        upload_dir = self.host.services.upload_dir if self.host.started else None
        if upload_dir is not None and msg.reason == KILLED:
            # A killed session ran no on_stop: its upload temp files are removed here.
            shutil.rmtree(session_upload_dir(upload_dir, self.session), ignore_errors=True)
        self._detach()
        if self.closed:
            return
        if is_normal_exit(msg.reason):
            self._send(Shutdown(reason="normal", detail="the view stopped"))
        else:
            # The browser keeps its page and rejoins (specs/live-wire.md §4): a new
            # session mounts the view again.
            detail = f"the session crashed ({format_reason(msg.reason)}); rejoin"
            self._send(Shutdown(reason="error", detail=detail[:512]))

    @handler
    def budget_resume(self, msg: BudgetResume) -> None:
        if not self.budget_paused or self.closed:
            return
        left = self.refusing_until - self._now()
        if left > 0:  # a later refusal moved the end of the pause
            self.send_after(left, self.ref, BudgetResume())
            return
        self.budget_paused = False
        self.refusal = None
        if not self.paused:
            self.socket.resume_reading()

    @handler
    def session_ended(self, msg: Delivery) -> None:
        # The only topic a transport subscribes to is its browser's (a SessionEnded;
        # from another node it arrives as builtins): this browser's session is over.
        self._close("normal", "the browser's session ended (log out or log in); reload")

    @handler
    def socket_closed(self, msg: SocketClosed) -> None:
        self.closed = True
        self.stop(NORMAL)

    @handler
    def tick(self, msg: Tick) -> None:
        if self.closed:
            return
        now = self._now()
        outcome = self.connection.tick(now=now)
        ack = self.connection.ack(now=now)
        self._write(outcome.outgoing if ack is None else (*outcome.outgoing, ack))
        if outcome.close is not None:
            self._close(outcome.close.code, outcome.close.message)
            return
        if self.held and now - self.stalled_since >= self.config.ack_timeout:
            self._close(
                "slow_peer",
                f"{len(self.unacked)} frames ({self.unacked_bytes} bytes) unacknowledged for "
                f"{now - self.stalled_since:.0f} s: the browser stopped reading",
            )
            return
        self._schedule_tick()

    # -- sticky live children (ADR 0126) -----------------------------------------------

    def _reconcile_sticky(self, shown: StickyChildren | None) -> None:
        """The page's view shows the sticky children `shown` now: keep those running with
        the same id and view (never mounted again, whatever page placed them first),
        start the new ones, stop the ones it no longer shows."""
        wanted = {call.id: call for call in shown.calls} if shown is not None else {}
        for id, entry in list((self.sticky or {}).items()):
            call = wanted.get(id)
            if call is None or not entry.call.same_child(call):
                self._stop_sticky(entry, f"sticky live child {id!r} left the page")
        for id, call in wanted.items():
            if self.sticky is None or id not in self.sticky:
                assert shown is not None
                self._start_sticky(call, shown, [])

    def _start_sticky(self, call: ChildCall, source: StickyChildren, restarts: list[float]) -> None:
        self.sticky_starts += 1
        epoch = -self.sticky_starts
        info = child_session(source.session, call, True)
        spec = ViewSpec(f"sticky.{call.id}", call.view, live_session=source.session.live_session)
        host = self.host.services
        services = SessionServices(host.pubsub, host.presence, tenants=host.tenants)
        watcher: ActorRef[SessionOutput] = self.ref
        seal, tenant = source.seal, source.tenant

        def factory() -> LiveSession:
            session = LiveSession(
                spec, info, watcher=watcher, epoch=epoch, services=services, seal=seal
            )
            session.depth = 1  # it may place children of its own, never sticky ones
            session.program.nested = True  # no parent: its NotifyParent is dropped
            session.counts_session = False  # the page's tenant budgets its events
            session.tenant = tenant
            return session

        ref: ActorRef[Instruction | FlowControl | Info] = self.spawn(factory)
        entry = _Sticky(call, source, ref, self.monitor(ref), epoch, restarts)
        if self.sticky is None:
            self.sticky = {}
        self.sticky[call.id] = entry
        if self.held:
            ref.tell(FlowControl(held=True))
        ref.tell(Mount(id=info.id, target=spec.name))
        ref.tell(Render())
        entry.owed += (None, None)  # the transport asked these itself: no browser waits

    def _stop_sticky(self, entry: _Sticky, why: str) -> None:
        self._forget_sticky(entry, why)
        self.demonitor(entry.monitor)
        self.system.exit(entry.ref, SHUTDOWN)

    def _forget_sticky(self, entry: _Sticky, why: str) -> None:
        sticky = self.sticky
        if sticky is not None and sticky.get(entry.call.id) is entry:
            del sticky[entry.call.id]
            if not sticky:
                self.sticky = None
        owed, entry.owed = entry.owed, []
        for ref in owed:
            if ref is not None:  # the browser waits for this one: it is refused
                self._answered()
                self._problem(
                    "unexpected_frame",
                    f"{why} before answering",
                    "$.instruction.target",
                    int(ref) if ref.isdigit() else None,
                )

    def _sticky_down(self, entry: _Sticky, reason: ExitReason) -> None:
        """A sticky child exited by itself. Crashed: it starts again alone (mounted, a
        full render), unless it crashed `CHILD_MAX_RESTARTS` times lately, when the
        connection gives up (it crashes; the browser connects and joins anew)."""
        text = format_reason(reason)
        self._forget_sticky(entry, f"sticky live child {entry.call.id!r} exited ({text})")
        if is_normal_exit(reason) or self.closed:
            return
        now = self._now()
        recent = [t for t in entry.restarts if now - t < CHILD_RESTART_PERIOD]
        if len(recent) >= CHILD_MAX_RESTARTS:
            raise LiveSessionError(
                f"sticky live child {entry.call.id!r} crashed {len(recent) + 1} times within "
                f"{CHILD_RESTART_PERIOD:g} s (last: {text}); its connection gives up"
            )
        self._start_sticky(entry.call, entry.source, [*recent, now])

    def _sticky_output(self, msg: SessionOutput) -> None:
        """A sticky child's output: its frames go to the browser naming the child; its
        answers to what the browser sent it count for the in-flight window."""
        if self.closed:
            return
        entry = next((e for e in (self.sticky or {}).values() if e.epoch == msg.epoch), None)
        if entry is None:
            return  # stopped or started again since: stale
        if msg.answers and entry.owed and entry.owed.pop(0) is not None:
            self._answered()
        path = entry.call.id
        for frame in msg.frames:
            tagged = tag_child_frame(frame, path)
            if tagged is not None:
                self._send(tagged)
                if self.closed:
                    return
        for problem in msg.problems:
            ref = int(problem.ref) if problem.ref and problem.ref.isdigit() else None
            if problem.code == "over_budget" and problem.retry_after:
                self._pause_for_budget(problem)
            self._problem(problem.code, problem.message, problem.path, ref, problem.retry_after)

    def _to_sticky(self, instruction: Instruction) -> bool:
        """Route a browser's Submit (``target`` = its path) or Render (``view.child``) for
        a sticky child to it; False when the instruction is not for one."""
        assert self.sticky is not None
        if isinstance(instruction, Submit) and names_child(instruction.target):
            assert instruction.target is not None
            head, rest = split_target(instruction.target)
            entry = self.sticky.get(head)
            if entry is None:
                return False
            if self.refusal is not None and self._refused_here(self.refusal):
                return True
            ref = instruction.ref or str(self.connection.last_seq_in)
            entry.owed.append(ref)
            entry.ref.tell(
                Submit(event=instruction.event, payload=instruction.payload, ref=ref, target=rest)
            )
            self._count_in_flight()
            return True
        if isinstance(instruction, Render) and isinstance(instruction.view, dict):
            path = instruction.view.get("child")
            if len(instruction.view) != 1 or not isinstance(path, str):
                return False  # the page's session answers it (malformed_frame)
            head, rest = split_target(path)
            entry = self.sticky.get(head)
            if entry is None:
                return False
            entry.owed.append("")
            entry.ref.tell(Render(view={"child": rest}) if rest else Render())
            self._count_in_flight()
            return True
        return False

    # -- internals --------------------------------------------------------------------

    def _detach(self) -> None:
        if self.session_monitor:
            self.demonitor(self.session_monitor)
        self.session = None
        self.session_monitor = 0
        self.epoch += 1
        # What the sticky children owe the browser stays in flight (they outlive the page).
        self.in_flight = sum(
            1 for entry in (self.sticky or {}).values() for ref in entry.owed if ref is not None
        )
        self.refusal = None  # the next view's budgets are its own
        self.refusing_until = 0.0
        if self.paused or self.budget_paused:
            self.paused = self.budget_paused = False
            self.socket.resume_reading()

    def _pause_for_budget(self, refusal: Problem) -> None:
        """Stop reading until the budget that refused an event has a token again: a
        flooding browser's frames then wait in its socket (TCP's window, the HTTP POST)
        instead of each being read, decoded and refused on this node's loop."""
        assert refusal.retry_after is not None
        until = self._now() + min(refusal.retry_after, MAX_BUDGET_PAUSE)
        if until > self.refusing_until:
            self.refusing_until = until
        self.refusal = refusal
        if not self.budget_paused:
            self.budget_paused = True
            self.socket.pause_reading()
            self.send_after(self.refusing_until - self._now(), self.ref, BudgetResume())

    def _refused_here(self, refusal: Problem) -> bool:
        """Refuse an event read while the session's budget is known to have no token
        (it was read before the pause took hold): an ``over_budget`` error naming it,
        counted in the ledger, and no trip to the session. False once the wait is over."""
        now = self._now()
        left = self.refusing_until - now
        if left <= 0:
            return False
        message = refusal.message
        tenants = self.host.services.tenants
        if tenants is not None and refusal.tenant is not None and refusal.budget is not None:
            again = tenants.count_refused(refusal.tenant, refusal.budget, left, self.session_id)
            message = str(again)
        self._problem("over_budget", message, "$.instruction", self.connection.last_seq_in, left)
        return True

    def _send(self, instruction: ToBrowser) -> None:
        if self.closed or self.connection.state != "open":
            return
        now = self._now()
        data = self.connection.send(instruction, now=now)
        self.unacked.append((self.connection.last_seq_out, len(data)))
        self.unacked_bytes += len(data)
        self._write((data,))
        config = self.config
        if self.held or self.closed:
            return
        if (
            len(self.unacked) >= config.send_window
            or self.unacked_bytes >= config.send_window_bytes
        ):
            # The browser is behind: the session keeps updating its state but holds its
            # patches back; one patch with the latest state goes once acks come back.
            self.held = True
            self.stalled_since = now
            if self.session is not None:
                self.session.tell(FlowControl(held=True))
            for entry in (self.sticky or {}).values():
                entry.ref.tell(FlowControl(held=True))

    def _acknowledged(self) -> None:
        """Forget the frames the browser acknowledged; release the session at half."""
        pending = self.connection.unacked()
        oldest = pending[0].seq if pending else self.connection.last_seq_out + 1
        unacked = self.unacked
        if unacked[0][0] >= oldest:
            return
        done = 0
        while done < len(unacked) and unacked[done][0] < oldest:
            self.unacked_bytes -= unacked[done][1]
            done += 1
        del unacked[:done]
        self.stalled_since = self._now()
        config = self.config
        if (
            self.held
            and len(unacked) <= config.send_window // 2
            and self.unacked_bytes <= config.send_window_bytes // 2
        ):
            self.held = False
            if self.session is not None:
                self.session.tell(FlowControl(held=False))
            for entry in (self.sticky or {}).values():
                entry.ref.tell(FlowControl(held=False))

    def _problem(
        self,
        code: ErrorCode,
        message: str,
        path: str | None,
        ref: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if self.closed:
            return
        if ref is None and path is not None and path.startswith("$.instruction"):
            ref = self.connection.last_seq_in or None
        outcome = self.connection.error(
            code, message, path, ref, now=self._now(), retry_after=retry_after
        )
        self._write(outcome.outgoing)
        if outcome.close is not None:
            self._close(outcome.close.code, outcome.close.message)

    def _write(self, frames: tuple[bytes, ...]) -> None:
        socket = self.socket
        for data in frames:
            if not socket.send(data):
                self._close(
                    "slow_peer",
                    f"the write buffer is full ({self.config.max_buffered} frames or "
                    f"{self.config.max_buffered_bytes} bytes): the browser stopped reading",
                )
                return

    def _close(self, code: CloseCode | str, message: str) -> None:
        if self.closed:
            return
        self.closed = True
        # A close reason must fit in 123 bytes of a WebSocket close frame.
        reason = message.encode("utf-8")[:120].decode("utf-8", "ignore")
        if code == "slow_peer":
            self.socket.abort(ws_close_code(code), reason)  # it would never read the rest
        else:
            self.socket.close(ws_close_code(code), reason)
        self.stop(NORMAL)

    def _schedule_tick(self) -> None:
        # Tick at a third of the interval so a Ping is never more than a third late.
        self.send_after(self.config.heartbeat_interval / 3, self.ref, Tick())

    def _now(self) -> float:
        return self.system.clock.now()


def _page_render(frame: ToBrowser) -> bool:
    """Whether `frame` is a full render of the page's view (not of a live child)."""
    return isinstance(frame, Render) and not (
        isinstance(frame.view, dict) and "child" in frame.view
    )


def _refusal(visit: Visit | None) -> str:
    """Why a join token was refused, in words the person debugging it needs."""
    if visit is None or (visit.fresh and visit.problem is None):
        cookie = "no session cookie came with the WebSocket"
    elif visit.problem is not None:
        cookie = f"its session cookie was refused ({visit.problem.reason}: {visit.problem.detail})"
    else:
        cookie = "it was issued to another browser session, or signed with an older key"
    return f"the session token is not this browser's: {cookie}; reload the page"


def _path(error: msgspec.ValidationError, field: str) -> str:
    text = str(error)
    marker = " - at `"
    at = text.rfind(marker)
    inner = text[at + len(marker) : -1] if at >= 0 and text.endswith("`") else "$"
    return f"$.instruction.{field}{inner[1:]}"


async def start_transport(
    hub: LiveHub, socket: Socket, request: RequestInfo | None = None
) -> ActorRef[Receive | SocketClosed]:
    """Start the transport actor of a new connection (under the hub's transports);
    `request` is what its handshake brought (cookies, headers)."""
    await hub.start()
    visit = None if request is None else hub.visit(request)
    return await hub.start_connection(lambda: Transport(hub, socket, visit))
