"""Node figures for ``GET /system`` and the observer: a message rate over a sliding window,
the RSS, and ``summarize`` which puts them together.

The rate is sampled when asked (no timer keeps the gateway busy): each ``observe`` adds a
``(time, total)`` sample and measures against the oldest sample still inside the window
(or the newest one just before it). Time comes from ``system.clock``, never the wall.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence

from ...kernel import ActorSystem
from ..operator_api import SystemSummary, TreeNode


class RateWindow:
    """Messages per second over the last ``window`` seconds of the caller's clock.

    >>> w = RateWindow(10.0)
    >>> w.observe(0.0, 0, fallback=0.0), w.observe(2.0, 100, fallback=0.0)
    (0.0, 50.0)
    """

    __slots__ = ("_samples", "window")

    def __init__(self, window: float = 10.0, max_samples: int = 1024) -> None:
        if not window > 0:
            raise ValueError(f"window must be > 0 seconds, got {window}")
        self.window = window
        self._samples: deque[tuple[float, int]] = deque(maxlen=max_samples)

    def observe(self, now: float, total: int, *, fallback: float) -> float:
        """Record ``total`` at ``now``; return the rate (``fallback`` with no earlier sample)."""
        samples = self._samples
        # Keep exactly one sample at or before the window start as the base of the rate.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        base = samples[0] if samples else None
        samples.append((now, total))
        if base is None or now <= base[0] or total < base[1]:
            return fallback
        return (total - base[1]) / (now - base[0])


def resident_memory(statm: str = "/proc/self/statm") -> int | None:
    """Resident set size in bytes from ``/proc/self/statm`` (None where unavailable)."""
    try:
        with open(statm, encoding="ascii") as handle:
            fields = handle.read().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def summarize(system: ActorSystem, nodes: Sequence[TreeNode], rates: RateWindow) -> SystemSummary:
    """The node at a glance, from a tree snapshot; samples ``rates`` once."""
    total = sum(node.processed for node in nodes) + system.messages_processed_by_exited
    uptime = system.uptime()
    rate = rates.observe(system.clock.now(), total, fallback=total / uptime if uptime > 0 else 0.0)
    last = system.events(limit=1)
    return SystemSummary(
        name=system.name,
        actors=len(nodes),
        supervisors=sum(1 for node in nodes if node.kind == "supervisor"),
        messages_total=total,
        messages_per_s=round(rate, 3),
        window_s=rates.window,
        memory_rss_bytes=resident_memory(),
        uptime_s=round(uptime, 3),
        dead_letters=system.dead_letters,
        last_event_id=last[-1].seq if last else 0,
    )
