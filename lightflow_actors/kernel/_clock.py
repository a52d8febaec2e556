"""The system clock: the one place the kernel reads time.

Runtime code never calls ``time.time()`` directly: it asks the system's clock, which reads
the running event loop's ``time()``. The deterministic scheduler runs a loop whose ``time()``
is virtual, so timers, timeouts and timestamps all follow it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """What the runtime needs from a clock."""

    def now(self) -> float:
        """Monotonic seconds, the same scale as ``loop.call_later`` uses."""
        ...

    def wall_ms(self) -> int:
        """Unix time in milliseconds, for timestamps written to files and frames."""
        ...


class LoopClock:
    """Reads the event loop's clock; wall time is anchored once at construction.

    Anchoring means wall time advances exactly as loop time does, so under a virtual loop
    the wall clock is virtual too (a replay writes the same timestamps).
    """

    __slots__ = ("_loop", "_wall_anchor_ms")

    def __init__(self, loop: asyncio.AbstractEventLoop, wall_anchor_ms: int | None = None) -> None:
        self._loop = loop
        if wall_anchor_ms is None:
            wall_anchor_ms = time.time_ns() // 1_000_000 - int(loop.time() * 1000)
        self._wall_anchor_ms = wall_anchor_ms

    def now(self) -> float:
        return self._loop.time()

    def wall_ms(self) -> int:
        return self._wall_anchor_ms + int(self._loop.time() * 1000)
