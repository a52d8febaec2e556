"""A pubsub adapter learns topic interest: the first local subscriber of a topic calls
`interest`, the last one leaving (unsubscribe or exit) calls `disinterest`, a restart
forgets everything; `InMemoryBroker` delivers only to nodes that want the topic."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.kernel import Actor, handler
from lightflow_actors.live import (
    CountSubscribers,
    Delivery,
    InMemoryBroker,
    Publish,
    PubSubServer,
    SubscribeTopic,
    UnsubscribeTopic,
)

pytestmark = pytest.mark.anyio


class Recorder:
    remote = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def attach(self, deliver: Callable[[str, bytes], None]) -> None:
        self.calls.append(("attach", ""))

    def interest(self, topic: str) -> None:
        self.calls.append(("interest", topic))

    def disinterest(self, topic: str) -> None:
        self.calls.append(("disinterest", topic))

    def publish(self, topic: str, payload: bytes) -> None:
        self.calls.append(("publish", topic))


class Sink(Actor[Delivery]):
    @handler
    def delivery(self, msg: Delivery) -> None:
        pass


async def test_interest_follows_first_and_last_subscriber() -> None:
    adapter = Recorder()
    async with ActorSystem() as system:
        pubsub = system.spawn(lambda: PubSubServer(adapter))
        one, two = system.spawn(Sink), system.spawn(Sink)
        for sink in (one, two):
            pubsub.tell(SubscribeTopic("t", sink))
        pubsub.tell(SubscribeTopic("t", one))  # again: idempotent
        pubsub.tell(UnsubscribeTopic("t", one))
        await pubsub.ask(CountSubscribers("t"))
        assert adapter.calls == [("attach", ""), ("interest", "t")]
        await system.terminate(two)  # the last subscriber exits: its monitor fires
        while await pubsub.ask(CountSubscribers("t")):
            pass
        assert adapter.calls[-1] == ("disinterest", "t")
        pubsub.tell(Publish("t", 1))  # nobody here wants it; it still goes to the others
        await pubsub.ask(CountSubscribers("t"))
        assert adapter.calls[-1] == ("publish", "t")


async def test_the_in_memory_broker_delivers_only_where_a_topic_is_wanted() -> None:
    broker = InMemoryBroker()
    a, b, c = broker.adapter(), broker.adapter(), broker.adapter()
    async with ActorSystem() as system:
        pubsub_a = system.spawn(lambda: PubSubServer(a))
        pubsub_b = system.spawn(lambda: PubSubServer(b))
        system.spawn(lambda: PubSubServer(c))
        pubsub_b.tell(SubscribeTopic("wanted", system.spawn(Sink)))
        await pubsub_b.ask(CountSubscribers("wanted"))
        pubsub_a.tell(Publish("wanted", 1))
        pubsub_a.tell(Publish("unwanted", 2))
        await pubsub_a.ask(CountSubscribers("x"))
    assert broker.sent == 1  # to b, for "wanted"; c wanted nothing, a never hears itself
