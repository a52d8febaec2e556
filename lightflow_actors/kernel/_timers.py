"""Timers: ``send_after`` and its cancellation, on the loop's (possibly virtual) clock."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

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
        if owner is not None and owner.timers is not None:
            owner.timers.discard(self)
