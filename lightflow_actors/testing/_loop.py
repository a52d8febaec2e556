"""``DeterministicLoop``: an asyncio loop with a virtual clock and a chosen callback order.

Plain asyncio runs every ready callback in FIFO order, then polls I/O, then fires due
timers. This loop runs *one* ready callback per iteration, picked by a ``Strategy``, and
when nothing is ready it jumps virtual time to the next timer instead of sleeping. So
``asyncio.sleep(3600)`` returns at once with ``loop.time()`` an hour later, and the same
strategy with the same seed replays the same callback order.

What the strategy chooses between is an *operation*, not a single callback: all callbacks
of one actor (its ``_run``, its handler tasks, exit signals and timers aimed at it) form
one operation, each other task is one, and the loop's remaining callbacks form one. Within
an operation callbacks keep FIFO order, which asyncio promises and runtime code relies on;
across operations any order is possible, which is what real timing would also allow.

Real I/O is refused: sockets, DNS, subprocesses, pipes, signals and threads raise
``RealIOForbidden`` naming what to simulate instead.
"""

from __future__ import annotations

import asyncio
import heapq
import sys
import threading
import weakref
from asyncio import format_helpers
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from contextvars import Context, copy_context
from typing import TypeVar, cast

from ..kernel._cell import Cell
from ..kernel._timers import Timer
from ._blocking import BlockingPolicy
from ._errors import (
    CallbackFailed,
    Deadlock,
    RealIOForbidden,
    StepLimitExceeded,
    VirtualTimeLimitExceeded,
)
from ._strategies import FifoStrategy, Operation, RandomStrategy, Strategy

T = TypeVar("T")

LOOP_OPERATION: Operation = ("loop", 0)


class _Handle(asyncio.Handle):
    """``asyncio.Handle``, built reading the loop's debug flag instead of calling
    ``get_debug()``: one method call less per scheduled callback."""

    __slots__ = ()

    def __init__(
        self,
        callback: Callable[..., object],
        args: Sequence[object],
        loop: asyncio.AbstractEventLoop,
        context: Context | None = None,
    ) -> None:
        self._context = context if context is not None else copy_context()
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = (
            format_helpers.extract_stack(sys._getframe(1))
            if loop._debug  # type: ignore[attr-defined]
            else None
        )


# The coroutines of a cell's own tasks: they belong to that actor's operation.
_CELL_CODES = frozenset(
    fn.__code__ for fn in (Cell._run_async, Cell._start_async, Cell._stop_async)
)


