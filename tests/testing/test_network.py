"""Network faults between simulated nodes: partition, heal, delay and duplicate."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import (
    FaultPlan,
    LinkDelay,
    LinkDuplicate,
    Partition,
    Scenario,
    SimulationError,
    explore,
    network,
    replay,
    run_schedule,
)

from .conftest import Example


class Note(msgspec.Struct, frozen=True):
    n: int


class Got(Ask[list[int]], frozen=True):
    pass


class Inbox(Actor[Note | Got]):
    def __init__(self) -> None:
        self.notes: list[int] = []

    @handler
    def note(self, msg: Note) -> None:
        self.notes.append(msg.n)

    @handler
    def got(self, msg: Got) -> list[int]:
        return list(self.notes)


class Sender(Actor[Note]):
    def __init__(self, to: ActorRef[Note]) -> None:
        self.to = to

    @handler
    def note(self, msg: Note) -> None:
        self.to.tell(msg)


class Parent(Actor[Note]):
    """Spawns its forwarding child: the child lives on the parent's node."""

    def __init__(self, to: ActorRef[Note]) -> None:
        self.to = to
        self.child: ActorRef[Note] | None = None

    def on_start(self) -> None:
        self.child = self.spawn(lambda: Sender(self.to), name="child")

    @handler
    def note(self, msg: Note) -> None:
        assert self.child is not None
        self.child.tell(msg)


NODES = {"a": ("sender", "parent"), "b": ("inbox",)}


async def _send(system: ActorSystem, times: list[float], notes: int = 3) -> list[int]:
    inbox = system.spawn(Inbox, name="inbox")
    sender = system.spawn(lambda: Sender(inbox), name="sender")
    for n, at in enumerate(times):
        await asyncio.sleep(max(0.0, at - system.clock.now()))
        sender.tell(Note(n))
    await asyncio.sleep(5.0)
    return await inbox.ask(Got())


def _run(plan: FaultPlan, times: list[float]) -> tuple[list[int], list[str]]:
    got: list[list[int]] = []

    async def body(system: ActorSystem) -> None:
        got.append(await _send(system, times))

    result = run_schedule(Scenario(body, faults=plan), seed=0, strategy="fifo")
    assert result.ok, result.describe_error()
    return got[0], [e.detail or "" for e in result.trace if e.kind == "fault"]


def test_a_partition_drops_messages_between_groups_until_it_heals() -> None:
    plan = FaultPlan((Partition(groups=(("a",), ("b",)), at=1.0, duration=2.0),), nodes=NODES)
    got, faults = _run(plan, [0.0, 1.5, 3.5])
    assert got == [0, 2]
    assert faults == ["drop (partition a|b)"]


def test_a_link_delay_and_duplicate_act_on_one_direction() -> None:
    plan = FaultPlan(
        (LinkDelay(src="a", dst="b", by=0.5), LinkDuplicate(src="a", dst="b", at=2.0)),
        nodes=NODES,
    )
    got, faults = _run(plan, [0.0, 1.0, 2.5])
    assert got == [0, 1, 2, 2]
    assert faults == [
        "delay 0.5s (link a->b)",
        "delay 0.5s (link a->b)",
        "delay 0.5s, duplicate (link a->b)",
    ]
    reverse = FaultPlan((LinkDelay(src="b", dst="a", by=0.5),), nodes=NODES)
    assert _run(reverse, [0.0]) == ([0], [])


def test_messages_within_a_node_or_from_outside_are_never_touched() -> None:
    plan = FaultPlan((Partition(groups=(("a",), ("b",))),), nodes={"a": ("sender", "inbox")})
    assert _run(plan, [0.0, 1.0]) == ([0, 1], [])


def test_children_live_on_their_parents_node() -> None:
    async def body(system: ActorSystem) -> None:
        inbox = system.spawn(Inbox, name="inbox")
        parent = system.spawn(lambda: Parent(inbox), name="parent")
        parent.tell(Note(1))
        await asyncio.sleep(1.0)
        assert await inbox.ask(Got()) == []
        net = network(system)
        assert net.node_of(parent) == "a" and net.node_of(inbox) == "b"

    plan = FaultPlan((Partition(groups=(("a",), ("b",))),), nodes=NODES)
    result = run_schedule(Scenario(body, faults=plan), seed=0)
    assert result.ok, result.describe_error()
    first = next(e for e in result.trace if e.kind == "fault")
    assert first.peer is not None and first.peer.startswith("Sender<")


