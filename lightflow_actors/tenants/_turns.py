"""`StepTurns`: run steps waiting for their tenant's `steps` budget take turns.

BEAM bounds a process's work by reductions: after its budget it goes to the back of the
run queue. Here the unit is a run step (an output-cache look-up, or the commit of a step
that has none): a run actor asks for a turn before dispatching steps, and its tenant's
`steps_per_s` budget (and the node's, `NodeBudgets.steps_per_s`) says whether it goes
now. A run that must wait queues in a `FairQueue`: FIFO among its tenant's runs (a run
of many steps cannot hold the budget from its tenant's other runs), weighted round robin
across tenants (the node's shared rate is split by `Budgets.weight` while tenants wait).
The queue is served when a waiting tenant's bucket has a token again, on a loop timer
(virtual time under the deterministic scheduler).

A tenant whose budgets set no step rate never waits, and asking costs a dict look-up and
a counter; `turn` then returns None without a future.
"""

from __future__ import annotations

import asyncio

from ._fair import FairQueue
from ._ledger import TenantLedger

__all__ = ["StepTurns"]

MIN_WAIT_S = 1e-6


class _Waiter:
    __slots__ = ("cost", "future", "subject", "tenant")

    def __init__(
        self, tenant: str, cost: int, future: asyncio.Future[None], subject: str | None
    ) -> None:
        self.tenant = tenant
        self.cost = cost
        self.future = future  # done (result None) when the turn is given; cancelled: left
        self.subject = subject


class StepTurns:
    """The node's line of run steps waiting for their turn.

    ::

        turns = StepTurns(ledger, loop)
        waiting = turns.turn("acme", cost=1, subject="run-1")
        if waiting is not None:
            await waiting          # the step's turn; cancel it to leave the line
    """

    def __init__(self, ledger: TenantLedger, loop: asyncio.AbstractEventLoop) -> None:
        self._ledger = ledger
        self._loop = loop
        self._queue: FairQueue[_Waiter] = FairQueue(ledger.weight)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # The waiters that named a subject (a run id), for `hurry`.
        self._by_subject: dict[str, _Waiter] = {}

    def turn(
        self, tenant: str, cost: int = 1, subject: str | None = None
    ) -> asyncio.Future[None] | None:
        """Ask for `cost` steps of `tenant` to be dispatched: None when they may go now
        (counted), else a future done when their turn comes (counted then). A tenant with
        steps in line waits behind them, even if its bucket has a token meanwhile."""
        ledger = self._ledger
        queued = self._queue.count(tenant)
        if not queued:
            wait = ledger.step_wait(tenant)
            if wait == 0.0:
                ledger.take_steps(tenant, cost)
                return None
            ledger.steps_throttled(tenant, subject, wait)
        future: asyncio.Future[None] = self._loop.create_future()
        waiter = _Waiter(tenant, cost, future, subject)
        self._queue.push(tenant, waiter)
        if subject is not None:
            self._by_subject[subject] = waiter
        self._wake_later()
        return future

    def hurry(self, subject: str) -> bool:
        """Give `subject`'s waiting steps their turn now, owing their tokens (a tenant's
        next steps wait that much longer): what a run waits for must not hold up what an
        operator asks of it, such as a cancel, which its actor handles once its step is
        dispatched. False when `subject` is not waiting."""
        waiter = self._by_subject.pop(subject, None)
        if waiter is None or waiter.future.done():
            return False
        self._queue.remove(waiter.tenant, waiter)
        self._ledger.take_steps(waiter.tenant, waiter.cost, held=True, ahead=True)
        waiter.future.set_result(None)
        return True

    def waiting(self) -> dict[str, int]:
        """Runs' step requests waiting for their turn, by tenant (cancelled ones included
        until their turn comes and is skipped)."""
        return self._queue.waiting()

    def close(self) -> None:
        """Give every waiting step its turn and stop the timer (the host stops: its runs
        stop too, and a run cut off in the middle of its turn would crash instead)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _tenant, waiter in self._queue.drain():
            if not waiter.future.done():
                waiter.future.set_result(None)
        self._by_subject.clear()

    def _serve(self) -> None:
        self._timer = None
        ledger = self._ledger

        def ready(tenant: str) -> bool:
            return ledger.tenant_step_wait(tenant) == 0.0

        # The node's budget is asked before the line: a pass of the round in which no
        # tenant may go (the node has no token) would move the round back to the tenant
        # that was served last, with its credit renewed, and it would get every token.
        while (
            ledger.node_step_wait() == 0.0 and (popped := self._queue.pop(ready=ready)) is not None
        ):
            tenant, waiter = popped
            if waiter.subject is not None and self._by_subject.get(waiter.subject) is waiter:
                del self._by_subject[waiter.subject]
            if waiter.future.done():  # its run left the line (stopped, cancelled, hurried)
                continue
            ledger.take_steps(tenant, waiter.cost, held=True)
            waiter.future.set_result(None)
        self._wake_later()

    def _wake_later(self) -> None:
        """Serve the line when its first waiting tenant has a token again."""
        if not self._queue:
            return
        delay = min(self._ledger.step_wait(tenant) for tenant in self._queue.waiting())
        # At least a microsecond: a shorter wait could round to this very loop time,
        # whose refill would still be short.
        at = self._loop.time() + (max(delay, MIN_WAIT_S) if delay > 0 else 0.0)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._serve)
