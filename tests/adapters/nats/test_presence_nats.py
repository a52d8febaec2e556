"""Presence across three nodes over a real NATS server (started by the test).

Each node is its own `ActorSystem` with its own NATS connection, `PubSubServer` and
replicating `PresenceServer`, as three processes would be. Node c reaches NATS through a
TCP proxy the test can cut: a partition of c, then its healing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from lightflow_actors import Actor, ActorSystem, handler
from lightflow_actors.adapters.nats import NatsPubSub, connect_cluster
from lightflow_actors.kernel import ActorRef
from lightflow_actors.live import (
    Delivery,
    GetPresences,
    GetTrackerInfo,
    PresenceConfig,
    PresenceServer,
    PubSubServer,
    TrackPresence,
    UntrackPresence,
)

from ...tcp_proxy import TcpProxy
from ._servers import NatsServer

pytestmark = pytest.mark.anyio

CONFIG = PresenceConfig(
    diff_interval=0.02,
    broadcast_period=0.2,
    max_silent_periods=2,
    down_period=1.5,
    permdown_period=120.0,
)


class Owner(Actor[Delivery]):
    @handler
    def delivery(self, msg: Delivery) -> None:
        return None


@dataclass
class Node:
    name: str
    system: ActorSystem
    presence: ActorRef[object]

    def track(self, key: str) -> ActorRef[Delivery]:
        owner = self.system.spawn(Owner)
        self.presence.tell(TrackPresence("room", key, {"node": self.name}, owner))  # type: ignore[arg-type]
        return owner

    async def keys(self) -> list[str]:
        return sorted(await self.presence.ask(GetPresences("room")))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def node(url: str, name: str) -> AsyncIterator[Node]:
    client = await connect_cluster(url, node=name)
    adapter = NatsPubSub(client)
    try:
        async with ActorSystem(name) as system:
            pubsub = system.spawn(lambda: PubSubServer(adapter))
            presence = system.spawn(
                lambda: PresenceServer(pubsub, CONFIG, node=name, replicate=True)
            )
            yield Node(name, system, presence)  # type: ignore[arg-type]
            await adapter.flush_quietly(2)
    finally:
        await adapter.close()
        await client.close()


async def converge(nodes: list[Node], expected: list[str], within: float = 30.0) -> None:
    """Poll until every node lists `expected`; the bound only stops a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        seen = [await n.keys() for n in nodes]
        if all(s == expected for s in seen):
            return
        if loop.time() > deadline:
            raise AssertionError(f"presences did not converge on {expected}: {seen}")
        await asyncio.sleep(0.05)


async def peers_up(node: Node, names: set[str], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        info = await node.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
        status = {p.node: p.status for p in info.peers}  # type: ignore[attr-defined]
        if status == dict.fromkeys(names, "up"):
            return
        if loop.time() > deadline:
            raise AssertionError(f"{node.name} sees its peers as {status}")
        await asyncio.sleep(0.05)


async def test_three_nodes_converge_partition_and_heal(nats_server: NatsServer) -> None:
    proxy = await TcpProxy(nats_server.port).start()
    try:
        async with (
            node(nats_server.url, "a") as a,
            node(nats_server.url, "b") as b,
            node(f"nats://127.0.0.1:{proxy.port}", "c") as c,
        ):
            ada, bob = a.track("ada"), b.track("bob")
            c.track("cy")
            await converge([a, b, c], ["ada", "bob", "cy"])

            proxy.cut()  # c loses NATS: a and b stop hearing it, it stops hearing them
            await converge([a, b], ["ada", "bob"])
            await converge([c], ["cy"])
            info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
            assert {p.node: p.status for p in info.peers} == {"b": "up", "c": "down"}  # type: ignore[attr-defined]
            # both sides change while apart
            a.system.kill(ada)
            c.track("dee")
            b.presence.tell(UntrackPresence("room", "bob", bob))  # type: ignore[arg-type]
            await converge([a, b], [])

            proxy.heal()  # nats-py reconnects and resubscribes; the replicas catch up
            await converge([a, b, c], ["cy", "dee"])
            await peers_up(c, {"a", "b"})
            c.track("eve")  # and c's changes reach the others again
            await converge([a, b, c], ["cy", "dee", "eve"])
    finally:
        await proxy.close()


async def test_a_node_that_stops_leaves_the_others_at_once(nats_server: NatsServer) -> None:
    async with node(nats_server.url, "a") as a:
        async with node(nats_server.url, "b") as b:
            b.track("bob")
            await converge([a, b], ["bob"])
        # b's system stopped: its tracker said goodbye, so a forgot b outright (a silent
        # b would be "down" first, and forgotten only after the permdown period)
        await converge([a], [])
        info = await a.presence.ask(GetTrackerInfo())  # type: ignore[arg-type]
        assert info.peers == ()  # type: ignore[attr-defined]


async def test_nodes_reconverge_after_the_nats_server_restarts(nats_server: NatsServer) -> None:
    async with node(nats_server.url, "a") as a, node(nats_server.url, "b") as b:
        a.track("ada")
        b.track("bob")
        await converge([a, b], ["ada", "bob"])
        nats_server.stop()  # NATS is gone for a while (same port and store when it is back)
        await asyncio.sleep(CONFIG.down_after + 1.0)
        # each node now sees only its own presences (the other is silent, hence down)
        await converge([a], ["ada"])
        await converge([b], ["bob"])
        b.track("cy")  # a change while apart
        await asyncio.to_thread(nats_server.start)
        # nats-py reconnects by itself and resubscribes; heartbeats and transfers catch up
        await converge([a, b], ["ada", "bob", "cy"])
        await peers_up(a, {"b"})
        await peers_up(b, {"a"})
