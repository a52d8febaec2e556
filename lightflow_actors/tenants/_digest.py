"""`RefusalDigest`: a tenant's refusals folded into at most one entry a second per budget.

A flood is refused thousands of times a second; the operator's event log (the system's
lifecycle events, ``GET /system/events``) must show that it happens, whose it is and how
big, without one flood pushing every other event out of its ring. So each (tenant,
budget) pair gets a window of `period` seconds: its first refusal is an entry at once
(count 1: an operator sees a refusal as it starts), the refusals later in the window are
counted, and when the window ends they become one entry with their count and a new
window opens; a window that ends with nothing counted closes, so the next refusal of
that pair is again an entry at once. A steady flood makes one entry a second per pair.

The digest is a pure state machine on the time its caller passes (`add`, `flush`): the
caller owns the timer (`report_refusals` wires it to a system: its loop's timer, its
lifecycle events) and so the deterministic scheduler drives it in virtual time. At most
`max_pairs` pairs are tracked; past it the refusals of tenants not tracked are folded
into one pair per budget with the tenant None (entries then say "other tenants"), so a
client naming a new tenant per request cannot grow it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Final

import msgspec

from ..kernel import ActorSystem
from ._ledger import BudgetName, TenantEvent, TenantLedger

__all__ = ["RefusalDigest", "RefusalSummary", "report_refusals"]

PERIOD_S: Final = 1.0
MAX_PAIRS: Final = 1024


class RefusalSummary(msgspec.Struct, frozen=True):
    """`count` refusals of `tenant` (None: of tenants past the digest's bound) for
    `budget`, the first of a window (count 1) or the rest of it."""

    tenant: str | None
    budget: BudgetName
    count: int


class _Window:
    __slots__ = ("due", "pending")

    def __init__(self, due: float) -> None:
        self.due = due  # loop seconds: when this window ends
        self.pending = 0  # refusals counted since the window's last entry


class RefusalDigest:
    """Fold refusals into `RefusalSummary` entries handed to `emit`.

    ::

        digest = RefusalDigest(entries.append)
        digest.add("acme", "session_events", now)   # an entry at once (count 1)
        digest.add("acme", "session_events", now)   # counted
        due = digest.flush(now + 1.0)                # an entry with count 1; next due
    """

    def __init__(
        self,
        emit: Callable[[RefusalSummary], None],
        *,
        period: float = PERIOD_S,
        max_pairs: int = MAX_PAIRS,
    ) -> None:
        if not period > 0:
            raise ValueError(f"period must be positive, not {period!r}")
        if max_pairs < 1:
            raise ValueError(f"max_pairs must be at least 1, not {max_pairs!r}")
        self._emit = emit
        self._period = period
        self._max_pairs = max_pairs
        self._windows: dict[tuple[str | None, BudgetName], _Window] = {}

    def __len__(self) -> int:
        """Pairs with an open window."""
        return len(self._windows)

    def add(self, tenant: str, budget: BudgetName, now: float) -> bool:
        """Count one refusal at `now`; True when it opened a window (the caller then
        makes sure a `flush` is due by `now + period`)."""
        key: tuple[str | None, BudgetName] = (tenant, budget)
        window = self._windows.get(key)
        if window is None and len(self._windows) >= self._max_pairs:
            key = (None, budget)
            window = self._windows.get(key)
        if window is not None:
            window.pending += 1
            return False
        self._windows[key] = _Window(now + self._period)
        self._emit(RefusalSummary(key[0], budget, 1))
        return True

    def flush(self, now: float) -> float | None:
        """End every window due by `now`: an entry for what it counted (and a new window),
        or close it; returns when the next window ends (None: none is open)."""
        ended = [(key, w) for key, w in self._windows.items() if w.due <= now]
        for key, window in ended:
            if window.pending:
                self._emit(RefusalSummary(key[0], key[1], window.pending))
                window.pending = 0
                window.due = now + self._period
            else:
                del self._windows[key]
        return min((w.due for w in self._windows.values()), default=None)


def report_refusals(
    ledger: TenantLedger, system: ActorSystem, *, period: float = PERIOD_S
) -> Callable[[], None]:
    """Make the ledger's refusals lifecycle events of `system` (kind ``over_budget``,
    ``GET /system/events``, the observer's log) through a `RefusalDigest`, on the
    system's loop and clock. Returns the function that stops it.

    The ledger holds the listener and the system may hold the ledger (`node_tenants`),
    so the listener holds the system weakly."""
    system_ref = weakref.ref(system)
    timer: list[asyncio.TimerHandle] = []  # the armed flush, if any

    def emit(summary: RefusalSummary) -> None:
        owner = system_ref()
        if owner is not None:
            owner.record_refusals(summary.tenant, summary.budget, summary.count)

    digest = RefusalDigest(emit, period=period)

    def fire() -> None:
        timer.clear()
        owner = system_ref()
        if owner is None or not owner.running:
            return
        due = digest.flush(owner.clock.now())
        if due is not None:
            arm(owner, due)

    def arm(owner: ActorSystem, due: float) -> None:
        timer.append(owner.loop.call_later(max(0.0, due - owner.clock.now()), fire))

    def listener(event: TenantEvent) -> None:
        owner = system_ref()
        if event.kind != "refused" or owner is None or not owner.running:
            return
        now = owner.clock.now()
        if digest.add(event.tenant, event.budget, now) and not timer:
            arm(owner, now + period)

    stop_listening = ledger.listen(listener)

    def stop() -> None:
        stop_listening()
        for handle in timer:
            handle.cancel()
        timer.clear()

    return stop
