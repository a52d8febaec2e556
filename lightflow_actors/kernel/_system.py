"""``ActorSystem``: owns the actors, the registry, the clock, the RNG and lifecycle events.

``async with ActorSystem() as system:`` starts it on the running loop; leaving the block
stops every live actor in reverse spawn order (OTP: children stop in reverse start order).
A host service can call ``await system.start()`` and ``await system.shutdown()`` from its
lifespan instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Never, Protocol, TypeAlias, TypeVar

import anyio.to_thread

from ._actor import Actor, ActorClassInfo
from ._cell import DEAD, RUNNING, STARTING, STOPPING, Cell
from ._clock import Clock, LoopClock
from ._errors import (
    ActorNotAlive,
    NameTaken,
    StartFailed,
    SystemNotRunning,
    WrongActorType,
    is_transient,
)
from ._introspect import ActorInfo, ActorStatus, LifecycleEvent, LifecycleKind
from ._mailbox import UNBOUNDED, Mailbox
from ._reasons import KILL, SHUTDOWN, ExitReason, format_reason
from ._ref import ActorRef
from ._registry import Registry, RegistryKey
from ._tap import Tap
from ._timers import AskDeadlines, Timer

if TYPE_CHECKING:
    from ._ref import AnyRef

logger = logging.getLogger("lightflow_actors")

M = TypeVar("M")
T = TypeVar("T")
A = TypeVar("A", bound=Actor[Never])

EventListener = Callable[[LifecycleEvent], None]

RootStarter: TypeAlias = Callable[["ActorSystem"], Awaitable[ActorRef[Never]]]
"""Starts the actor at the top of a system's tree (``ActorSystem(root=...)``).

The kernel calls it once from ``start()``, after the system is running, and makes the ref
it returns the parent (and link) of every top-level actor. The kernel knows nothing of
supervision: ``lightflow_actors.ActorSystem`` passes the root supervisor's starter.
"""


class BlockingRunner(Protocol):
    """Runs blocking ``fn(*args)`` for ``Actor.run_blocking`` (default: an anyio thread).

    The deterministic scheduler passes one that refuses threads or calls a simulation.
    """

    async def __call__(self, fn: Callable[..., T], *args: object) -> T: ...


async def run_in_thread(fn: Callable[..., T], *args: object) -> T:
    """The default ``BlockingRunner``: a worker thread from anyio's limited pool."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


