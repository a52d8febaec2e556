"""Two nodes' chat rooms linked by a broker keep the same history in the same order:
ids are Lamport clocks, ties broken by the room's origin, each message once."""

from __future__ import annotations

import asyncio

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live import InMemoryBroker, PubSubServer
from lightflow_actors.live_examples.chat import ChatMessage, History, Post, Room, merge

pytestmark = pytest.mark.anyio


async def test_two_rooms_converge_on_one_ordered_history() -> None:
    broker = InMemoryBroker()
    async with ActorSystem() as a, ActorSystem() as b:
        pubsub_a = a.spawn(lambda: PubSubServer(broker.adapter()))
        pubsub_b = b.spawn(lambda: PubSubServer(broker.adapter()))
        room_a = await a.start_actor(lambda: Room(lambda: pubsub_a))
        room_b = await b.start_actor(lambda: Room(lambda: pubsub_b))
        room_a.tell(Post("ada", "one"))
        room_b.tell(Post("bob", "two"))  # concurrent with "one": the same id, another origin
        room_a.tell(Post("ada", "three"))
        for _ in range(50):  # let the broker's deliveries be handled on both nodes
            await asyncio.sleep(0)
            history_a, history_b = await room_a.ask(History()), await room_b.ask(History())
            if len(history_a) == len(history_b) == 3:
                break
        assert history_a == history_b
        assert [m.text for m in history_a if m.author == "ada"] == ["one", "three"]
        assert [m.key for m in history_a] == sorted(m.key for m in history_a)
        room_b.tell(Post("bob", "four"))  # b's clock moved past everything it saw
        for _ in range(50):
            await asyncio.sleep(0)
            history_a = await room_a.ask(History())
            if len(history_a) == 4:
                break
        last = history_a[-1]
        assert (last.text, last.id) == ("four", max(m.id for m in history_a[:3]) + 1)


def test_merge_keeps_each_message_once_in_order() -> None:
    one, two = ChatMessage(1, "ada", "x", "a"), ChatMessage(1, "bob", "y", "b")
    three = ChatMessage(2, "ada", "z", "a")
    assert merge((one,), (two, one, three)) == (one, two, three)
    assert merge((one, two, three), (two,)) == (one, two, three)
    assert merge((), (three, two, one), keep=2) == (two, three)
