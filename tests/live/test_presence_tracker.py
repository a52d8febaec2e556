"""The presence tracker across simulated nodes, under the deterministic scheduler.

Each "node" is a `PubSubServer` and a `PresenceServer` of its own name in one simulated
system, linked by `Network`, an in-memory broker that can cut a node off (a partition)
and heal it. Timings are virtual, so a down period of seconds costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import pytest

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.kernel import SHUTDOWN, ActorRef
from lightflow_actors.live import (
    Delivery,
    GetPresences,
    GetTrackerInfo,
    PresenceConfig,
    PresenceDiff,
    PresenceEntry,
    PresenceServer,
    PresenceState,
    PubSubServer,
    SubscribeTopic,
    TrackPresence,
    UntrackPresence,
    apply_diff,
)
from lightflow_actors.live._presence import REPLICATION_TOPIC
from lightflow_actors.live._pubsub import RemoteDelivery

CONFIG = PresenceConfig(
    diff_interval=0.05,
    broadcast_period=1.0,
    max_silent_periods=2,
    down_period=5.0,
    permdown_period=30.0,
)


class Folded(Ask[dict[str, tuple[PresenceEntry, ...]]], frozen=True):
    pass


class Diffs(Ask[int], frozen=True):
    pass


class Watcher(Actor[Delivery | Folded | Diffs]):
    """A view's stand-in: folds the presence state and diffs it receives."""

    def __init__(self) -> None:
        self.people: dict[str, tuple[PresenceEntry, ...]] = {}
        self.diffs = 0

    @handler
    def delivery(self, msg: Delivery) -> None:
        if isinstance(msg.message, PresenceState):
            self.people = dict(msg.message.presences)
        elif isinstance(msg.message, PresenceDiff):
            self.diffs += 1
            self.people = apply_diff(self.people, msg.message)

    @handler
    def folded(self, msg: Folded) -> dict[str, tuple[PresenceEntry, ...]]:
        return self.people

    @handler
    def count(self, msg: Diffs) -> int:
        return self.diffs


@dataclass
class Network:
    """Carries publications between nodes, except to and from the nodes cut off."""

    nodes: dict[str, _Link] = field(default_factory=dict)
    cut: set[str] = field(default_factory=set)

    def link(self, name: str) -> _Link:
        self.nodes[name] = _Link(self, name)
        return self.nodes[name]

    def carry(self, sender: str, topic: str, data: bytes) -> None:
        if sender in self.cut:
            return
        for name, node in self.nodes.items():
            reachable = name != sender and name not in self.cut and topic in node.topics
            if reachable and node.deliver is not None:
                node.deliver(topic, data)


class _Link:
    remote = True

    def __init__(self, network: Network, name: str) -> None:
        self.network, self.name = network, name
        self.deliver: Callable[[str, bytes], None] | None = None
        self.topics: set[str] = set()

    def attach(self, deliver: Callable[[str, bytes], None]) -> None:
        self.deliver = deliver
        self.topics.clear()

    def interest(self, topic: str) -> None:
        self.topics.add(topic)

    def disinterest(self, topic: str) -> None:
        self.topics.discard(topic)

    def publish(self, topic: str, payload: bytes) -> None:
        self.network.carry(self.name, topic, payload)


@dataclass
class Node:
    name: str
    pubsub: ActorRef[object]
    presence: ActorRef[object]

    async def keys(self, topic: str = "room") -> list[str]:
        return sorted(await self.presence.ask(GetPresences(topic)))  # type: ignore[arg-type]


def start_node(system: ActorSystem, network: Network, name: str) -> Node:
    link = network.link(name)
    pubsub = system.spawn(lambda: PubSubServer(link))
    presence = system.spawn(lambda: PresenceServer(pubsub, CONFIG, node=name, replicate=True))
    return Node(name, pubsub, presence)  # type: ignore[arg-type]


def owner(system: ActorSystem) -> ActorRef[Delivery]:
    return system.spawn(Watcher)  # type: ignore[return-value]


