"""The cell: an actor's process state and its message loop.

Execution model (ADR 0001): an idle actor owns no task. Sending a message appends it to the
cell's deque and, if the cell is not already scheduled, schedules ``_run`` with
``loop.call_soon``. ``_run`` drains up to ``throughput`` messages, calling sync handlers
inline. An async handler with no ``await`` in its body (``HandlerEntry.eager``) runs
inline too, through the cell's driver generator, with no task (ADR 0076). Any other async
handler gets a task of its own; the cell stays "scheduled" until it finishes, so an actor
always handles one message at a time and in arrival order.

Invariants that must stay true:
- ``scheduled`` is True exactly while a ``_run`` call is pending or running, or a task of
  this cell is running. Only the owner of that state flips it back to False.
- Exit signals between cells are delivered with ``call_soon``, never inline, so a cell never
  dies while one of its own handlers is on the stack.
- After ``_finalize`` the mailbox is empty and stays empty; every pending ``ask`` has failed,
  and so has every deferred reply the actor still held (``ActorExited``): no asker waits
  for a dead actor until its timeout.
- ``reply_to`` holds the ``Call`` whose handler is running until ``defer`` takes it, and is
  None otherwise (while a ``tell`` is handled, between messages, after exit). The handler's
  return value answers its ask only if ``reply_to`` still holds the ``Call`` when it returns;
  a ``tell`` never touches the slot, so deferred replies cost the ``tell`` path nothing.
- A handler that raises ``Refused`` has answered (its ask raises it; a ``tell``'s refusal is
  logged and dropped); the actor goes on with the next message. Any other exception is a
  crash.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections import deque
from collections.abc import Coroutine, Generator
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, Never, TypeAlias, cast

from ._actor import Actor, ActorClassInfo, HandlerEntry
from ._errors import ActorExited, ActorNotAlive, MailboxFull, MessageDropped, Refused
from ._messages import Down, Exit
from ._reasons import KILL, KILLED, NOPROC, NORMAL, ExitReason, format_reason
from ._reply import Reply
from ._tap import Tap, current_cell

if TYPE_CHECKING:
    from ._ref import ActorRef
    from ._system import ActorSystem
    from ._timers import Timer

logger = logging.getLogger("lightflow_actors")

STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"
DEAD = "exited"


class Call:
    """A mailbox entry for ``ask``: the message and the future its reply resolves."""

    __slots__ = ("future", "message")

    def __init__(self, message: object, future: asyncio.Future[object]) -> None:
        self.message = message
        self.future = future


class QueuedStop:
    """A mailbox entry for ``ref.stop()``: stop once the messages before it are handled."""

    __slots__ = ("reason",)

    def __init__(self, reason: ExitReason) -> None:
        self.reason = reason


DONE = object()  # the driver's step: the handler returned (its value in ``cell.eager_value``)
FAILED = object()  # the driver's step: the handler raised (the exception in ``cell.eager_value``)


def _drive(cell: Cell) -> Generator[object, Any, None]:
    """A cell's driver for handlers that cannot suspend: send it a handler's coroutine,
    get back ``DONE`` (its return value in ``cell.eager_value``) or ``FAILED`` (the
    exception there).

    ``yield from`` runs the coroutine without the ``StopIteration`` an explicit
    ``coro.send(None)`` raises when it returns (that exception costs more than a whole
    sync ``tell``: 254 ns against 130 ns for the step).
    """
    coro = yield None
    while True:
        try:
            cell.eager_value = yield from coro
        except GeneratorExit:
            raise
        except BaseException as exc:
            cell.eager_value = exc
            coro = yield FAILED
        else:
            coro = yield DONE


# Lets ``_drive`` ``yield from`` a coroutine (sets the flag in place: same function).
types.coroutine(_drive)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, object], yielded: object) -> Generator[Any, Any, object]:
    """Go on with an ``eager_start`` handler, suspended at its first await, as a task.

    The handler's first step ran on the cell's step (ADR 0094) and yielded ``yielded`` (the
    future it waits for, or None for a bare yield). The task waits for that first, as it
    would have had it stepped the handler itself; then ``yield from`` delegates the rest
    exactly as ``await`` does. A cancellation (or any error the task throws in) while it
    waits for that first yield goes into the handler at its await.
    """
    while True:
        try:
            yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        # A coroutine is no Generator to mypy; ``yield from`` takes it (``_resume`` is a
        # ``types.coroutine``).
        result: object = yield from cast("Generator[Any, Any, object]", coro)
        return result


def _raised_stop_iteration(exc: StopIteration) -> RuntimeError:
    """PEP 479: a ``StopIteration`` raised in a coroutine's body leaves it as this error."""
    error = RuntimeError("coroutine raised StopIteration")
    error.__cause__ = exc
    return error


