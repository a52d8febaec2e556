"""`TokenBucket`: a rate with a burst, on a clock the caller passes in.

The bucket never reads a clock itself: every call takes ``now`` (the loop's monotonic
seconds, `kernel.Clock.now`), so under the deterministic scheduler it follows virtual time
and a replay refuses exactly the same events.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]

_ROUNDING = 1e-9
"""Tokens `charge` forgives (float rounding of the refill, not a budget)."""


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; starts full.

    ::

        bucket = TokenBucket(rate=10.0, burst=20.0, now=clock.now())
        wait = bucket.take(clock.now())    # 0.0: taken; else seconds until one is there
    """

    __slots__ = ("burst", "promised", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, not {rate!r}")
        if not burst >= 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now
        self.promised = now  # the time up to which refused callers were told to wait

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now: float, n: float = 1.0) -> float:
        """Take `n` tokens: 0.0 when they were there, else the seconds until they will be
        (nothing is taken then)."""
        self._refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def charge(self, now: float, n: float = 1.0) -> float:
        """Take `n` tokens once one is there, owing the rest (the bucket may go below
        zero, and then refills to one before it lets anything through): 0.0 when taken,
        else the seconds until a token is there (nothing is taken then). Work whose cost
        can exceed the burst (a run's look-up of many steps at once) is never refused
        for good; it only makes the next wait longer, as a reduction count does."""
        wait = self.until_charge(now)
        if wait == 0.0:
            self.tokens -= n
        return wait

    def owe(self, now: float, n: float = 1.0) -> None:
        """Take `n` tokens now, whether or not one is there (the bucket may go below zero):
        work let through ahead of its turn makes the next wait that much longer."""
        self._refill(now)
        self.tokens -= n

    def until_charge(self, now: float) -> float:
        """What `charge` would answer, taking nothing. A token short by float rounding
        (``rate * elapsed`` a hair under one) counts as there: a timer set for so short
        a wait would fire at the same loop time, find it still short, and spin."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= _ROUNDING else missing / self.rate

    def peek(self, now: float, n: float = 1.0) -> float:
        """What `take` would answer, taking nothing."""
        self._refill(now)
        return 0.0 if self.tokens >= n else (n - self.tokens) / self.rate

    def wait_in_line(self, now: float) -> float:
        """For a caller refused a token: seconds until a token no caller refused before it
        was told to come back for. Each refused caller is given the next free slot (one
        every ``1 / rate`` seconds), so callers sharing the bucket that all wait as told
        come back one per token instead of all at once (and all but one refused again).
        Takes nothing."""
        slot = max(self.promised, now + self.peek(now))
        self.promised = slot + 1.0 / self.rate
        return slot - now
