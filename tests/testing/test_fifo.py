"""Per sender→receiver FIFO holds under every schedule the scheduler picks.

The scheduler reorders freely *across* actors; the kernel's per-cell deque must keep each
sender's messages in order. Two checks: the receiver asserts it (an explored property), and
the simulation tap checks every handled message against the send order (a run with a
violation fails with ``FifoViolation``).
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import (
    DeterministicLoop,
    FifoViolation,
    Trace,
    explore,
    explore_hypothesis,
    run_schedule,
)
from lightflow_actors.testing._faults import NO_FAULTS, FaultInjector
from lightflow_actors.testing._instrument import SimulationTap

SENDERS = 3
PER_SENDER = 8


class Item(msgspec.Struct, frozen=True):
    sender: str
    seq: int


class Log(Ask[list[tuple[str, int]]], frozen=True):
    pass


class Receiver(Actor[Item | Log]):
    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.last: dict[str, int] = {}

    @handler
    def item(self, msg: Item) -> None:
        previous = self.last.get(msg.sender, -1)
        assert msg.seq == previous + 1, f"{msg.sender}: {msg.seq} after {previous}"
        self.last[msg.sender] = msg.seq
        self.log.append((msg.sender, msg.seq))

    @handler
    async def get(self, msg: Log) -> list[tuple[str, int]]:
        await asyncio.sleep(0)
        return self.log


class Go(msgspec.Struct, frozen=True):
    pass


class Sender(Actor[Go]):
    def __init__(self, name: str, target: ActorRef[Item | Log]) -> None:
        self.name = name
        self.target = target

    @handler
    async def go(self, msg: Go) -> None:
        for seq in range(PER_SENDER):
            self.target.tell(Item(self.name, seq))
            if seq % 3 == 1:
                await asyncio.sleep(0)  # let other senders in mid-burst


async def many_senders(system: ActorSystem) -> None:
    receiver = system.spawn(Receiver, name="receiver")
    senders = [
        system.spawn(lambda i=i: Sender(f"s{i}", receiver), name=f"s{i}") for i in range(SENDERS)
    ]
    for sender in senders:
        sender.tell(Go())
    for seq in range(PER_SENDER):
        receiver.tell(Item("main", seq))
        await asyncio.sleep(0)
    await asyncio.sleep(1)
    log = await receiver.ask(Log())
    assert len(log) == (SENDERS + 1) * PER_SENDER
    assert receiver.alive, receiver.exit_reason


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_per_pair_fifo_under_explored_schedules(strategy: str) -> None:
    exploration = explore(many_senders, seeds=150, strategy=strategy, out=None)
    exploration.raise_if_failed()
    assert exploration.distinct > 50  # the schedules really differ across actors


def test_per_pair_fifo_under_hypothesis_schedules() -> None:
    exploration = explore_hypothesis(many_senders, max_examples=60, out=None)
    exploration.raise_if_failed()
    assert exploration.runs == 60 and exploration.distinct > 20


def test_the_fifo_check_catches_a_reordered_delivery() -> None:
    """The tap's check is not vacuous: handing it an out-of-order delivery is a violation."""

    async def body(system: ActorSystem) -> None:
        receiver = system.spawn(Receiver, name="receiver")
        cell = receiver._cell
        loop = asyncio.get_running_loop()
        assert isinstance(loop, DeterministicLoop)
        tap = SimulationTap(loop, FaultInjector(NO_FAULTS, 0), Trace())
        first, second = Item("x", 0), Item("x", 1)
        for item in (first, second):
            assert tap.on_send(None, cell, item)
            cell.mailbox.append(item)  # queued, as the kernel would
        tap.on_handle(cell, second)  # handled before `first`, which is still queued
        assert tap.violations and "before the earlier" in tap.violations[0]
        cell.mailbox.clear()

    result = run_schedule(body)
    assert result.ok, result.error


def test_a_violation_fails_the_run() -> None:
    async def body(system: ActorSystem) -> None:
        receiver = system.spawn(Receiver)
        cell = receiver._cell
        tap = system._tap
        assert isinstance(tap, SimulationTap)
        first, second = Item("x", 0), Item("x", 1)
        tap.on_send(None, cell, first)
        tap.on_send(None, cell, second)
        cell.mailbox.append(first)
        tap.on_handle(cell, second)
        cell.mailbox.clear()

    result = run_schedule(body)
    assert isinstance(result.error, FifoViolation)
