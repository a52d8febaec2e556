"""A clock the tests move by hand (what the ledger reads: `kernel.Clock`)."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 100.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> int:
        return 1_700_000_000_000 + int(self.t * 1000)

    def advance(self, seconds: float) -> None:
        self.t += seconds
