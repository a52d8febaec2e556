"""Network faults between simulated nodes: a partition, a slow link and duplicates.

Three nodes hold a replicated log: the ``Primary`` on ``n1`` and one ``Replica`` on each of
``n2`` and ``n3``. A write is acknowledged once a majority (the primary and one replica)
has it; the primary resends unacknowledged entries every half second, so a replica cut off
by a partition catches up after the partition heals.

The fault plan cuts ``n3`` off from ``n1`` and ``n2`` for the first two virtual seconds,
slows the link ``n1 -> n2`` by 50 ms and duplicates about a third of the messages on it.
Writes still succeed during the partition (``n2`` makes the majority), and after the heal
``n3`` holds the whole log.

``duplicates_break_a_counter`` is the same system with a replica that applies an entry
every time it arrives (no sequence check): a duplicated entry, or a resend that overtook
its acknowledgement on the slow link, is applied twice, and exploring reports the seed.

Run it: ``uv run --frozen python examples/deterministic/network_partition.py``
"""

from __future__ import annotations

import asyncio

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import (
    FaultPlan,
    LinkDelay,
    LinkDuplicate,
    Partition,
    explore,
    network,
    scenario,
)

RESEND_EVERY = 0.5


class Append(msgspec.Struct, frozen=True):
    seq: int
    value: str


class Ack(msgspec.Struct, frozen=True):
    replica: str
    seq: int


class Write(Ask[int], frozen=True):
    value: str


class Entries(Ask[list[str]], frozen=True):
    pass


class Resend(msgspec.Struct, frozen=True):
    pass


class Replica(Actor[Append | Entries]):
    def __init__(self, name: str, primary: ActorRef[Ack], idempotent: bool) -> None:
        self.name = name
        self.primary = primary
        self.idempotent = idempotent
        self.log: list[str] = []

    @handler
    def append(self, msg: Append) -> None:
        if not self.idempotent or msg.seq == len(self.log) + 1:
            self.log.append(msg.value)
        if msg.seq <= len(self.log):
            self.primary.tell(Ack(self.name, msg.seq))

    @handler
    def entries(self, msg: Entries) -> list[str]:
        return list(self.log)


class Primary(Actor[Write | Ack | Resend | Entries]):
    def __init__(self) -> None:
        self.log: list[str] = []
        self.replicas: dict[str, ActorRef[Append | Entries]] = {}
        self.acked: dict[str, int] = {}

    def on_start(self) -> None:
        self.send_after(RESEND_EVERY, self.ref, Resend())

    @handler
    def write(self, msg: Write) -> int:
        self.log.append(msg.value)
        seq = len(self.log)
        for ref in self.replicas.values():
            ref.tell(Append(seq, msg.value))
        return seq

    @handler
    def ack(self, msg: Ack) -> None:
        self.acked[msg.replica] = max(self.acked.get(msg.replica, 0), msg.seq)

    @handler
    def resend(self, msg: Resend) -> None:
        for name, ref in self.replicas.items():
            for seq in range(self.acked.get(name, 0) + 1, len(self.log) + 1):
                ref.tell(Append(seq, self.log[seq - 1]))
        self.send_after(RESEND_EVERY, self.ref, Resend())

    @handler
    def entries(self, msg: Entries) -> list[str]:
        return [str(self.acked.get(name, 0)) for name in sorted(self.replicas)]


PLAN = FaultPlan(
    (
        Partition(groups=(("n1", "n2"), ("n3",)), at=0.0, duration=2.0),
        LinkDelay(src="n1", dst="n2", by=0.05),
        LinkDuplicate(src="n1", dst="n2", probability=0.3),
    ),
    nodes={"n1": ("primary",), "n2": ("replica-2",), "n3": ("replica-3",)},
)
VALUES = ("a", "b", "c")


async def _run(system: ActorSystem, idempotent: bool) -> None:
    primary_actor = Primary()
    primary = system.spawn(lambda: primary_actor, name="primary")
    for name in ("replica-2", "replica-3"):
        primary_actor.replicas[name] = system.spawn(
            lambda name=name: Replica(name, primary, idempotent), name=name
        )
    for value in VALUES:
        await primary.ask(Write(value))
    await asyncio.sleep(1.0)
    # During the partition the majority (n1 + n2) has every entry; n3 has none.
    assert await primary.ask(Entries()) == ["3", "0"], "n2 must acknowledge during the partition"
    assert await primary_actor.replicas["replica-3"].ask(Entries()) == []
    await asyncio.sleep(2.0)  # the partition healed at 2 s; resends reach n3
    for name, ref in primary_actor.replicas.items():
        log = await ref.ask(Entries())
        assert log == list(VALUES), f"{name} holds {log}, expected {list(VALUES)}"
    assert network(system).node_of(primary) == "n1"


@scenario(faults=PLAN)
async def partition_heals(system: ActorSystem) -> None:
    """Writes succeed on a majority during a partition; the cut-off replica catches up."""
    await _run(system, idempotent=True)


@scenario(faults=PLAN)
async def duplicates_break_a_counter(system: ActorSystem) -> None:
    """A replica without a sequence check applies a duplicated entry twice."""
    await _run(system, idempotent=False)


@scenario
async def partition_from_scenario_code(system: ActorSystem) -> None:
    """The same partition, switched by the scenario with ``network(system)``."""
    net = network(system)
    primary_actor = Primary()
    primary = system.spawn(lambda: primary_actor, name="primary")
    net.place(primary, "n1")
    for index, name in enumerate(("replica-2", "replica-3"), start=2):
        ref = system.spawn(lambda name=name: Replica(name, primary, True), name=name)
        net.place(ref, f"n{index}")
        primary_actor.replicas[name] = ref
    net.partition(["n1", "n2"], ["n3"])
    await primary.ask(Write("a"))
    await asyncio.sleep(1.0)
    assert await primary_actor.replicas["replica-3"].ask(Entries()) == []
    net.heal()
    await asyncio.sleep(1.0)
    assert await primary_actor.replicas["replica-3"].ask(Entries()) == ["a"]


def main() -> None:
    explore(partition_heals, seeds=100)
    explore(partition_from_scenario_code, seeds=100)
    explore(duplicates_break_a_counter, seeds=100)


if __name__ == "__main__":
    main()