MonitorTable: TypeAlias = "tuple[int, Cell] | dict[int, Cell] | None"
"""A cell's monitors by id: none, one pair, or a dict of two or more."""


def _put(table: MonitorTable, monitor_id: int, cell: Cell) -> MonitorTable:
    """`table` with `monitor_id` -> `cell` added."""
    if table is None:
        return (monitor_id, cell)
    if type(table) is tuple:
        return {table[0]: table[1], monitor_id: cell}
    table[monitor_id] = cell  # type: ignore[index]
    return table


def _pop(table: MonitorTable, monitor_id: int) -> tuple[MonitorTable, Cell | None]:
    """`table` without `monitor_id` (back to a pair at one left), and its cell (None if
    `table` did not hold it)."""
    if table is None:
        return None, None
    if type(table) is tuple:
        return (None, table[1]) if table[0] == monitor_id else (table, None)
    assert isinstance(table, dict)
    cell = table.pop(monitor_id, None)
    if cell is not None and len(table) < 2:
        return (next(iter(table.items())) if table else None), cell
    return table, cell


def _entries(table: MonitorTable) -> tuple[tuple[int, Cell], ...]:
    """The (monitor id, cell) pairs of `table` (a copy: callers change tables meanwhile)."""
    if table is None:
        return ()
    if type(table) is tuple:
        return (table,)
    assert isinstance(table, dict)
    return tuple(table.items())