class ActorSystem:
    """The runtime: spawn actors, look them up, inspect them, shut them down.

    ::

        async with ActorSystem() as system:
            counter = system.spawn(Counter, name="counter")
            counter.tell(Inc(by=1))
            assert await counter.ask(Get()) == 1

    ``seed`` seeds ``system.random`` (the only RNG runtime code uses); ``clock`` replaces
    the loop clock (the deterministic scheduler passes its virtual one); ``throughput`` is
    how many messages an actor handles before yielding the loop to others;
    ``blocking_runner`` runs ``Actor.run_blocking`` work (default: a worker thread).
    ``root`` starts the actor at the top of the tree when the system starts; top-level
    actors become its linked children. ``long_handler`` turns the watchdog on (see
    ``watch_long_handlers``; off by default). This kernel class has none by default (the bare
    kernel); ``lightflow_actors.ActorSystem`` (from ``supervision``) passes the root
    supervisor, so applications get one supervision tree without asking for it.
    """

    def __init__(
        self,
        name: str = "lightflow",
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        throughput: int = 300,
        event_history: int = 10_000,
        default_stop_timeout: float = 5.0,
        blocking_runner: BlockingRunner = run_in_thread,
        root: RootStarter | None = None,
        long_handler: float | None = None,
    ) -> None:
        if throughput < 1:
            raise ValueError(f"throughput must be >= 1, got {throughput}")
        if isinstance(root, bool):
            raise TypeError(
                "the kernel ActorSystem takes root=<RootStarter> or None, not a bool; "
                "for root=True/False use lightflow_actors.ActorSystem (the supervised system)"
            )
        self.name = name
        self.seed = seed
        self.random = random.Random(seed)
        self.throughput = throughput
        self.default_stop_timeout = default_stop_timeout
        self.stop_timeout = default_stop_timeout
        """What the root gives each actor it stops: ``shutdown(timeout)`` while shutting down."""
        self._blocking_runner = blocking_runner
        self._root_starter = root
        self._root: AnyRef | None = None
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._cells: dict[int, Cell] = {}
        self._next_id = 0
        self._monitor_seq = 0
        self._event_seq = 0
        self._events: deque[LifecycleEvent] = deque(maxlen=event_history)
        self._listeners: list[EventListener] = []
        self.registry = Registry()
        self.dead_letters = 0
        self.messages_processed_by_exited = 0
        self._started_at = 0.0
        self._start_waiters: dict[int, list[asyncio.Future[bool]]] = {}
        self._tap: Tap | None = None
        self._ask_deadlines: AskDeadlines
        self._long_handler: float | None = None
        self.watch_long_handlers(long_handler)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop. Idempotent."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        if self._clock is None:
            self._clock = LoopClock(self._loop)
        self._ask_deadlines = AskDeadlines(self._loop)
        self._running = True
        self._started_at = self._clock.now()
        if self._root_starter is not None:
            self._root = await self._root_starter(self)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop every actor, top-level ones in reverse spawn order, each after its subtree.

        As in OTP, a tree stops from the top: each top-level actor is terminated (reason
        ``shutdown``) and a supervisor stops its own children, newest first, before it
        exits. Actors left over (children of a plain actor, which outlive it) move up and
        are stopped in the next round. An actor still running after ``timeout`` seconds
        (default ``default_stop_timeout``) is killed.
        """
        if not self._running:
            return
        per_actor = self.default_stop_timeout if timeout is None else timeout
        self.stop_timeout = per_actor
        root = self._root
        if root is not None and root.alive:
            # The root stops its children newest first, each under its own shutdown rule.
            await self._terminate(root._cell, SHUTDOWN, None)
        while self._cells:
            top = [c for c in self._cells.values() if c.parent is None and c.status is not DEAD]
            if not top:  # only cells whose parents are still exiting: let them finish
                top = [c for c in self._cells.values() if c.status is not DEAD]
            for cell in reversed(top):
                await self._terminate(cell, SHUTDOWN, per_actor)
            await asyncio.sleep(0)
        self._running = False
        self._emit("system_stopped", None, None)

    async def __aenter__(self) -> ActorSystem:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def root(self) -> ActorRef[Never] | None:
        """The root actor: parent of every top-level actor (None on a bare kernel)."""
        return self._root

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise SystemNotRunning("use the event loop")
        return self._loop

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            raise SystemNotRunning("read the clock")
        return self._clock

    def uptime(self) -> float:
        return self.clock.now() - self._started_at

    # -- spawning ---------------------------------------------------------------------------

    def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        mailbox: Mailbox = UNBOUNDED,
        parent: AnyRef | None = None,
        link: bool = False,
        trap_exit: bool | None = None,
    ) -> ActorRef[M]:
        """Create an actor from ``factory`` (a class or a zero-argument callable).

        ``name`` registers it (``NameTaken`` if held). ``parent`` defaults to the top level;
        ``link=True`` links it to ``parent`` (Erlang ``spawn_link``). Returns at once;
        ``on_start`` runs before the first message. Use ``start_actor`` to wait for it.
        """
        if not self._running:
            raise SystemNotRunning("spawn an actor")
        if parent is None and self._root is not None and self._root.alive:
            parent, link = self._root, True
        if name is not None:
            holder = self.registry.whereis(name)
            if holder is not None:
                raise NameTaken(name, holder.label)
        actor = factory()
        if not isinstance(actor, Actor):
            raise TypeError(f"spawn factory {factory!r} returned {actor!r}, not an Actor")
        info = ActorClassInfo.of(type(actor))
        parent_cell = parent._cell if parent is not None else None
        self._next_id += 1
        cell = Cell(
            self,
            self._next_id,
            actor,
            info,
            name,
            parent_cell,
            mailbox.capacity,
            mailbox.overflow,
            trap_exit,
        )
        self._cells[cell.id] = cell
        if name is not None:
            self.registry.register(name, cell)
        if parent_cell is not None:
            parent_cell.adopt(cell)
            if link:
                cell.link(parent_cell)
        self._emit_cell("spawned", cell, None)
        if self._tap is not None:
            self._tap.on_spawn(cell)
        cell.begin()
        ref: ActorRef[M] = cell.ref
        return ref

    async def start_actor(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str | None = None,
        mailbox: Mailbox = UNBOUNDED,
        parent: AnyRef | None = None,
        link: bool = False,
        trap_exit: bool | None = None,
    ) -> ActorRef[M]:
        """Spawn and wait until ``on_start`` has finished (OTP ``start_link``).

        Raises ``StartFailed`` (with the cause) if ``on_start`` raised or the actor exited
        before it finished.
        """
        ref = self.spawn(
            factory, name=name, mailbox=mailbox, parent=parent, link=link, trap_exit=trap_exit
        )
        if ref._cell.status is STARTING:
            await self.wait_started(ref)
        return ref

    def is_starting(self, ref: AnyRef) -> bool:
        """True while ``ref``'s ``on_start`` has not returned yet (``wait_started`` waits)."""
        return ref._cell.status is STARTING

    async def wait_started(self, ref: AnyRef) -> None:
        """Wait until ``ref``'s ``on_start`` has returned; at once if it is not starting.

        ``spawn`` then ``wait_started`` is ``start_actor``: a caller that spawns many
        actors can skip the wait (and its coroutine) for those ``is_starting`` says are
        already running. Raises ``StartFailed`` (with the cause) if ``on_start`` raised or
        the actor exited before it returned.
        """
        cell = ref._cell
        if cell.status is not STARTING:
            return
        waiter: asyncio.Future[bool] = self.loop.create_future()
        self._start_waiters.setdefault(cell.id, []).append(waiter)
        # Started means started (OTP: start_link returns once init returned): an actor
        # that finished on_start and then exited before this caller resumed was not a
        # failed start, whatever its exit reason. True: started; False: exited first.
        if not await waiter:
            raise StartFailed(cell.label, cell.exit_reason or "noproc")

    # -- registry ---------------------------------------------------------------------------

    def whereis(self, key: RegistryKey) -> ActorRef[Never] | None:
        """The actor registered under ``key``, or None."""
        cell = self.registry.whereis(key)
        return cell.ref if cell is not None else None

    def lookup(self, key: RegistryKey, kind: type[Actor[M]]) -> ActorRef[M]:
        """The actor registered under ``key``, checked to be a ``kind``.

        Raises ``NameNotRegistered`` or ``WrongActorType`` with a message saying which.
        """
        cell = self.registry.lookup(key)
        if not isinstance(cell.actor, kind):
            raise WrongActorType(str(key), kind.__qualname__, type(cell.actor).__qualname__)
        ref: ActorRef[M] = cell.ref
        return ref

    def register(self, key: RegistryKey, ref: AnyRef) -> None:
        """Register a live actor under an extra name or ``via`` key."""
        if not ref.alive:
            raise ActorNotAlive(ref._cell.label, ref.exit_reason)
        self.registry.register(key, ref._cell)

    def unregister(self, key: RegistryKey) -> bool:
        return self.registry.unregister(key)

    # -- links and monitors (from outside an actor; inside one use self.link/self.monitor) ---

    def link(self, a: AnyRef, b: AnyRef) -> None:
        """Link two actors: when one exits abnormally, the other receives the exit signal."""
        a._cell.link(b._cell)

    def unlink(self, a: AnyRef, b: AnyRef) -> None:
        a._cell.unlink(b._cell)

    def monitor(self, watcher: AnyRef, target: AnyRef) -> int:
        """Make ``watcher`` monitor ``target``: one ``Down`` message when it exits."""
        return watcher._cell.monitor(target._cell)

    def demonitor(self, watcher: AnyRef, monitor: int) -> bool:
        """Remove a monitor (and a ``Down`` for it already queued); True if one was removed."""
        return watcher._cell.demonitor(monitor)

    # -- signals ----------------------------------------------------------------------------

    def exit(self, ref: AnyRef, reason: ExitReason) -> None:
        """Send an exit signal (Erlang ``exit/2``): trapped as ``Exit`` unless it is ``kill``."""
        self.loop.call_soon(ref._cell.signal_exit, None, reason)

    def kill(self, ref: AnyRef) -> None:
        """Untrappable exit: the actor ends at once, without ``on_stop``; links see ``killed``."""
        self.exit(ref, KILL)

    async def terminate(
        self, ref: AnyRef, reason: ExitReason = SHUTDOWN, timeout: float | None = None
    ) -> None:
        """Stop ``ref`` after its current message (queued ones are dropped) and wait.

        This is how a supervisor shuts a child down: ``on_stop`` runs; after ``timeout``
        seconds (None: wait forever) the actor is killed.
        """
        await self._terminate(ref._cell, reason, timeout)

    async def _terminate(self, cell: Cell, reason: ExitReason, timeout: float | None) -> None:
        if cell.status is DEAD:
            return
        cell.request_stop(reason)
        await self._await_exit(cell, timeout)

    async def _await_exit(self, cell: Cell, timeout: float | None) -> None:
        if cell.status is DEAD:
            return
        waiter = cell.wait_exit()
        if timeout is None:
            await waiter
            return
        # A timer, not ``asyncio.wait_for``: no task, no shield, and no current task needed
        # (3.12's ``wait_for`` needs one; supervisors call this from ``eager_start``
        # handlers, ADR 0094).
        timer = self.loop.call_later(max(timeout, 0.0), _kill_if_alive, cell)
        try:
            await waiter
        finally:
            timer.cancel()

    async def wait_exit(self, ref: AnyRef) -> ExitReason:
        """Wait until ``ref`` has exited; return its reason."""
        cell = ref._cell
        await cell.wait_exit()
        assert cell.exit_reason is not None
        return cell.exit_reason

    def exit_future(self, ref: AnyRef) -> asyncio.Future[None]:
        """A future done once ``ref`` has exited (done already if it has): a callback on it
        watches an actor from outside the system without a task waiting in `wait_exit`."""
        return ref._cell.wait_exit()

    # -- timers and blocking work -----------------------------------------------------------

    def send_after(self, delay: float, target: ActorRef[T], message: T) -> Timer:
        """Deliver ``message`` to ``target`` after ``delay`` seconds of system time."""
        return self._timer(delay, target._cell, message, owner=None)

    def _timer(self, delay: float, target: Cell, message: object, owner: Cell | None) -> Timer:
        timer = Timer(target, message, owner)
        timer._handle = self.loop.call_later(max(delay, 0.0), timer._fire)
        if owner is not None:  # one timer held as itself, two or more in a set
            timers = owner.timers
            if timers is None:
                owner.timers = timer
            elif isinstance(timers, set):
                timers.add(timer)
            else:
                owner.timers = {timers, timer}
        return timer

    async def _run_blocking(self, fn: Callable[..., T], *args: object) -> T:
        return await self._blocking_runner(fn, *args)

    # -- introspection ----------------------------------------------------------------------

    def info(self, ref: AnyRef) -> ActorInfo:
        """A snapshot of one actor (also of an exited one, while you hold its ref)."""
        return _describe(ref._cell)

    def get(self, actor_id: int) -> ActorRef[Never] | None:
        """The live actor with this id, or None."""
        cell = self._cells.get(actor_id)
        return cell.ref if cell is not None else None

    def actors(self) -> list[ActorInfo]:
        """A snapshot of every live actor, in spawn order."""
        return [_describe(cell) for cell in list(self._cells.values())]

    def actor_count(self) -> int:
        return len(self._cells)

    def events(self, actor: int | None = None, limit: int = 100) -> list[LifecycleEvent]:
        """The most recent lifecycle events (oldest first), optionally of one actor."""
        items = [e for e in self._events if actor is None or e.actor == actor]
        return items[-limit:] if limit else items

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` on every lifecycle event; returns the function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def record(
        self,
        kind: LifecycleKind,
        ref: AnyRef,
        reason: ExitReason | None = None,
        *,
        child: str | None = None,
        restart_at_ms: int | None = None,
    ) -> None:
        """Record a lifecycle event about ``ref`` (supervisors report restarts this way)."""
        if child is None and restart_at_ms is None:
            self._emit_cell(kind, ref._cell, reason)
        else:
            self._emit(kind, ref._cell, reason, child=child, restart_at_ms=restart_at_ms)

    def record_refusals(self, tenant: str | None, budget: str, count: int) -> None:
        """Record that `count` requests of `tenant` were refused for its `budget`: an
        ``over_budget`` lifecycle event about no actor (the tenants' `RefusalDigest`
        makes at most one a second per tenant and budget, so a flood cannot fill the
        ring)."""
        self._emit("over_budget", None, None, tenant=tenant, budget=budget, count=count)

    @property
    def long_handler(self) -> float | None:
        """The watchdog's threshold in seconds, or None when it is off."""
        return self._long_handler

    def watch_long_handlers(self, threshold: float | None) -> None:
        """Report every actor that holds the loop longer than ``threshold`` seconds.

        Erlang's ``system_monitor`` ``long_schedule``: one batch of messages an actor
        handles without yielding the loop (sync handlers; up to ``throughput`` of them) is
        timed; past the threshold it is a ``long_handler`` lifecycle event (actor,
        ``message_type``: the batch's first message and how many more it held, and
        ``duration_ms``) and a warning in the log. None turns the watchdog off (the
        default): a batch then pays one attribute test, a message nothing. Durations are
        read on the loop clock, so on the deterministic loop (virtual time: a handler takes
        none) nothing is ever reported. Async handlers are not timed: the loop is theirs
        only between awaits.
        """
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not threshold > 0
            or threshold == float("inf")
        ):
            raise ValueError(
                f"the long-handler threshold must be a number of seconds > 0 or None, "
                f"got {threshold!r}"
            )
        self._long_handler = None if threshold is None else float(threshold)

    def install_tap(self, tap: Tap | None) -> None:
        """Install (or remove, with None) the instrumentation hook; see ``kernel._tap``."""
        self._tap = tap

    # -- kernel callbacks (called by cells) -------------------------------------------------

    def _on_started(self, cell: Cell) -> None:
        waiters = self._start_waiters.pop(cell.id, None)
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    def _on_exit(self, cell: Cell, reason: ExitReason, was_starting: bool) -> None:
        self._cells.pop(cell.id, None)
        if self._start_waiters:
            # Waiters still here never saw it start (``_on_started`` takes them): failed.
            for waiter in self._start_waiters.pop(cell.id, ()):
                if not waiter.done():
                    waiter.set_result(False)
        self.registry.release(cell)
        parent = cell.parent
        if parent is not None and parent.children is not None:
            parent.children.discard(cell)
        if cell.children:
            # Children outlive a parent they are not linked to (Erlang); they move up.
            for child in cell.children:
                child.parent = parent
                if parent is not None:
                    parent.adopt(child)
            cell.children = None
        self.messages_processed_by_exited += cell.processed
        if self._tap is not None:
            self._tap.on_exit(cell, reason)
        kind: LifecycleKind = "start_failed" if was_starting else "exited"
        self._emit_cell(kind, cell, reason)

    def _dead_letter(self, cell: Cell, message: object) -> None:
        self.dead_letters += 1
        logger.debug("dead letter to %s: %s", cell.label, type(message).__qualname__)

    def _log_crash(self, cell: Cell, exc: BaseException, during: str | None) -> None:
        where = f" while handling {during}" if during else ""
        if is_transient(exc):  # expected and retried: the retrying side says it, once
            logger.debug("%s crashed%s: %s", cell.label, where, format_reason(exc), exc_info=exc)
            return
        logger.error("%s crashed%s: %s", cell.label, where, format_reason(exc), exc_info=exc)

    def _long_handler_seen(self, cell: Cell, first: object, handled: int, held: float) -> None:
        name = type(first).__qualname__ if first is not None else "on_start"
        if handled > 1:
            name += f" (+{handled - 1} more in the same batch)"
        ms = round(held * 1000, 3)
        logger.warning(
            "%s held the event loop %.1f ms handling %s (watchdog threshold %.1f ms)",
            cell.label,
            ms,
            name,
            (self._long_handler or 0.0) * 1000,
        )
        self._emit("long_handler", cell, None, message_type=name, duration_ms=ms)

    def _next_monitor_id(self) -> int:
        self._monitor_seq += 1
        return self._monitor_seq

    def _emit(
        self,
        kind: LifecycleKind,
        cell: Cell | None,
        reason: ExitReason | None,
        *,
        child: str | None = None,
        restart_at_ms: int | None = None,
        message_type: str | None = None,
        duration_ms: float | None = None,
        tenant: str | None = None,
        budget: str | None = None,
        count: int | None = None,
    ) -> None:
        self._event_seq += 1
        event = LifecycleEvent(
            seq=self._event_seq,
            at_ms=self._clock.wall_ms() if self._clock is not None else 0,
            kind=kind,
            actor=cell.id if cell is not None else 0,
            name=cell.name if cell is not None else None,
            actor_kind=type(cell.actor).__qualname__ if cell is not None else "ActorSystem",
            parent=cell.parent.id if cell is not None and cell.parent is not None else None,
            reason=format_reason(reason) if reason is not None else None,
            child=child,
            restart_at_ms=restart_at_ms,
            message_type=message_type,
            duration_ms=duration_ms,
            tenant=tenant,
            budget=budget,
            count=count,
        )
        self._events.append(event)
        if self._listeners:
            self._notify(event)

    def _emit_cell(self, kind: LifecycleKind, cell: Cell, reason: ExitReason | None) -> None:
        """``_emit`` for the events of every actor's life (spawned, exited), without the
        optional fields: this is on the spawn path."""
        self._event_seq += 1
        parent = cell.parent
        event = LifecycleEvent(
            seq=self._event_seq,
            at_ms=self._clock.wall_ms(),  # type: ignore[union-attr]  # running: set
            kind=kind,
            actor=cell.id,
            name=cell.name,
            actor_kind=type(cell.actor).__qualname__,
            parent=parent.id if parent is not None else None,
            reason=format_reason(reason) if reason is not None else None,
        )
        self._events.append(event)
        if self._listeners:
            self._notify(event)

    def _notify(self, event: LifecycleEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("lifecycle listener %r failed", listener)


def _kill_if_alive(cell: Cell) -> None:
    """A stop timeout ran out: kill the actor (untrappable, as OTP's brutal kill)."""
    if cell.status is not DEAD:
        cell.signal_exit(None, KILL)


def _describe(cell: Cell) -> ActorInfo:
    status: ActorStatus
    if cell.status is RUNNING:
        status = "busy" if cell.scheduled else "idle"
    elif cell.status is STARTING:
        status = "starting"
    elif cell.status is STOPPING:
        status = "stopping"
    else:
        status = "exited"
    return ActorInfo(
        id=cell.id,
        name=cell.name,
        kind=type(cell.actor).__qualname__,
        parent=cell.parent.id if cell.parent is not None else None,
        children=sorted(c.id for c in cell.children) if cell.children else [],
        links=sorted(c.id for c in cell.linked()),
        monitors=sorted(t.id for t in cell.monitored()),
        monitored_by=sorted(w.id for w in cell.monitored_by()),
        mailbox=cell.queued(),
        processed=cell.processed,
        dropped=cell.dropped,
        restarts=cell.restarts,
        status=status,
        trap_exit=cell.traps_exits(),
        last_crash=format_reason(cell.last_crash) if cell.last_crash is not None else None,
        exit_reason=cell.describe_reason(),
        tenant=getattr(cell.actor, "tenant", None),
        remark=getattr(cell.actor, "remark", None),
    )