async def watch(system: ActorSystem, node: Node, topic: str = "room") -> ActorRef[object]:
    watcher = system.spawn(Watcher)
    node.pubsub.tell(SubscribeTopic(topic, watcher))  # type: ignore[arg-type]
    node.presence.tell(TrackPresence(topic, f"watcher-{node.name}", {}, watcher))  # type: ignore[arg-type]
    return watcher  # type: ignore[return-value]


async def converged(nodes: list[Node], expected: list[str], within: float = 20.0) -> None:
    """Every node lists `expected` (plus its own watcher) within `within` virtual seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        seen = [[k for k in await n.keys() if not k.startswith("watcher")] for n in nodes]
        if all(s == expected for s in seen):
            return
        if loop.time() > deadline:
            raise AssertionError(f"presences did not converge on {expected}: {seen}")
        await asyncio.sleep(0.25)


@pytest.mark.deterministic(seeds=10, strategy="random")
async def test_three_nodes_converge_and_heal_after_a_partition(sim_system: ActorSystem) -> None:
    network = Network()
    a, b, c = (start_node(sim_system, network, n) for n in ("a", "b", "c"))
    view_a = await watch(sim_system, a)
    ada, bob, cy = owner(sim_system), owner(sim_system), owner(sim_system)
    a.presence.tell(TrackPresence("room", "ada", {"at": "a"}, ada))  # type: ignore[arg-type]
    b.presence.tell(TrackPresence("room", "bob", {"at": "b"}, bob))  # type: ignore[arg-type]
    c.presence.tell(TrackPresence("room", "cy", {"at": "c"}, cy))  # type: ignore[arg-type]
    await converged([a, b, c], ["ada", "bob", "cy"])

    network.cut.add("c")  # c's link to the others is gone
    await asyncio.sleep(CONFIG.down_after + 3 * CONFIG.broadcast_period)
    assert [k for k in await a.keys() if k[0] != "w"] == ["ada", "bob"]
    assert [k for k in await c.keys() if k[0] != "w"] == ["cy"]
    # both sides change while apart
    sim_system.kill(ada)
    dee = owner(sim_system)
    c.presence.tell(TrackPresence("room", "dee", {}, dee))  # type: ignore[arg-type]
    b.presence.tell(UntrackPresence("room", "bob", bob))  # type: ignore[arg-type]
    await asyncio.sleep(2 * CONFIG.broadcast_period)

    network.cut.clear()  # healed: heartbeats resume, gaps are transferred
    await converged([a, b, c], ["cy", "dee"])
    assert sorted(await a.keys()) == sorted(await b.keys()) == sorted(await c.keys())
    # what the view on a folded from its diffs is what the node lists
    await asyncio.sleep(2 * CONFIG.diff_interval)
    folded = await view_a.ask(Folded())  # type: ignore[attr-defined]
    assert sorted(folded) == await a.keys()


@pytest.mark.deterministic(seeds=5, strategy="random")
async def test_a_silent_node_goes_down_then_is_forgotten(sim_system: ActorSystem) -> None:
    network = Network()
    a, c = start_node(sim_system, network, "a"), start_node(sim_system, network, "c")
    c.presence.tell(TrackPresence("room", "cy", {}, owner(sim_system)))  # type: ignore[arg-type]
    await converged([a], ["cy"])
    network.cut.add("c")  # as if c were killed: it never speaks again
    loop = asyncio.get_running_loop()
    silent_from = loop.time()
    await converged([a], [], within=CONFIG.down_after + 3 * CONFIG.broadcast_period)
    assert loop.time() - silent_from >= CONFIG.down_after  # not before its down period
    info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
    [peer] = info.peers  # type: ignore[attr-defined]
    assert (peer.node, peer.status, peer.entries) == ("c", "down", 1)
    await asyncio.sleep(CONFIG.permdown_period)
    info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
    assert info.peers == ()  # type: ignore[attr-defined]
    assert info.entries == 0  # type: ignore[attr-defined]


@pytest.mark.deterministic(seeds=5, strategy="random")
async def test_a_stopping_node_says_goodbye_and_a_restarted_one_replaces_it(
    sim_system: ActorSystem,
) -> None:
    network = Network()
    a, c = start_node(sim_system, network, "a"), start_node(sim_system, network, "c")
    c.presence.tell(TrackPresence("room", "cy", {}, owner(sim_system)))  # type: ignore[arg-type]
    await converged([a], ["cy"])
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    sim_system.exit(c.presence, SHUTDOWN)  # type: ignore[arg-type]
    await converged([a], [], within=CONFIG.broadcast_period)  # well before its down period
    assert loop.time() - stopped_at < CONFIG.down_after
    # c again, killed this time (no goodbye), then started again: a new incarnation
    c2 = Node("c", c.pubsub, sim_system.spawn(
        lambda: PresenceServer(c.pubsub, CONFIG, node="c", replicate=True)  # type: ignore[arg-type]
    ))  # fmt: skip
    c2.presence.tell(TrackPresence("room", "cy", {}, owner(sim_system)))  # type: ignore[arg-type]
    await converged([a], ["cy"])
    sim_system.kill(c2.presence)  # type: ignore[arg-type]
    await sim_system.wait_exit(c2.presence)  # type: ignore[arg-type]
    c3 = Node("c", c.pubsub, sim_system.spawn(
        lambda: PresenceServer(c.pubsub, CONFIG, node="c", replicate=True)  # type: ignore[arg-type]
    ))  # fmt: skip
    c3.presence.tell(TrackPresence("room", "cyd", {}, owner(sim_system)))  # type: ignore[arg-type]
    # the new incarnation's first heartbeat replaces the old one at once
    await converged([a], ["cyd"], within=2 * CONFIG.broadcast_period)
    info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
    assert [p.node for p in info.peers] == ["c"]  # type: ignore[attr-defined]


@pytest.mark.deterministic(seeds=3, strategy="random")
async def test_joins_within_one_interval_reach_each_view_as_one_diff(
    sim_system: ActorSystem,
) -> None:
    pubsub = sim_system.spawn(PubSubServer)
    for interval, diffs_per_view in ((0.05, 1), (0.0, 50)):
        config = msgspec.structs.replace(CONFIG, diff_interval=interval)
        presence = sim_system.spawn(lambda c=config: PresenceServer(pubsub, c))  # type: ignore[misc]
        topic = f"room-{interval}"
        views = [sim_system.spawn(Watcher) for _ in range(50)]
        for view in views:
            pubsub.tell(SubscribeTopic(topic, view))  # type: ignore[arg-type]
        for i, view in enumerate(views):
            presence.tell(TrackPresence(topic, f"user{i}", {}, view))  # type: ignore[arg-type]
        await asyncio.sleep(1.0)
        for view in views:
            assert await view.ask(Diffs()) == diffs_per_view
            assert len(await view.ask(Folded())) == 50


@pytest.mark.deterministic(seeds=3, strategy="random")
async def test_hostile_replication_messages_are_dropped(sim_system: ActorSystem) -> None:
    network = Network()
    a = start_node(sim_system, network, "a")
    a.presence.tell(TrackPresence("room", "ada", {}, owner(sim_system)))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    nested: object = 1
    for _ in range(200):
        nested = [nested]
    bad: list[object] = [
        {"type": "lf.presence.heartbeat", "replica": "x"},  # no node, no clock
        {"type": "lf.presence.transfer_ack", "replica": "x", "node": "x", "state": nested},
        {"type": "lf.presence.heartbeat", "replica": "x", "node": "x", "clock": {"x": "1"}},
        {"type": "nope"},
        "text",
        nested,
    ]
    for message in bad:
        a.pubsub.tell(RemoteDelivery(REPLICATION_TOPIC, msgspec.msgpack.encode(message)))  # type: ignore[arg-type]
    a.pubsub.tell(RemoteDelivery(REPLICATION_TOPIC, b"\xff\xfe not msgpack"))  # type: ignore[arg-type]
    a.pubsub.tell(RemoteDelivery(REPLICATION_TOPIC, b"\xa2\xff\xfe"))  # invalid UTF-8 str  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
    assert info.dropped == len(bad)  # type: ignore[attr-defined]
    assert info.peers == ()  # type: ignore[attr-defined]
    assert await a.keys() == ["ada"]
