"""Timers: ``send_after`` and its cancellation, on the loop's (possibly virtual) clock."""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import TYPE_CHECKING

from ._errors import AskTimeout

if TYPE_CHECKING:
    from ._cell import Cell


class Timer:
    """A pending delivery. ``cancel()`` returns True if it stopped the delivery."""

    __slots__ = ("_fired", "_handle", "_owner", "message", "target")

    def __init__(self, target: Cell, message: object, owner: Cell | None) -> None:
        self.target = target
        self.message = message
        self._owner = owner
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    @property
    def active(self) -> bool:
        return self._handle is not None and not self._fired and not self._handle.cancelled()

    def when(self) -> float | None:
        """The loop time at which the message is due, or None once fired or cancelled."""
        return self._handle.when() if self.active and self._handle is not None else None

    def cancel(self) -> bool:
        if not self.active or self._handle is None:
            return False
        self._handle.cancel()
        self._forget()
        return True

    def _fire(self) -> None:
        self._fired = True
        self._forget()
        tap = self.target.system._tap
        if tap is not None:
            tap.on_timer(self.target, self.message)
        self.target.deliver_timer(self.message)

    def _forget(self) -> None:
        owner = self._owner
        if owner is not None:
            timers = owner.timers
            if timers is self:
                owner.timers = None
            elif isinstance(timers, set):
                timers.discard(self)


class AskDeadlines:
    """Timeouts of pending ``ask`` calls, sharing one loop timer.

    A ``call_later`` per ask cost a third of an ask round trip (measured). Here a deadline
    is a heap push; one timer is armed at the earliest deadline, and expired entries whose
    future is already done are skipped. Entries of answered asks are swept out every
    ``_COMPACT_EVERY`` pushes, so the heap stays proportional to the asks still pending.
    An entry holds the asked cell, not its label: the label is formatted only for the
    ``AskTimeout`` (formatting it per ask cost as much as creating the ask's future).
    """

    __slots__ = ("_armed", "_handle", "_heap", "_loop", "_pushes", "_seq")

    _COMPACT_EVERY = 4096

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, asyncio.Future[object], Cell, object, float]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf  # the armed timer's deadline (``_handle.when()``), or inf
        self._seq = 0
        self._pushes = 0

    def add(
        self, future: asyncio.Future[object], cell: Cell, message: object, timeout: float
    ) -> None:
        deadline = self._loop.time() + timeout
        self._seq += 1
        heapq.heappush(self._heap, (deadline, self._seq, future, cell, message, timeout))
        self._pushes += 1
        if self._pushes >= self._COMPACT_EVERY:
            self._compact()
        if deadline < self._armed:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self._loop.call_at(deadline, self._expire)
            self._armed = deadline

    def _compact(self) -> None:
        self._pushes = 0
        self._heap = [entry for entry in self._heap if not entry[2].done()]
        heapq.heapify(self._heap)

    def _expire(self) -> None:
        self._handle = None
        self._armed = math.inf
        heap = self._heap
        now = self._loop.time()
        while heap and heap[0][0] <= now:
            _, _, future, cell, message, timeout = heapq.heappop(heap)
            if not future.done():
                future.set_exception(AskTimeout(cell.label, message, timeout))
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        if heap:
            self._armed = heap[0][0]
            self._handle = self._loop.call_at(self._armed, self._expire)

    def time_left(self, future: asyncio.Future[object]) -> float | None:
        """Seconds (loop time) until ``future``'s ask times out; None without a deadline.

        A scan of the pending deadlines: for the rare reader (a proxy forwarding an ask to
        another node), not for the hot path, which stays a heap push per ask.
        """
        for deadline, _, pending, _, _, _ in self._heap:
            if pending is future:
                return deadline - self._loop.time()
        return None

    def __len__(self) -> int:
        return len(self._heap)
