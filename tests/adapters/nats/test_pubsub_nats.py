"""The live pubsub across nodes over a real NATS server (started by the test).

Each node is its own `ActorSystem` with its own `PubSubServer` and NATS connection, as two
processes would be; the server's monitoring endpoint shows what each node subscribed to.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import (
    ClusterUnreachable,
    NatsPubSub,
    connect_cluster,
    pubsub_subject,
    topic_token,
)
from lightflow_actors.kernel import Actor, ActorRef, Ask, handler
from lightflow_actors.live import (
    CountSubscribers,
    Delivery,
    Publish,
    PubSubServer,
    SubscribeTopic,
    UnsubscribeTopic,
)

from ._servers import NatsServer, free_port

pytestmark = pytest.mark.anyio


class Seen(Ask[list[object]], frozen=True):
    pass


class Inbox(Actor[Delivery | Seen]):
    def __init__(self) -> None:
        self.got: list[object] = []

    @handler
    def delivery(self, msg: Delivery) -> None:
        self.got.append(msg.message)

    @handler
    def seen(self, msg: Seen) -> list[object]:
        return list(self.got)


@dataclass
class Node:
    name: str
    system: ActorSystem
    pubsub: ActorRef[object]
    adapter: NatsPubSub

    def inbox(self) -> ActorRef[Delivery | Seen]:
        return self.system.spawn(Inbox)


@contextlib.asynccontextmanager
async def node(server: NatsServer, name: str) -> AsyncIterator[Node]:
    client = await connect_cluster(server.url, node=name)
    adapter = NatsPubSub(client)
    try:
        async with ActorSystem() as system:
            pubsub = system.spawn(lambda: PubSubServer(adapter))
            yield Node(name, system, pubsub, adapter)  # type: ignore[arg-type]
    finally:
        await adapter.close()
        await client.close()


async def eventually(check: Callable[[], object], what: str, within: float = 20.0) -> None:
    """Poll `check` until truthy; the bound only stops a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_broadcast_reaches_every_node_once(nats_server: NatsServer) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        local, remote = a.inbox(), b.inbox()
        a.pubsub.tell(SubscribeTopic("room:1", local))
        b.pubsub.tell(SubscribeTopic("room:1", remote))
        await b.pubsub.ask(CountSubscribers("room:1"))  # type: ignore[arg-type]
        await b.adapter.flush()
        a.pubsub.tell(Publish("room:1", {"text": "hi", "n": 1}))
        await a.adapter.flush()
        got_b: list[object] = []

        async def poll() -> None:
            got_b[:] = await remote.ask(Seen())

        async def arrived() -> bool:
            await poll()
            return bool(got_b)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not await arrived():
            assert loop.time() < deadline, "the broadcast never reached node b"
            await asyncio.sleep(0.02)
        assert got_b == [{"text": "hi", "n": 1}]
        # the publisher's own subscriber got it once, by reference, from the local fan-out
        assert await local.ask(Seen()) == [{"text": "hi", "n": 1}]
        await asyncio.sleep(0.2)  # no late echo arrives
        assert await local.ask(Seen()) == [{"text": "hi", "n": 1}]
        assert a.adapter.received == 0


async def test_one_nats_subscription_per_topic_per_node(nats_server: NatsServer) -> None:
    async with node(nats_server, "b") as b:
        inboxes = [b.inbox() for _ in range(50)]
        for inbox in inboxes:
            b.pubsub.tell(SubscribeTopic("room:big", inbox))
            b.pubsub.tell(SubscribeTopic("room:other", inbox))
        assert await b.pubsub.ask(CountSubscribers("room:big")) == 50  # type: ignore[arg-type]
        await b.adapter.flush()
        subjects = sorted(nats_server.subscriptions("lightflow:b"))
        assert subjects == sorted(
            [pubsub_subject("lf", "room:big"), pubsub_subject("lf", "room:other")]
        )
        for inbox in inboxes:
            b.pubsub.tell(UnsubscribeTopic("room:big", inbox))
        await b.pubsub.ask(CountSubscribers("room:big"))  # type: ignore[arg-type]
        await b.adapter.flush()
        assert nats_server.subscriptions("lightflow:b") == [pubsub_subject("lf", "room:other")]


