"""``Reply[R]``: the deferred answer to one ``ask`` (OTP: ``{noreply, ...}``, then ``reply/2``).

A handler answers an ``ask`` in one of three ways: return the value, raise ``Refused``, or
take the reply with ``self.defer(msg)`` and answer later through the handle, from another
handler, a timer or a loop callback. The kernel owns the asker's future throughout; no
future ever travels inside a message.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

from ._errors import Refused

if TYPE_CHECKING:
    from ._cell import Cell

R = TypeVar("R", contravariant=True)


class Reply(Generic[R]):
    """The reply to one ``ask``, taken by ``self.defer(msg)``; answer it exactly once.

    ::

        class Lock(Actor[Acquire | Release]):
            def __init__(self) -> None:
                self.waiting: deque[Reply[bool]] = deque()

            @handler
            def acquire(self, msg: Acquire) -> None:
                self.waiting.append(self.defer(msg))  # the asker waits; the actor goes on

            @handler
            def release(self, msg: Release) -> None:
                if self.waiting:
                    self.waiting.popleft().send(True)

    ``send``, ``refuse`` and ``fail`` each return True if that call answered the ask, and
    False (doing nothing) when there is nothing to answer: the handle was already used, the
    asker gave up (``AskTimeout``, cancelled), the actor has exited (the asker then got
    ``ActorExited``), or the message came by ``tell`` and so has no asker. Call them on the
    loop's thread.
    """

    __slots__ = ("_cell", "_future")

    def __init__(self, cell: Cell | None, future: asyncio.Future[object] | None) -> None:
        self._cell = cell  # the actor holding the reply; it fails the ask if it exits first
        self._future = future  # the asker's future; None for a tell (nothing to answer)

    @property
    def pending(self) -> bool:
        """True while an asker still waits for this reply."""
        return self._future is not None and not self._future.done()

    def time_left(self) -> float | None:
        """Seconds (system time) the asker still waits before its ``AskTimeout``; None
        when it set no timeout (or there is no asker). For a reply answered by work with a
        deadline of its own, e.g. a request to another node: it takes the caller's."""
        future, cell = self._future, self._cell
        if future is None or cell is None or future.done():
            return None
        return cell.system._ask_deadlines.time_left(future)

    def send(self, value: R) -> bool:
        """Answer the ask with ``value``: the asker's ``ask`` returns it."""
        future = self._take()
        if future is None:
            return False
        future.set_result(value)
        return True

    def refuse(self, refusal: Refused) -> bool:
        """Decline the request: the asker's ``ask`` raises ``refusal`` (this same object)."""
        return self.fail(refusal)

    def fail(self, exc: Exception) -> bool:
        """Answer with an error: the asker's ``ask`` raises ``exc``. The actor keeps running.

        For a failure of work the actor delegated (a worker, a blocking call); a domain's
        "no" is ``refuse``.
        """
        future = self._take()
        if future is None:
            return False
        future.set_exception(exc)
        return True

    def _take(self) -> asyncio.Future[object] | None:
        """The future to answer, once; the cell stops tracking it either way."""
        future = self._future
        if future is None:
            return None
        self._future = None
        cell = self._cell
        if cell is not None and cell.deferred:
            cell.deferred.pop(future, None)
        return None if future.done() else future

    def __repr__(self) -> str:
        state = "pending" if self.pending else "done"
        owner = self._cell.label if self._cell is not None else "tell"
        return f"<Reply from {owner} {state}>"
