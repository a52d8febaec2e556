"""``ActorRef[M]``: the only handle users hold on an actor.

``M`` is contravariant: a ref that accepts ``A | B`` can stand where a ref accepting only
``A`` is expected, and mypy rejects ``tell`` of a message outside ``M``. At run time ``tell``
checks the message type against the actor's dispatch table, so an untyped caller fails at
the call, not later inside the actor.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Never, TypeAlias, TypeVar

from ._cell import DEAD, Call, Cell
from ._errors import ActorNotAlive, UnhandledMessage
from ._messages import Ask
from ._reasons import NORMAL, ExitReason

M = TypeVar("M", contravariant=True)
R = TypeVar("R")

DEFAULT_ASK_TIMEOUT = 5.0


class ActorRef(Generic[M]):
    """A reference to a running (or exited) actor.

    >>> ref = system.spawn(Counter)
    >>> ref.tell(Inc(by=2))
    >>> await ref.ask(Get())
    2
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: Cell) -> None:
        self._cell = cell

    @property
    def id(self) -> int:
        return self._cell.id

    @property
    def name(self) -> str | None:
        return self._cell.name

    @property
    def alive(self) -> bool:
        return self._cell.status is not DEAD

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why the actor exited, or None while it is alive."""
        return self._cell.exit_reason

    def tell(self, message: M) -> None:
        """Send ``message``; never blocks. Dropped silently (and counted) if the actor exited."""
        cell = self._cell
        if type(message) not in cell.handlers:
            _resolve_or_refuse(cell, message)
        cell.enqueue(message)

    async def send(self, message: M) -> None:
        """Like ``tell``, but waits for room in a bounded mailbox with policy ``await``."""
        cell = self._cell
        if type(message) not in cell.handlers:
            _resolve_or_refuse(cell, message)
        await cell.send(message)

    def ask(
        self, message: Ask[R], *, timeout: float | None = DEFAULT_ASK_TIMEOUT
    ) -> asyncio.Future[R]:
        """Send ``message`` now; the returned future resolves to the handler's return value.

        ``await ref.ask(msg)`` is the usual form; several asks can be gathered. The future
        fails with ``AskTimeout`` (naming the actor and message type) after ``timeout``
        seconds of system time, or ``ActorExited`` if the actor exits first (the crash is
        the cause). The call itself raises ``UnhandledMessage`` for a message the actor does
        not accept and ``ActorNotAlive`` if it had already exited.

        It returns the future itself rather than being a coroutine: that saves a coroutine
        frame per round trip (a frame per round trip adds up on the hot path).
        """
        cell = self._cell
        if type(message) not in cell.handlers:
            _resolve_or_refuse(cell, message)
        if cell.status is DEAD:
            raise ActorNotAlive(cell.label, cell.exit_reason)
        future: asyncio.Future[object] = cell.loop.create_future()
        cell.enqueue(Call(message, future))
        if timeout is not None:
            cell.system._ask_deadlines.add(future, cell, message, timeout)
        return future  # type: ignore[return-value]

    async def stop(self, reason: ExitReason = NORMAL, *, timeout: float | None = None) -> None:
        """Stop once the messages already sent are handled; wait until the actor has exited.

        With ``timeout``, an actor still running after that many seconds is killed.
        """
        cell = self._cell
        if cell.status is DEAD:
            return
        cell.enqueue_stop(reason)
        await cell.system._await_exit(cell, timeout)

    def __repr__(self) -> str:
        state = "" if self.alive else " exited"
        return f"<ActorRef {self._cell.label}{state}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return hash(self._cell)


def ask_now(
    ref: ActorRef[M], message: Ask[R], *, timeout: float | None = DEFAULT_ASK_TIMEOUT
) -> asyncio.Future[R]:
    """``ref.ask(message)``, handled at once on the caller's step when the actor is idle
    and the handler is ``@handler(eager_start=True)`` (ADR 0106); otherwise an ordinary ask.

    Idle means nothing sent to the actor waits: the answer is the one an ask would get,
    in the same order, without the two loop turns of a round trip. Under a tap (the
    deterministic scheduler) or the watchdog it always asks. The handler's first step
    runs in a copy of the caller's context with the caller's current task (an
    ``eager_start`` handler must not rely on having none). Supervision operations use it.
    """
    cell = ref._cell
    if type(message) not in cell.handlers:
        _resolve_or_refuse(cell, message)
    future = cell.call_now(message)
    if future is None:
        return ref.ask(message, timeout=timeout)
    if timeout is not None and not future.done():
        cell.system._ask_deadlines.add(future, cell, message, timeout)
    return future  # type: ignore[return-value]


def _resolve_or_refuse(cell: Cell, message: object) -> None:
    """The slow path of the send-time type check: a subclass of a handled type (resolved
    and cached, so the next send takes the fast path), or ``UnhandledMessage``.

    The fast path, ``type(message) in cell.handlers``, stays inline in each sender: a call
    per send would cost the hot path.
    """
    if cell.info.resolve(type(message)) is None:
        raise UnhandledMessage(cell.label, message, cell.info.accepted_names())


AnyRef: TypeAlias = ActorRef[Never]
"""A ref to an actor of any type (every ``ActorRef[M]`` is an ``AnyRef``)."""