async def test_a_publication_nobody_wants_does_not_reach_a_node(nats_server: NatsServer) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        inbox = b.inbox()
        b.pubsub.tell(SubscribeTopic("wanted", inbox))
        await b.pubsub.ask(CountSubscribers("wanted"))  # type: ignore[arg-type]
        await b.adapter.flush()
        for i in range(20):
            a.pubsub.tell(Publish("unwanted", i))
        a.pubsub.tell(Publish("wanted", "yes"))
        await a.adapter.flush()
        await eventually(lambda: b.adapter.received >= 1, "the wanted publication")
        await b.pubsub.ask(CountSubscribers("wanted"))  # type: ignore[arg-type]  # handled
        assert b.adapter.received == 1
        assert await inbox.ask(Seen()) == ["yes"]


async def test_hostile_bytes_on_a_topic_are_dropped(nats_server: NatsServer) -> None:
    async with node(nats_server, "b") as b:
        inbox = b.inbox()
        b.pubsub.tell(SubscribeTopic("room", inbox))
        await b.pubsub.ask(CountSubscribers("room"))  # type: ignore[arg-type]
        await b.adapter.flush()
        raw = await nats.connect(nats_server.url)
        try:
            subject = pubsub_subject("lf", "room")
            for junk in (b"\xc1", b"\xa3\xff\xfe\xfd", b"\x91" * 5000 + b"\xc0", b""):
                await raw.publish(subject, junk)
            await raw.publish(subject, msgspec.msgpack.encode("good"))
            await raw.flush()
        finally:
            await raw.close()
        await eventually(lambda: b.adapter.received >= 5, "five deliveries")
        await b.pubsub.ask(CountSubscribers("room"))  # type: ignore[arg-type]  # all handled
        assert b.pubsub.alive
        got = await inbox.ask(Seen())
        assert got[-1] == "good"
        assert "good" in got and all(isinstance(m, str | int | bytes) or m is None for m in got)


async def test_nodes_come_back_after_the_nats_server_restarts(nats_server: NatsServer) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        inbox = b.inbox()
        b.pubsub.tell(SubscribeTopic("room", inbox))
        await b.pubsub.ask(CountSubscribers("room"))  # type: ignore[arg-type]
        await b.adapter.flush()
        await asyncio.to_thread(nats_server.stop)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(nats_server.start)
        await eventually(
            lambda: b.adapter._client.is_connected and a.adapter._client.is_connected,
            "both nodes reconnected",
            within=30,
        )
        await b.adapter._client.flush()  # the resubscription has reached the server

        async def delivered() -> bool:
            a.pubsub.tell(Publish("room", "after"))
            await a.adapter.flush()
            await asyncio.sleep(0.1)
            return "after" in await inbox.ask(Seen())

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await delivered():
            assert loop.time() < deadline, "no broadcast after the NATS restart"


async def test_an_unreachable_cluster_is_a_clear_error() -> None:
    with pytest.raises(ClusterUnreachable, match="cannot reach the cluster"):
        await connect_cluster(f"nats://127.0.0.1:{free_port()}", node="x", connect_timeout_s=1)


async def test_a_client_with_echo_is_refused(nats_server: NatsServer) -> None:
    client = await nats.connect(nats_server.url)
    try:
        with pytest.raises(ValueError, match="no_echo"):
            NatsPubSub(client)
    finally:
        await client.close()


VALID_TOKEN = st.text(min_size=0, max_size=300)


@given(a=VALID_TOKEN, b=VALID_TOKEN)
def test_topic_tokens_are_single_valid_tokens_and_distinct(a: str, b: str) -> None:
    for topic in (a, b):
        token = topic_token(topic)
        assert token and len(token) <= 200
        assert not set(token) & {".", "*", ">", " ", "\t", "\r", "\n"}
        assert token.isascii()
    if a != b:
        assert topic_token(a) != topic_token(b)