class DeterministicLoop(asyncio.BaseEventLoop):
    """An event loop whose time is virtual and whose callback order a strategy picks.

    ::

        loop = DeterministicLoop(RandomStrategy(seed=7))
        loop.run_until_complete(main())   # sleeps and timeouts take no wall time
        loop.close()
    """

    # BaseEventLoop internals this loop drives (set by BaseEventLoop.__init__).
    _ready: deque[asyncio.Handle]
    _scheduled: list[asyncio.TimerHandle]
    _stopping: bool
    _timer_cancelled_count: int

    def __init__(
        self,
        strategy: Strategy | None = None,
        *,
        blocking: BlockingPolicy | None = None,
        max_steps: int | None = None,
        max_virtual_time: float | None = None,
    ) -> None:
        super().__init__()
        self.strategy: Strategy = strategy or FifoStrategy()
        self.blocking = blocking or BlockingPolicy()
        self.max_steps = max_steps
        self.max_virtual_time = max_virtual_time
        self.steps = 0
        """Callbacks run so far."""
        self.choices: list[int] = []
        """The index chosen at each step that had more than one ready operation."""
        self.widths: list[int] = []
        """How many operations were ready at each of those steps."""
        self.callback_errors: list[str] = []
        self.on_idle: Callable[[], None] | None = None
        """Called when no callback is ready, before virtual time jumps to the next timer
        (the simulation's hang and liveness checks); it may raise to end the run."""
        self._now = 0.0
        self._task_ops: weakref.WeakKeyDictionary[asyncio.Task[object], Operation] = (
            weakref.WeakKeyDictionary()
        )
        self._task_seq = 0
        # The ready callbacks, per operation, each with the step it was queued at. The
        # dict holds only operations with a callback waiting; ``self._ready`` stays empty.
        self._queues: dict[Operation, deque[tuple[int, asyncio.Handle]]] = {}
        self._loop_thread: int | None = None

    # -- time ---------------------------------------------------------------------------

    def time(self) -> float:
        return self._now

    # -- the scheduler ------------------------------------------------------------------

    def run_forever(self) -> None:
        self._loop_thread = ident = threading.get_ident()
        _forbid_threads(ident, self)
        try:
            super().run_forever()
        finally:
            _allow_threads(ident)

    @property
    def ready_count(self) -> int:
        """Callbacks waiting to run (cancelled ones included until they are skipped)."""
        return sum(len(q) for q in self._queues.values())

    def _run_once(self) -> None:
        # BaseEventLoop.run_forever calls this until the loop is stopping. Each pass of the
        # inner loop runs one callback; it returns to run_forever only when stopping, so a
        # step costs no more than the choice itself. (The strategy is read once: it is only
        # swapped between runs, when the clean-up goes FIFO.)
        queues = self._queues
        scheduled = self._scheduled
        strategy = self.strategy
        choices = self.choices
        widths = self.widths
        limit = self.max_steps if self.max_steps is not None else -1
        draw = strategy.draw if type(strategy) is RandomStrategy else None
        while True:
            if scheduled and scheduled[0]._when <= self._now:  # type: ignore[attr-defined]
                self._promote_due_timers()
            if not queues:
                if self._stopping:
                    return
                if self.on_idle is not None:
                    self.on_idle()
                self._advance_time()
            width = len(queues)
            if width == 1:
                op, queue = next(iter(queues.items()))
            elif width == 2:
                # The common case, without building and sorting a candidate list.
                (op, queue), (other, other_queue) = queues.items()
                head, other_head = queue[0], other_queue[0]
                if head[1]._cancelled or other_head[1]._cancelled:
                    self._drop_cancelled_heads()
                    continue
                # ``(head[0], op) > (other_head[0], other)``, without building two tuples.
                queued, other_queued = head[0], other_head[0]
                if queued > other_queued or (queued == other_queued and op > other):
                    op, queue, other, other_queue = other, other_queue, op, queue
                if draw is not None:
                    pick = 1 if draw() >= 0.5 else 0  # int(draw() * 2)
                else:
                    pick = strategy.choose((op, other), self.steps)
                if pick:
                    op, queue = other, other_queue
                choices.append(pick)
                widths.append(2)
            else:
                # Candidates in a canonical order: by the step their oldest callback was
                # queued at, then by operation. Callbacks queued in one step may come from
                # iterating a set (whose order follows memory addresses); the sort keeps
                # replays identical.
                candidates = [(q[0][0], o) for o, q in queues.items() if not q[0][1]._cancelled]
                if len(candidates) != len(queues):
                    self._drop_cancelled_heads()
                    continue  # nothing ran: choose again among what is left
                candidates.sort()
                if draw is not None:
                    pick = int(draw() * width)  # RandomStrategy.choose, without the call
                    op = candidates[pick][1]
                else:
                    ops = [o for _, o in candidates]
                    pick = strategy.choose(ops, self.steps)
                    op = ops[pick]
                choices.append(pick)
                widths.append(width)
                queue = queues[op]
            handle = queue.popleft()[1]
            if not queue:
                del queues[op]
            if handle._cancelled:
                continue
            steps = self.steps = self.steps + 1
            if steps == limit + 1:
                raise StepLimitExceeded(limit, self._now)
            # Handle._run, inlined (one frame less per step); errors go where it sends them.
            try:
                handle._context.run(handle._callback, *handle._args)  # type: ignore[attr-defined]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._callback_raised(handle, exc)
            if self._stopping:
                return

    def _callback_raised(self, handle: asyncio.Handle, exc: BaseException) -> None:
        callback = handle._callback  # type: ignore[attr-defined]
        args = handle._args
        source = format_helpers._format_callback_source(callback, args)
        self.call_exception_handler(
            {"message": f"Exception in callback {source}", "exception": exc, "handle": handle}
        )

    def _drop_cancelled_heads(self) -> None:
        for op in list(self._queues):
            queue = self._queues[op]
            while queue and queue[0][1]._cancelled:
                queue.popleft()
            if not queue:
                del self._queues[op]

    def _enqueue(self, handle: asyncio.Handle) -> None:
        op = self._operation(handle._callback)  # type: ignore[attr-defined]
        queue = self._queues.get(op)
        if queue is None:
            queue = self._queues[op] = deque()
        queue.append((self.steps, handle))

    def call_soon(
        self, callback: Callable[..., object], *args: object, context: Context | None = None
    ) -> asyncio.Handle:
        # The whole of BaseEventLoop.call_soon, without its second frame: every message
        # an actor is sent goes through here.
        if self._closed:  # type: ignore[attr-defined]
            raise RuntimeError("Event loop is closed")
        if self._debug:  # type: ignore[attr-defined]
            self._check_thread()  # type: ignore[attr-defined]
        return self._call_soon(callback, args, context)

    def _call_soon(
        self, callback: Callable[..., object], args: Sequence[object], context: Context | None
    ) -> asyncio.Handle:
        handle = _Handle(callback, args, self, context)
        owner = getattr(callback, "__self__", None)
        if owner is None:
            op = LOOP_OPERATION
        else:
            op = ("actor", owner.id) if type(owner) is Cell else self._operation(callback)
        queue = self._queues.get(op)
        if queue is None:
            queue = self._queues[op] = deque()
        queue.append((self.steps, handle))
        return handle

    def close(self) -> None:
        if not self.is_running():
            self._queues.clear()
        super().close()

    def create_task(  # type: ignore[override]
        self,
        coro: Coroutine[object, object, T],
        *,
        name: str | None = None,
        context: Context | None = None,
    ) -> asyncio.Task[T]:
        task = super().create_task(coro, name=name, context=context)
        # Number tasks in creation order (program order), not in the order their callbacks
        # are first seen, so operation names are the same in every replay.
        self._task_operation(task)
        return task

    def _promote_due_timers(self) -> None:
        scheduled = self._scheduled
        now = self._now
        while scheduled and scheduled[0]._when <= now:  # type: ignore[attr-defined]
            handle = heapq.heappop(scheduled)
            if handle._cancelled:
                self._timer_cancelled_count -= 1
                continue
            handle._scheduled = False  # type: ignore[attr-defined]
            self._enqueue(handle)

    def next_timer(self) -> float | None:
        """When the earliest live timer is due (None: no timer is pending)."""
        scheduled = self._scheduled
        while scheduled and scheduled[0]._cancelled:
            heapq.heappop(scheduled)
            self._timer_cancelled_count -= 1
        return scheduled[0]._when if scheduled else None  # type: ignore[attr-defined]

    def _advance_time(self) -> None:
        when = self.next_timer()
        if when is None:
            raise Deadlock(self._now, self._waiting())
        if self.max_virtual_time is not None and when > self.max_virtual_time:
            raise VirtualTimeLimitExceeded(self.max_virtual_time)
        self._now = max(self._now, when)
        self._promote_due_timers()

    def _operation(self, callback: Callable[..., object]) -> Operation:
        owner = getattr(callback, "__self__", None)
        if owner is None:
            return LOOP_OPERATION
        kind = type(owner)
        if kind is Cell:
            return ("actor", cast(Cell, owner).id)
        if kind is Timer:
            return ("actor", cast(Timer, owner).target.id)
        if isinstance(owner, asyncio.Task):
            return self._task_operation(owner)
        return LOOP_OPERATION

    def _task_operation(self, task: asyncio.Task[object]) -> Operation:
        op = self._task_ops.get(task)
        if op is None:
            coro = task.get_coro()
            frame = getattr(coro, "cr_frame", None)
            cell = frame.f_locals.get("self") if frame is not None else None
            if getattr(coro, "cr_code", None) in _CELL_CODES and isinstance(cell, Cell):
                op = ("actor", cell.id)
            else:
                self._task_seq += 1
                op = ("task", self._task_seq)
            self._task_ops[task] = op
        return op

    def _waiting(self) -> list[str]:
        out = []
        for task in asyncio.all_tasks(self):
            coro = task.get_coro()
            frame = getattr(coro, "cr_frame", None)
            where = f" at line {frame.f_lineno}" if frame is not None else ""
            name = getattr(coro, "__qualname__", repr(coro))
            out.append(f"task {name}{where}")
        return sorted(out)

    # -- errors in callbacks ------------------------------------------------------------

    def call_exception_handler(self, context: dict[str, object]) -> None:
        if self.is_closed() and str(context.get("message", "")).startswith(
            "Task was destroyed but it is pending"
        ):
            # A run whose clean-up was cut short (a livelock past its step budget) leaves
            # tasks that are collected later: the run's verdict is already in its result.
            return
        if "handle" in context or str(context.get("message", "")).startswith("Exception in"):
            exc = context.get("exception")
            detail = f"{type(exc).__name__}: {exc}" if exc is not None else context.get("message")
            self.callback_errors.append(str(detail))
        super().call_exception_handler(context)

    def raise_callback_errors(self) -> None:
        if self.callback_errors:
            raise CallbackFailed(self.callback_errors[0])

    # -- threads and blocking work ------------------------------------------------------

    def run_in_executor(
        self, executor: Executor | None, func: Callable[..., T], *args: object
    ) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self.create_future()
        try:
            result = self.blocking.call("run_in_executor", func, *args)
        except RealIOForbidden:
            raise
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def call_soon_threadsafe(
        self, callback: Callable[..., object], *args: object, context: Context | None = None
    ) -> asyncio.Handle:
        if self._loop_thread is not None and threading.get_ident() != self._loop_thread:
            raise RealIOForbidden(
                "call_soon_threadsafe from another thread",
                "a thread's completion time is not under the scheduler's control; "
                "simulate the thread's work (Scenario(blocking=...)) instead",
            )
        return super().call_soon_threadsafe(callback, *args, context=context)

    def _write_to_self(self) -> None:
        """No self-pipe: this loop never sleeps in a selector, so nothing must wake it."""

    def _process_events(self, event_list: list[object]) -> None:
        """No selector, so no I/O events."""