def test_scenario_code_partitions_and_heals() -> None:
    async def body(system: ActorSystem) -> None:
        net = network(system)
        inbox = system.spawn(Inbox, name="inbox")
        sender = system.spawn(lambda: Sender(inbox), name="sender")
        net.place(inbox, "b")
        net.place(sender, "a")
        net.partition(["a"], ["b"])
        sender.tell(Note(0))  # cut off
        await asyncio.sleep(0.1)
        net.heal()
        net.delay("a", None, 0.25)
        sender.tell(Note(1))  # arrives at 0.35 s
        await asyncio.sleep(0.1)
        net.heal()
        net.duplicate(None, "b")
        sender.tell(Note(2))  # arrives twice at 0.2 s
        await asyncio.sleep(1.0)
        assert await inbox.ask(Got()) == [2, 2, 1]
        with pytest.raises(SimulationError, match="two or more groups"):
            net.partition(["a"])

    result = run_schedule(Scenario(body), seed=0, strategy="fifo")
    assert result.ok, result.describe_error()
    network_events = [e.detail for e in result.trace if e.actor == "network"]
    assert network_events == [
        "partition a | b",
        "heal",
        "delay a->* 0.25s",
        "heal",
        "duplicate *->b",
    ]


def test_network_needs_a_simulated_system() -> None:
    async def main() -> None:
        async with ActorSystem() as system:
            with pytest.raises(SimulationError, match="simulated network"):
                network(system)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        (Partition(groups=(("a",),)), "two or more groups"),
        (LinkDelay(by=-1.0), "'by' must be >= 0"),
        (LinkDuplicate(probability=0.0), "probability"),
        (Partition(groups=(("a",), ("b",)), at=-1.0), "at >= 0"),
    ],
)
def test_bad_network_faults_are_refused(fault: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FaultPlan((fault,))  # type: ignore[arg-type]


def test_plans_with_network_faults_round_trip_through_json() -> None:
    plan = FaultPlan(
        (Partition(groups=(("a",), ("b", "c")), at=1.0, duration=2.0), LinkDelay(src="a", by=0.1)),
        nodes={"a": ("x",), "b": ("y",)},
    )
    assert FaultPlan.from_json(plan.to_json()) == plan
    with pytest.raises(ValueError, match="on both"):
        FaultPlan(nodes={"a": ("x",), "b": ("x",)})


def test_the_partition_example_holds_and_its_buggy_twin_fails(example: Example) -> None:
    for name in ("partition_heals", "partition_from_scenario_code"):
        explore(example(f"network_partition.py:{name}"), seeds=100, out=None).raise_if_failed()
    sc = example("network_partition.py:duplicates_break_a_counter")
    failure = explore(sc, seeds=100, out=None).failure
    assert failure is not None and "holds ['a', 'b', 'c', " in str(failure.error)
    again = replay(sc, seed=failure.seed, strategy=failure.strategy, check=False, out=None)
    assert again.sha256() == failure.result.sha256()
    assert any(e.detail == "drop (partition n1|n3)" for e in again.trace)


def test_loss_on_a_link_drops_messages_until_heal_and_replays() -> None:
    def body_for(got: list[list[int]]) -> Scenario:
        async def body(system: ActorSystem) -> None:
            inbox = system.spawn(Inbox, name="inbox")
            sender = system.spawn(lambda: Sender(inbox), name="sender")
            net = network(system)
            net.drop("a", "b", 0.5)
            net.drop("b", "a")  # the other direction carries nothing here
            for n in range(40):
                sender.tell(Note(n))
            await asyncio.sleep(1.0)
            net.heal()
            sender.tell(Note(99))
            await asyncio.sleep(1.0)
            got.append(await inbox.ask(Got()))

        return Scenario(body, faults=FaultPlan(nodes=NODES))

    first: list[list[int]] = []
    result = run_schedule(body_for(first), seed=3)
    assert result.ok, result.describe_error()
    notes = first[0]
    assert notes[-1] == 99 and 0 < len(notes) - 1 < 40
    assert notes[:-1] == sorted(notes[:-1])
    drops = [e.detail for e in result.trace if e.kind == "fault" and "loss" in (e.detail or "")]
    assert len(drops) == 40 - (len(notes) - 1)
    second: list[list[int]] = []
    assert run_schedule(body_for(second), seed=3).sha256() == result.sha256()
    assert second == first


def test_loss_needs_a_probability_in_range() -> None:
    async def body(system: ActorSystem) -> None:
        with pytest.raises(SimulationError, match="'probability' must be in"):
            network(system).drop("a", "b", 1.5)

    assert run_schedule(Scenario(body), seed=0).ok
