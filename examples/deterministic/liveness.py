"""A liveness bug a safety assertion cannot see, and a hang: both found by exploring.

**A job that is never done.** A ``Dispatcher`` hands each job to its one ``Worker`` when
the worker is free and queues it otherwise. The bug: when the worker reports ``Done``, the
dispatcher marks it free but forgets to start the next queued job; a queued job only moves
when another job arrives. In plain asyncio order the second job arrives after the first is
done (it comes through a front desk, a few hops later), so every test passes. Under some
schedules it arrives while the worker is busy, is queued, and waits forever. Nothing
*wrong* ever happens, so no assertion fails: the ``EveryJobIsDone`` monitor (hot while a
job is accepted and not done) catches it, as Coyote's liveness monitors do.

**Two actors that ask each other.** A ``Ledger`` asks the ``Auditor`` to approve each
transfer while the ``Auditor`` asks the ``Ledger`` for a balance when it reviews. If both
handle their message at once, each waits for an answer the other can never give (an actor
handles one message at a time). Plain order runs them one after the other; exploring finds
the interleaving, and the run fails as a ``Hang`` naming both actors and both asks, at once
rather than after the asks' timeouts.

``fixed_jobs`` / ``fixed_audit`` are the corrected versions and hold under every schedule.

Run it: ``uv run --frozen python examples/deterministic/liveness.py``
"""

from __future__ import annotations

import asyncio
from collections import deque

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import Monitor, explore, scenario

# -- jobs ---------------------------------------------------------------------------------


class Job(msgspec.Struct, frozen=True):
    n: int


class Done(msgspec.Struct, frozen=True):
    n: int


class Worker(Actor[Job]):
    def __init__(self, boss: ActorRef[Job | Done]) -> None:
        self.boss = boss

    @handler
    def work(self, msg: Job) -> None:
        self.boss.tell(Done(msg.n))


class Dispatcher(Actor[Job | Done]):
    def __init__(self, fixed: bool) -> None:
        self.fixed = fixed
        self.worker: ActorRef[Job] | None = None
        self.busy = False
        self.queue: deque[Job] = deque()

    def on_start(self) -> None:
        self.worker = self.spawn(lambda: Worker(self.ref), name="worker")

    @handler
    def job(self, msg: Job) -> None:
        self.queue.append(msg)
        self._dispatch()

    @handler
    def done(self, msg: Done) -> None:
        self.busy = False
        if self.fixed:
            self._dispatch()  # the bug: without this a queued job waits for the next arrival

    def _dispatch(self) -> None:
        if not self.busy and self.queue and self.worker is not None:
            self.busy = True
            self.worker.tell(self.queue.popleft())


class Desk(Actor[Job]):
    """Forwards jobs: one more hop, so its job usually arrives after the first is done."""

    def __init__(self, inner: ActorRef[Job]) -> None:
        self.inner = inner

    @handler
    def forward(self, msg: Job) -> None:
        self.inner.tell(msg)


class EveryJobIsDone(Monitor):
    """Hot while the dispatcher has accepted a job that is not done yet."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: set[int] = set()

    def on_message(self, actor: str | None, message: object) -> None:
        if actor != "dispatcher":
            return
        if isinstance(message, Job):
            self.pending.add(message.n)
        elif isinstance(message, Done):
            self.pending.discard(message.n)
        if self.pending:
            self.go_hot(f"jobs {sorted(self.pending)} not done")
        else:
            self.go_cold("idle")


HOPS = 3


async def _jobs(system: ActorSystem, fixed: bool) -> None:
    dispatcher = system.spawn(lambda: Dispatcher(fixed), name="dispatcher")
    desk: ActorRef[Job] = dispatcher
    for hop in range(HOPS):
        desk = system.spawn(lambda inner=desk: Desk(inner), name=f"desk{hop}")
    dispatcher.tell(Job(1))
    desk.tell(Job(2))
    await asyncio.sleep(1.0)  # virtual time: ample for two jobs


@scenario(monitors=(EveryJobIsDone,), liveness_time=0.5)
async def jobs(system: ActorSystem) -> None:
    """Every accepted job is done within 0.5 virtual seconds (fails under some schedules)."""
    await _jobs(system, fixed=False)


@scenario(monitors=(EveryJobIsDone,), liveness_time=0.5)
async def fixed_jobs(system: ActorSystem) -> None:
    await _jobs(system, fixed=True)


# -- asks in a cycle ----------------------------------------------------------------------


class Approve(Ask[bool], frozen=True):
    amount: int


class Balance(Ask[int], frozen=True):
    pass


class Transfer(msgspec.Struct, frozen=True):
    amount: int


class Review(msgspec.Struct, frozen=True):
    pass


class Ledger(Actor[Transfer | Balance]):
    def __init__(self) -> None:
        self.balance = 100
        self.auditor: ActorRef[Approve | Review] | None = None

    @handler
    async def transfer(self, msg: Transfer) -> None:
        assert self.auditor is not None
        if await self.auditor.ask(Approve(msg.amount)):
            self.balance -= msg.amount

    @handler
    def read(self, msg: Balance) -> int:
        return self.balance


class Auditor(Actor[Approve | Review]):
    def __init__(self, ledger: ActorRef[Transfer | Balance], fixed: bool) -> None:
        self.ledger = ledger
        self.fixed = fixed
        self.last_seen = 0

    @handler
    def approve(self, msg: Approve) -> bool:
        return msg.amount <= 50

    @handler
    async def review(self, msg: Review) -> None:
        if self.fixed:
            # The fix: ask without blocking this actor's mailbox (approvals go on meanwhile).
            self.ledger.tell(Transfer(0))
            return
        self.last_seen = await self.ledger.ask(Balance())


class Forward(Actor[Review]):
    def __init__(self, inner: ActorRef[Review]) -> None:
        self.inner = inner

    @handler
    def forward(self, msg: Review) -> None:
        self.inner.tell(msg)


class Settled(Ask[bool], frozen=True):
    pass


async def _audit(system: ActorSystem, fixed: bool) -> None:
    ledger_cell = Ledger()
    ledger = system.spawn(lambda: ledger_cell, name="ledger")
    auditor = system.spawn(lambda: Auditor(ledger, fixed), name="auditor")
    ledger_cell.auditor = auditor
    review: ActorRef[Review] = auditor
    for hop in range(HOPS):
        review = system.spawn(lambda inner=review: Forward(inner), name=f"fwd{hop}")
    ledger.tell(Transfer(30))
    review.tell(Review())
    assert await ledger.ask(Balance()) in (70, 100)
    await asyncio.sleep(0.1)
    assert await ledger.ask(Balance()) == 70


@scenario
async def audit(system: ActorSystem) -> None:
    """Ledger and auditor ask each other (hangs under some schedules)."""
    await _audit(system, fixed=False)


@scenario
async def fixed_audit(system: ActorSystem) -> None:
    await _audit(system, fixed=True)


def main() -> None:
    explore(fixed_jobs, seeds=200)
    explore(jobs, seeds=500)
    explore(fixed_audit, seeds=200)
    explore(audit, seeds=500)


if __name__ == "__main__":
    main()