_IO_REFUSALS: dict[str, str] = {
    "create_connection": "open no socket; simulate the peer with an actor (a simulated adapter)",
    "create_server": "listen on no socket; drive the server's actors with messages instead",
    "create_datagram_endpoint": "open no socket; simulate the peer with an actor",
    "create_unix_connection": "open no socket; simulate the peer with an actor",
    "create_unix_server": "listen on no socket; drive the server's actors with messages",
    "connect_accepted_socket": "use no socket; simulate the peer with an actor",
    "getaddrinfo": "resolve no name; give the simulated adapter a fixed address",
    "getnameinfo": "resolve no name; give the simulated adapter a fixed name",
    "sock_recv": "use no socket; simulate the peer with an actor",
    "sock_recv_into": "use no socket; simulate the peer with an actor",
    "sock_sendall": "use no socket; simulate the peer with an actor",
    "sock_connect": "use no socket; simulate the peer with an actor",
    "sock_accept": "use no socket; simulate the peer with an actor",
    "sock_sendfile": "use no socket; simulate the peer with an actor",
    "sendfile": "use no transport; simulate the peer with an actor",
    "start_tls": "use no transport; simulate the peer with an actor",
    "subprocess_exec": "start no process; stub the subprocess with a simulated adapter actor",
    "subprocess_shell": "start no process; stub the subprocess with a simulated adapter actor",
    "connect_read_pipe": "use no pipe; stub it with a simulated adapter actor",
    "connect_write_pipe": "use no pipe; stub it with a simulated adapter actor",
    "add_reader": "watch no file descriptor; stub the I/O with a simulated adapter actor",
    "add_writer": "watch no file descriptor; stub the I/O with a simulated adapter actor",
    "add_signal_handler": "install no signal handler; send the actor the message directly",
}