class Cell:
    __slots__ = (
        "_mailbox",
        "actor",
        "capacity",
        "children",
        "deferred",
        "dropped",
        "eager",
        "eager_value",
        "exit_reason",
        "exit_waiters",
        "handlers",
        "id",
        "info",
        "last_crash",
        "links",
        "loop",
        "monitors",
        "name",
        "overflow",
        "parent",
        "pending_exit",
        "processed",
        "ref",
        "reply_to",
        "restarts",
        "scheduled",
        "send_waiters",
        "status",
        "stop_reason",
        "system",
        "task",
        "timers",
        "trap_exit",
        "watchers",
    )

    def __init__(
        self,
        system: ActorSystem,
        cell_id: int,
        actor: Actor[Never],
        info: ActorClassInfo,
        name: str | None,
        parent: Cell | None,
        capacity: int | None,
        overflow: str,
        trap_exit: bool | None,
    ) -> None:
        from ._ref import ActorRef

        self.system = system
        self.loop = system.loop
        self.id = cell_id
        self.actor = actor
        self.info = info
        self.handlers = info.handlers
        self.name = name
        self.parent = parent
        self.capacity = capacity
        self.overflow = overflow
        self.trap_exit = trap_exit
        # Made by a message and dropped once drained: an idle actor holds none.
        self._mailbox: deque[object] | None = None
        self.scheduled = False
        self.status = RUNNING
        self.children: set[Cell] | None = None
        # One linked cell, or a set of two or more (see ``_add_link``): most actors hold
        # a single link, to their supervisor, and a set would cost 216 bytes each.
        self.links: Cell | set[Cell] | None = None
        # Monitors this cell holds, and monitors held on it: None, one (id, cell) pair, or
        # a dict of two or more (see `_put`): most actors hold one or none, and a dict
        # costs ~230 bytes, a pair 56 (a live session and its transport hold four).
        self.monitors: MonitorTable = None
        self.watchers: MonitorTable = None
        # Its pending timers (`send_after` with this actor as owner): one Timer, or a set
        # of two or more (a set costs ~216 bytes; most actors hold one or none).
        self.timers: Timer | set[Timer] | None = None
        self.send_waiters: deque[tuple[asyncio.Future[None], object]] | None = None
        self.exit_waiters: list[asyncio.Future[None]] | None = None
        self.processed = 0
        self.dropped = 0
        self.restarts = 0
        self.last_crash: BaseException | None = None
        self.exit_reason: ExitReason | None = None
        self.stop_reason: ExitReason | None = None
        self.pending_exit: tuple[ExitReason, bool] | None = None
        self.task: asyncio.Task[None] | None = None
        # The Call being handled, until ``defer`` takes it (see the module's invariants).
        self.reply_to: Call | None = None
        # The async-handler driver (``_drive``), created on first use; None while parked.
        self.eager: Generator[object, Any, None] | None = None
        self.eager_value: object = None
        # Asks whose reply a handler deferred and no one has answered yet: the asker's
        # future -> its message. Created on first ``defer``; ``_finalize`` fails them all.
        self.deferred: dict[asyncio.Future[object], object] | None = None
        self.ref: ActorRef[object] = ActorRef(self)
        actor._cell = self

    # -- naming ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        kind = type(self.actor).__qualname__
        return f"{kind}<{self.id}:{self.name}>" if self.name else f"{kind}<{self.id}>"

    @property
    def mailbox(self) -> deque[object]:
        """The mailbox (created here if no message has arrived yet).

        The kernel reads ``_mailbox`` (None until the first message, and again whenever
        the actor has drained it) instead; tools that only look should test ``queued()``
        first, so that looking allocates nothing.
        """
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        return mailbox

    def queued(self) -> int:
        """How many items wait in the mailbox."""
        mailbox = self._mailbox
        return len(mailbox) if mailbox is not None else 0

    def traps_exits(self) -> bool:
        return self.trap_exit if self.trap_exit is not None else bool(self.actor.trap_exit)

    # -- kernel tasks ---------------------------------------------------------------------

    def _task(
        self,
        coro: Coroutine[object, object, None],
        message: object = None,
        future: asyncio.Future[object] | None = None,
        parked: Coroutine[Any, Any, object] | None = None,
    ) -> asyncio.Task[None]:
        """Run ``on_start``/an async handler/``on_stop`` as the cell's task.

        Each coroutine finishes the cell's exit in its own ``except CancelledError``; but
        a task cancelled before its first step (``_abort`` right after it was created, e.g.
        a link's exit signal queued before ``request_stop``) never enters its coroutine,
        so ``_task_done`` does that work instead, or the cell would stay ``stopping``.
        ``parked`` is an ``eager_start`` handler already started (ADR 0094) that the task
        was to resume: such a task closes it, at the await where it stopped.
        """
        task = self.loop.create_task(coro)
        task.add_done_callback(lambda t: self._task_done(t, message, future, parked))
        return task

    def _task_done(
        self,
        task: asyncio.Task[None],
        message: object,
        future: asyncio.Future[object] | None,
        parked: Coroutine[Any, Any, object] | None,
    ) -> None:
        if self.task is not task or not task.cancelled():
            return  # the coroutine ran and settled the cell itself
        if parked is not None:
            parked.close()
        self._task_cancelled(message, future)

    def _task_cancelled(self, message: object, future: asyncio.Future[object] | None) -> None:
        """The cell's task was cancelled (``_abort``): fail its ``ask``, finish the exit."""
        self.task = None
        if future is not None and not future.done():
            reason = self.pending_exit[0] if self.pending_exit else KILLED
            future.set_exception(ActorExited(self.label, message, reason))
        self._finish_pending_exit()

    # -- starting -------------------------------------------------------------------------

    def begin(self) -> None:
        """Run ``on_start`` (if the class has one) before any message."""
        if not self.info.has_on_start:
            return
        self.status = STARTING
        self.scheduled = True
        self.loop.call_soon(self._start)

    def _start(self) -> None:
        if self.status is not STARTING:
            return
        if self.info.async_on_start:
            self.task = self._task(self._start_async())
            return
        try:
            if self.system._tap is None:
                self.actor.on_start()
            else:
                token = current_cell.set(self)
                try:
                    self.actor.on_start()
                finally:
                    current_cell.reset(token)
        except Exception as exc:
            self._start_failed(exc)
            return
        self._started()

    async def _start_async(self) -> None:
        if self.system._tap is not None:
            current_cell.set(self)  # this task's own context
        try:
            await self.actor.on_start()  # type: ignore[misc]
        except asyncio.CancelledError:
            self._task_cancelled(None, None)
            return
        except Exception as exc:
            self.task = None
            self._start_failed(exc)
            return
        self.task = None
        if self.pending_exit is not None:
            self._finish_pending_exit()
            return
        self._started()

    def _started(self) -> None:
        self.status = RUNNING
        self.system._on_started(self)
        self._run()

    def _start_failed(self, exc: Exception) -> None:
        self.last_crash = exc
        self.system._log_crash(self, exc, during="on_start")
        # OTP: a failing init does not call terminate.
        self._finalize(exc)

    # -- delivery -------------------------------------------------------------------------

    def enqueue(self, item: object) -> None:
        """Queue a user message (or ``Call``) under the mailbox's overflow policy."""
        if self.status is DEAD:
            self.system._dead_letter(self, item)
            return
        tap = self.system._tap
        if tap is not None:
            if tap.on_send(current_cell.get(), self, item):
                self.append(item)
            return
        # ``append`` inlined: every tell and ask comes this way.
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        elif (
            self.capacity is not None
            and len(mailbox) >= self.capacity
            and not self._overflow(mailbox, item)
        ):
            return
        mailbox.append(item)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._run)

    def append(self, item: object) -> None:
        """Queue ``item`` past the tap (the tap re-delivers delayed messages this way)."""
        if self.status is DEAD:
            self.system._dead_letter(self, item)
            return
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        elif (
            self.capacity is not None
            and len(mailbox) >= self.capacity
            and not self._overflow(mailbox, item)
        ):
            return
        mailbox.append(item)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._run)

    def deliver_signal(self, item: object) -> None:
        """Queue a kernel signal (Exit, Down, timer, stop): never dropped, never refused."""
        if self.status is DEAD:
            return
        mailbox = self._mailbox
        if mailbox is None:
            mailbox = self._mailbox = deque()
        mailbox.append(item)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._run)

    def deliver_timer(self, message: object) -> None:
        if self.status is DEAD:
            self.system._dead_letter(self, message)
            return
        self.deliver_signal(message)

    def _overflow(self, mailbox: deque[object], item: object) -> bool:
        """Apply the overflow policy to a full mailbox; True means: queue ``item`` now."""
        policy = self.overflow
        capacity = self.capacity or 0
        if policy == "drop_oldest":
            dropped = mailbox.popleft()
            self.dropped += 1
            if type(dropped) is Call and not dropped.future.done():
                dropped.future.set_exception(MessageDropped(self.label, dropped.message))
            return True
        if policy == "drop_newest":
            self.dropped += 1
            if type(item) is Call and not item.future.done():
                item.future.set_exception(MessageDropped(self.label, item.message))
            return False
        if policy == "fail":
            raise MailboxFull(self.label, capacity, "the sender must retry later or shed load")
        raise MailboxFull(
            self.label, capacity, "use `await ref.send(msg)` to wait for room (policy 'await')"
        )

    async def send(self, item: object) -> None:
        """Queue ``item``, waiting for room when the mailbox is full under policy ``await``."""
        if (
            self.capacity is None
            or self.overflow != "await"
            or self.status is DEAD
            or self._mailbox is None
            or len(self._mailbox) < self.capacity
        ):
            self.enqueue(item)
            return
        if self.send_waiters is None:
            self.send_waiters = deque()
        future: asyncio.Future[None] = self.loop.create_future()
        self.send_waiters.append((future, item))
        await future

    def _admit_waiter(self) -> None:
        waiters = self.send_waiters
        while waiters:
            future, item = waiters.popleft()
            if not future.done():
                self.mailbox.append(item)
                future.set_result(None)
                return

    # -- the message loop -----------------------------------------------------------------

    def _run(self, watched: bool = False) -> None:
        if self.status is not RUNNING:
            return
        if not watched and self.system._long_handler is not None:
            self._run_watched()
            return
        mailbox = self._mailbox
        handlers = self.handlers
        actor = self.actor
        budget = self.system.throughput
        tap = self.system._tap
        if tap is not None and current_cell.get() is not self:
            # Set once per step and never reset: ``_run`` runs in a context of its own (a
            # callback's copy, or this cell's task), so the sends of its handlers, and of
            # what they schedule, name this cell. Per message, a set and a reset cost a
            # third of the simulation's own work per message (issue 17).
            current_cell.set(self)
        while mailbox:
            if self.stop_reason is not None:
                self._terminate(self.stop_reason, True)
                return
            if budget == 0:
                self.loop.call_soon(self._run)
                return
            budget -= 1
            item = mailbox.popleft()
            if self.send_waiters:
                self._admit_waiter()
            kind = type(item)
            if kind is Call:
                message = item.message  # type: ignore[attr-defined]
                future: asyncio.Future[object] | None = item.future  # type: ignore[attr-defined]
                self.reply_to = item  # type: ignore[assignment]
            elif kind is QueuedStop:
                self._terminate(item.reason, True)  # type: ignore[attr-defined]
                return
            else:
                message = item
                future = None
            entry = handlers.get(type(message))
            if entry is None:
                entry = self.info.resolve(type(message))
                if entry is None:
                    self._unhandled(message, future)
                    continue
            call = entry.call
            if call is None and entry.eager:
                # An async handler with no suspension point (ADR 0076) that has no flat
                # function (ADR 0106): its coroutine runs to its end here, on the cell's
                # step, handled exactly like a sync handler, with no task at all.
                driver = self.eager
                if driver is None:
                    driver = self._new_driver()
                if tap is None:
                    step = driver.send(entry.fn(actor, message))
                else:
                    step = self._step_tapped(tap, driver, entry, message, future)
                    if step is None:
                        return  # crashed by the tap
                value = self.eager_value
                self.eager_value = None
                self.processed += 1
                if step is DONE:
                    if future is not None and self.reply_to is not None:
                        self.reply_to = None  # not deferred: the return value is the reply
                        if not future.done():
                            future.set_result(value)
                    continue
                if step is not FAILED:  # it yielded: impossible for code without await
                    self.eager = None
                    driver.close()
                    value = RuntimeError(f"{entry.name} suspended although it has no await")
                if isinstance(value, Refused):
                    self._refused(value, message, future)
                    continue
                self._eager_failed(value, message, future)  # type: ignore[arg-type]
                return
            if call is None:
                if entry.eager_start:
                    if self._start_eagerly(entry, message, future, tap):
                        continue
                    return  # it waits for something (now the cell's task), or it crashed
                self.task = self._task(self._run_async(entry, message, future), message, future)
                return
            # A sync handler, or an eager one's flat function (ADR 0106).
            try:
                if tap is None:
                    result = call(actor, message)
                else:
                    tap.on_handle(self, message)
                    result = call(actor, message)
            except Refused as refusal:
                self.processed += 1
                self._refused(refusal, message, future)
                continue
            except Exception as exc:
                self.processed += 1
                if type(exc) is StopIteration and entry.is_async:
                    exc = _raised_stop_iteration(exc)  # what its coroutine would have raised
                self._crash(exc, message, future)
                return
            except BaseException as exc:
                if not entry.is_async:
                    raise
                self.processed += 1  # a flat function: as its coroutine's driver would
                self._eager_failed(exc, message, future)
                return
            self.processed += 1
            if future is not None and self.reply_to is not None:
                self.reply_to = None  # not deferred: the return value is the reply
                if not future.done():
                    future.set_result(result)
        self.scheduled = False
        # Drained: an idle actor holds no deque (~600 bytes even empty); the next message
        # makes one. Most actors of a node are idle most of the time (a live page's).
        self._mailbox = None
        if self.stop_reason is not None:
            self.scheduled = True
            self._terminate(self.stop_reason, True)

    def _run_watched(self) -> None:
        """``_run`` timed on the loop clock, for the watchdog (``watch_long_handlers``).

        One batch (up to ``throughput`` messages, without yielding the loop) is what
        Erlang's ``long_schedule`` times: one uninterrupted time slice of one process. Only
        the batch is timed, not each message: a clock read costs up to 0.4 us on some
        machines, more than a whole ``tell``. The report names the batch's first message
        and how many it handled. A virtual clock makes a handler take no time, so the
        deterministic loop never reports.
        """
        mailbox = self._mailbox
        first = mailbox[0] if mailbox else None
        if type(first) is Call:
            first = first.message
        before = self.processed
        clock = self.loop.time
        started = clock()
        try:
            self._run(True)
        finally:
            held = clock() - started
            threshold = self.system._long_handler
            if threshold is not None and held > threshold:
                self.system._long_handler_seen(self, first, self.processed - before, held)

    def _new_driver(self) -> Generator[object, Any, None]:
        driver = _drive(self)
        next(driver)
        self.eager = driver
        return driver

    def _step_tapped(
        self,
        tap: Tap,
        driver: Generator[object, Any, None],
        entry: HandlerEntry,
        message: object,
        future: asyncio.Future[object] | None,
    ) -> object:
        """The eager step under a tap (``_run`` has set ``current_cell``): the driver's
        step, or None once the tap crashed it."""
        try:
            tap.on_handle(self, message)
            return driver.send(entry.fn(self.actor, message))
        except Exception as exc:  # the tap injected a crash at this boundary
            self.processed += 1
            self._crash(exc, message, future)
            return None

    def _start_eagerly(
        self,
        entry: HandlerEntry,
        message: object,
        future: asyncio.Future[object] | None,
        tap: Tap | None,
    ) -> bool:
        """Step an ``eager_start`` handler (ADR 0094) on the cell's step, up to its first
        suspension. True: it finished (answered, refused), go on with the next message.
        False: it suspended (the cell's task now resumes it) or it crashed.

        ``coro.send`` rather than ADR 0076's driver: this handler may suspend, and its
        coroutine must then be resumed by a task of its own. Under a tap it runs only from
        ``_run``, which has set ``current_cell`` (``call_now`` never runs under a tap).
        """
        try:
            if tap is not None:
                tap.on_handle(self, message)
            coro = cast("Coroutine[Any, Any, object]", entry.fn(self.actor, message))
            yielded = coro.send(None)
        except StopIteration as stop:
            self.processed += 1
            if future is not None and self.reply_to is not None:
                self.reply_to = None  # not deferred: the return value is the reply
                if not future.done():
                    future.set_result(stop.value)
            return True
        except Refused as refusal:
            self.processed += 1
            self._refused(refusal, message, future)
            return True
        except BaseException as exc:
            self.processed += 1
            self._eager_failed(exc, message, future)
            return False
        # It awaits something pending: the rest of it runs as the cell's task, created
        # here so that under a tap the task's context names this cell too.
        started = (coro, yielded)
        self.task = self._task(
            self._run_async(entry, message, future, started), message, future, coro
        )
        return False

    def call_now(self, message: object) -> asyncio.Future[object] | None:
        """Handle the ask ``message`` now, on the caller's step, if this cell is idle and
        its handler is ``eager_start`` (ADR 0106); None otherwise (the caller asks).

        Idle: running, not scheduled (no ``_run`` pending, no task of this cell), so the
        mailbox is empty and nothing this actor was sent waits before ``message``: handling
        it now is the order an ask would have. The handler's first step runs exactly as
        ``_run`` would run it (``_start_eagerly``), in a copy of the caller's context (as
        ``call_soon`` would have given it); if it suspends, the cell's task takes it over
        and the cell stays busy until it ends. Not under a tap (the deterministic scheduler
        must see the send and choose when it is handled), not with the watchdog on, not
        from another loop. The returned future is done unless the handler suspended.
        """
        loop = self.loop
        if (
            self.scheduled
            or self.status is not RUNNING
            or self.system._tap is not None
            or self.system._long_handler is not None
            or asyncio._get_running_loop() is not loop
        ):
            return None
        entry = self.handlers.get(type(message))
        if entry is None or not entry.eager_start:
            return None
        future: asyncio.Future[object] = loop.create_future()
        self.scheduled = True
        self.reply_to = Call(message, future)
        if copy_context().run(self._start_eagerly, entry, message, future, None):
            # Answered (or refused): what arrived meanwhile runs as ``_run`` would run it.
            if self._mailbox or self.stop_reason is not None:
                loop.call_soon(self._run)
            else:
                self.scheduled = False
                self._mailbox = None  # empty: see ``_run``
        return future

    def _eager_failed(
        self, exc: BaseException, message: object, future: asyncio.Future[object] | None
    ) -> None:
        """An async handler raised ``exc`` (not ``Refused``); ``processed`` is counted."""
        if isinstance(exc, asyncio.CancelledError):
            # Cancelled (or raising CancelledError itself): the actor ends as killed,
            # or with the exit that cancelled it.
            self._task_cancelled(message, future)
        elif isinstance(exc, Exception):
            self.task = None
            self._crash(exc, message, future)
        else:
            raise exc  # KeyboardInterrupt, SystemExit: not the actor's to handle

    async def _run_async(
        self,
        entry: HandlerEntry,
        message: object,
        future: asyncio.Future[object] | None,
        started: tuple[Coroutine[Any, Any, object], object] | None = None,
    ) -> None:
        """An async handler as the cell's task; ``started``: an ``eager_start`` handler's
        coroutine and what it yielded at its first suspension, to resume (ADR 0094)."""
        try:
            tap = self.system._tap
            if tap is not None:
                current_cell.set(self)  # this task's own context
                if started is None:
                    tap.on_handle(self, message)
            if started is None:
                result = await entry.fn(self.actor, message)  # type: ignore[misc]
            else:
                result = await _resume(*started)
        except asyncio.CancelledError:
            self.processed += 1
            self._task_cancelled(message, future)
            return
        except Refused as refusal:
            self.task = None
            self.processed += 1
            self._refused(refusal, message, future)
        except Exception as exc:
            self.task = None
            self.processed += 1
            self._crash(exc, message, future)
            return
        else:
            self.task = None
            self.processed += 1
            if future is not None and self.reply_to is not None:
                self.reply_to = None  # not deferred: the return value is the reply
                if not future.done():
                    future.set_result(result)
        if self.pending_exit is not None:
            self._finish_pending_exit()
        elif self._mailbox:
            self._run()
        elif self.stop_reason is not None:
            self._terminate(self.stop_reason, True)
        else:
            self.scheduled = False
            self._mailbox = None  # empty: see ``_run``

    def _unhandled(self, message: object, future: asyncio.Future[object] | None) -> None:
        # Only kernel signals can get here (tell checks types): an actor that does not
        # declare a handler for Exit/Down ignores them, as a gen_server's default would.
        self.reply_to = None
        if future is not None and not future.done():
            future.set_exception(TypeError(f"{self.label} has no handler for {type(message)}"))
        logger.debug("%s ignored %s (no handler)", self.label, type(message).__qualname__)

    # -- replies --------------------------------------------------------------------------

    def defer(self, message: object) -> Reply[object]:
        """Take the reply to ``message``, the ask being handled; an inert handle otherwise.

        Inert: ``message`` came by ``tell``, its reply was already taken, or it is not the
        message being handled (``defer`` is called from its handler, before that returns).
        """
        call = self.reply_to
        if call is None or call.message is not message:
            return Reply(None, None)
        self.reply_to = None
        if self.deferred is None:
            self.deferred = {}
        self.deferred[call.future] = message
        return Reply(self, call.future)

    def _refused(
        self, refusal: Refused, message: object, future: asyncio.Future[object] | None
    ) -> None:
        """A handler raised ``Refused``: that answers its ask, deferred or not; no crash."""
        self.reply_to = None
        if future is not None:
            if self.deferred:
                self.deferred.pop(future, None)
            if not future.done():
                future.set_exception(refusal)
                return
        logger.debug(
            "%s refused %s with no asker waiting (%s): %s",
            self.label,
            type(message).__qualname__,
            refusal.reason,
            refusal,
        )

    # -- exiting --------------------------------------------------------------------------

    def request_stop(self, reason: ExitReason) -> None:
        """Stop after the current message (``self.stop()``, supervisor shutdown)."""
        if self.status is DEAD or self.status is STOPPING:
            return
        if self.status is STARTING:
            self._abort(reason, call_on_stop=False)
            return
        self.stop_reason = reason
        if not self.scheduled:
            self.scheduled = True
            self._terminate(reason, True)

    def enqueue_stop(self, reason: ExitReason) -> None:
        """Stop once every message already queued is handled (``ref.stop()``)."""
        self.deliver_signal(QueuedStop(reason))

    def signal_exit(self, sender: Cell | None, reason: ExitReason) -> None:
        """An exit signal arrives. Always via call_soon.

        ``sender`` is the linked cell that exited, or None for ``system.exit`` (Erlang's
        ``exit/2``). Only the latter makes ``kill`` untrappable (ending the cell as
        ``killed``): a linked actor that exited *itself* with ``kill`` sends an ordinary
        signal, trapped as ``Exit(sender, "kill")`` and otherwise fatal with ``kill``.
        """
        if self.status is DEAD:
            return
        if sender is None and isinstance(reason, str) and reason == KILL:
            self._abort(KILLED, call_on_stop=False)
            return
        if self.traps_exits():
            self.deliver_signal(Exit(sender.ref if sender is not None else None, reason))
            return
        if isinstance(reason, str) and reason == NORMAL and sender is not self:
            return
        self._abort(reason, call_on_stop=True)

    def _abort(self, reason: ExitReason, call_on_stop: bool) -> None:
        """Exit now: cancel whatever task runs, then (maybe) ``on_stop``, then finalize."""
        if self.status is DEAD:
            return
        task = self.task
        if task is not None and not task.done():
            was_stopping = self.status is STOPPING
            self.pending_exit = (reason, call_on_stop and not was_stopping)
            self.status = STOPPING
            self.scheduled = True
            task.cancel()
            return
        self.scheduled = True
        self._terminate(reason, call_on_stop)

    def _finish_pending_exit(self) -> None:
        # No pending exit means the task was cancelled from outside the kernel (the loop is
        # closing): treat it as a kill.
        reason, call_on_stop = self.pending_exit or (KILLED, False)
        self.pending_exit = None
        if self.status is DEAD:
            return
        self._terminate(reason, call_on_stop)

    def _crash(
        self, exc: BaseException, message: object, future: asyncio.Future[object] | None
    ) -> None:
        """A handler raised ``exc``: its ``ask`` (if any) fails with it, the actor exits."""
        self.reply_to = None
        if future is not None and not future.done():
            future.set_exception(ActorExited(self.label, message, exc))
        self.last_crash = exc
        self.system._log_crash(self, exc, during=type(message).__qualname__ if message else None)
        self.scheduled = True
        self._terminate(exc, True)

    def _terminate(self, reason: ExitReason, call_on_stop: bool) -> None:
        self.status = STOPPING
        if call_on_stop and self.info.has_on_stop:
            if self.info.async_on_stop:
                self.task = self._task(self._stop_async(reason))
                return
            token = current_cell.set(self) if self.system._tap is not None else None
            try:
                self.actor.on_stop(reason)
            except Exception as exc:
                self.system._log_crash(self, exc, during="on_stop")
            finally:
                if token is not None:
                    current_cell.reset(token)
        self._finalize(reason)

    async def _stop_async(self, reason: ExitReason) -> None:
        if self.system._tap is not None:
            current_cell.set(self)  # this task's own context
        try:
            await self.actor.on_stop(reason)  # type: ignore[misc]
        except asyncio.CancelledError:
            # Killed while stopping: the kill wins, as in OTP's brutal_kill after a timeout.
            pending = self.pending_exit
            self.pending_exit = None
            self.task = None
            self._finalize(pending[0] if pending else KILLED)
            return
        except Exception as exc:
            self.system._log_crash(self, exc, during="on_stop")
        self.task = None
        if self.status is not DEAD:
            self._finalize(reason)

    def _finalize(self, reason: ExitReason) -> None:
        if self.status is DEAD:
            return
        was_starting = self.status is STARTING
        self.status = DEAD
        self.scheduled = True
        self.exit_reason = reason
        self.task = None
        mailbox = self._mailbox
        while mailbox:
            item = mailbox.popleft()
            if type(item) is Call and not item.future.done():
                item.future.set_exception(ActorExited(self.label, item.message, reason))
        self.reply_to = None
        deferred = self.deferred
        if deferred:
            self.deferred = None
            for asked, message in deferred.items():
                if not asked.done():
                    asked.set_exception(ActorExited(self.label, message, reason))
        if self.send_waiters:
            for future, _ in self.send_waiters:
                if not future.done():
                    future.set_exception(ActorNotAlive(self.label, reason))
            self.send_waiters = None
        timers = self.timers
        if timers is not None:
            for timer in list(timers) if isinstance(timers, set) else (timers,):
                timer.cancel()
        loop = self.loop
        links = self.links
        if links is not None:
            self.links = None
            for other in links if isinstance(links, set) else (links,):
                other._drop_link(self)
                loop.call_soon(other.signal_exit, self, reason)
        watchers = self.watchers
        if watchers is not None:
            self.watchers = None
            for monitor_id, watcher in _entries(watchers):
                watcher.monitors = _pop(watcher.monitors, monitor_id)[0]
                watcher.deliver_signal(Down(self.ref, monitor_id, reason))
        monitors = self.monitors
        if monitors is not None:
            self.monitors = None
            for monitor_id, target in _entries(monitors):
                target.watchers = _pop(target.watchers, monitor_id)[0]
        self.system._on_exit(self, reason, was_starting)
        if self.exit_waiters:
            for future in self.exit_waiters:
                if not future.done():
                    future.set_result(None)
            self.exit_waiters = None

    def wait_exit(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self.loop.create_future()
        if self.status is DEAD:
            future.set_result(None)
        else:
            if self.exit_waiters is None:
                self.exit_waiters = []
            self.exit_waiters.append(future)
        return future

    def adopt(self, child: Cell) -> None:
        """Record ``child`` as this cell's child (the set is created on first use)."""
        if self.children is None:
            self.children = set()
        self.children.add(child)

    # -- links and monitors ---------------------------------------------------------------

    def link(self, other: Cell) -> None:
        if other is self:
            return
        if self.status is DEAD:
            # The linker is gone: the other side learns it at once, as Erlang's noproc.
            self.loop.call_soon(other.signal_exit, self, NOPROC)
            return
        if other.status is DEAD:
            self.loop.call_soon(self.signal_exit, other, NOPROC)
            return
        self._add_link(other)
        other._add_link(self)

    def unlink(self, other: Cell) -> None:
        self._drop_link(other)
        other._drop_link(self)

    def _add_link(self, other: Cell) -> None:
        links = self.links
        if links is None:
            self.links = other
        elif isinstance(links, set):
            links.add(other)
        elif links is not other:
            self.links = {links, other}

    def _drop_link(self, other: Cell) -> None:
        links = self.links
        if links is other:
            self.links = None
        elif isinstance(links, set):
            links.discard(other)
            if len(links) < 2:  # back to one link (or none): no set
                self.links = next(iter(links), None)

    def linked(self) -> tuple[Cell, ...]:
        """The cells linked to this one."""
        links = self.links
        if links is None:
            return ()
        return tuple(links) if isinstance(links, set) else (links,)

    def monitor(self, target: Cell) -> int:
        monitor_id = self.system._next_monitor_id()
        if self.status is DEAD:
            return monitor_id
        if target.status is DEAD:
            self.deliver_signal(Down(target.ref, monitor_id, NOPROC))
            return monitor_id
        self.monitors = _put(self.monitors, monitor_id, target)
        target.watchers = _put(target.watchers, monitor_id, self)
        return monitor_id

    def monitored(self) -> list[Cell]:
        """The cells this one monitors (one per monitor)."""
        return [cell for _, cell in _entries(self.monitors)]

    def monitored_by(self) -> list[Cell]:
        """The cells monitoring this one (one per monitor)."""
        return [cell for _, cell in _entries(self.watchers)]

    def demonitor(self, monitor_id: int) -> bool:
        self.monitors, target = _pop(self.monitors, monitor_id)
        if target is not None:
            target.watchers = _pop(target.watchers, monitor_id)[0]
        # Like erlang:demonitor(Ref, [flush]): a Down already queued is removed too.
        flushed = False
        mailbox = self._mailbox
        for item in list(mailbox) if mailbox else ():
            if type(item) is Down and item.monitor == monitor_id:
                mailbox.remove(item)  # type: ignore[union-attr]
                flushed = True
        return target is not None or flushed

    def describe_reason(self) -> str | None:
        return None if self.exit_reason is None else format_reason(self.exit_reason)
