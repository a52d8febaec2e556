"""Restart intensity: OTP's "at most ``intensity`` restarts in ``period`` seconds".

Pure bookkeeping: the caller passes the time (``system.clock.now()``), so the deterministic
scheduler and tests control it.
"""

from __future__ import annotations

import math
from collections import deque

from ._errors import InvalidSupervisorFlags

DEFAULT_INTENSITY = 1
DEFAULT_PERIOD = 5.0


class RestartIntensity:
    """The restart times of one supervisor inside the sliding ``period`` window.

    As OTP's ``add_restart``: a restart at ``now`` keeps the earlier restarts with
    ``t >= now - period``, adds ``now``, and is allowed while the count is ``<= intensity``.
    So ``intensity=0`` gives up on the first restart, and the default (1 in 5 s) allows one
    restart and gives up on a second one within 5 s.

    >>> window = RestartIntensity(intensity=1, period=5.0)
    >>> window.add(0.0), window.add(1.0), window.add(10.0)
    (True, False, True)
    """

    __slots__ = ("_times", "intensity", "period")

    def __init__(self, intensity: int = DEFAULT_INTENSITY, period: float = DEFAULT_PERIOD) -> None:
        if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
            raise InvalidSupervisorFlags("intensity", intensity, "an int >= 0")
        if (
            not isinstance(period, int | float)
            or isinstance(period, bool)
            or not math.isfinite(period)
            or period <= 0
        ):
            raise InvalidSupervisorFlags("period", period, "a finite number of seconds > 0")
        self.intensity = intensity
        self.period = float(period)
        self._times: deque[float] = deque()

    def add(self, now: float) -> bool:
        """Record a restart at ``now``; False means the intensity is exceeded: give up."""
        times = self._times
        threshold = now - self.period
        while times and times[0] < threshold:
            times.popleft()
        times.append(now)
        # Keep memory bounded in a storm: entries beyond intensity + 1 change no answer.
        while len(times) > self.intensity + 1:
            times.popleft()
        return len(times) <= self.intensity

    def recent(self, now: float) -> int:
        """How many restarts lie inside the window ending at ``now``."""
        threshold = now - self.period
        return sum(1 for t in self._times if t >= threshold)