def _refusal(name: str, hint: str) -> Callable[..., object]:
    def refuse(self: DeterministicLoop, *args: object, **kwargs: object) -> object:
        raise RealIOForbidden(f"loop.{name}()", hint)

    refuse.__name__ = name
    refuse.__doc__ = f"Refused under simulation: {hint}."
    return refuse


# Installed after the class body so each refusal keeps the stdlib signature for type
# checkers while raising at run time; the table above is the one place to extend.
for _name, _hint in _IO_REFUSALS.items():
    setattr(DeterministicLoop, _name, _refusal(_name, _hint))


# -- the thread guard ---------------------------------------------------------------------

_guard_lock = threading.Lock()
_guarded: dict[int, DeterministicLoop] = {}
_original_start: Callable[[threading.Thread], None] = threading.Thread.start


def _guarded_start(thread: threading.Thread) -> None:
    loop = _guarded.get(threading.get_ident())
    if loop is not None:
        raise RealIOForbidden(
            f"starting thread {thread.name!r}",
            "a thread finishes at a wall-clock time the scheduler does not control. Use "
            "self.run_blocking(fn) (simulated through Scenario(blocking={fn: fake}) or "
            "Scenario(allow_threads=True)) instead of anyio.to_thread or threading directly",
        )
    _original_start(thread)


def _forbid_threads(ident: int, loop: DeterministicLoop) -> None:
    """While ``loop`` runs, starting a thread from its thread raises ``RealIOForbidden``.

    ``threading.Thread.start`` is patched only while at least one deterministic loop runs,
    and only the threads running such a loop are refused. (Two plain calls rather than a
    context manager: every ``run_until_complete`` of every run goes through here.)
    """
    with _guard_lock:
        if not _guarded:
            setattr(threading.Thread, "start", _guarded_start)  # noqa: B010
        _guarded[ident] = loop


def _allow_threads(ident: int) -> None:
    with _guard_lock:
        _guarded.pop(ident, None)
        if not _guarded:
            setattr(threading.Thread, "start", _original_start)  # noqa: B010
