"""PubSub (local fan-out, monitors, broker adapter) and Presence (diffs, crash removal)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorSystem, Ask, Mailbox, handler
from lightflow_actors.live import (
    CountSubscribers,
    Delivery,
    GetPresences,
    InMemoryBroker,
    PresenceConfig,
    PresenceDiff,
    PresenceEntry,
    PresenceServer,
    PresenceState,
    Publish,
    PubSubServer,
    SubscribeTopic,
    TrackPresence,
    UnsubscribeTopic,
    UntrackPresence,
    apply_diff,
)
from lightflow_actors.live._pubsub import RemoteDelivery

pytestmark = pytest.mark.anyio


class Seen(Ask[list[Delivery]], frozen=True):
    pass


class Inbox(Actor[Delivery | Seen]):
    def __init__(self) -> None:
        self.got: list[Delivery] = []

    @handler
    def delivery(self, msg: Delivery) -> None:
        self.got.append(msg)

    @handler
    def seen(self, msg: Seen) -> list[Delivery]:
        return list(self.got)


class Point(msgspec.Struct, frozen=True):
    x: int


async def until(predicate: object, tries: int = 200) -> None:
    for _ in range(tries):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_publish_reaches_each_subscriber_once_by_reference() -> None:
    async with ActorSystem() as system:
        pubsub = system.spawn(PubSubServer)
        a, b, c = (system.spawn(Inbox) for _ in range(3))
        for ref in (a, b):
            pubsub.tell(SubscribeTopic("room", ref))
            pubsub.tell(SubscribeTopic("room", ref))  # idempotent
        pubsub.tell(SubscribeTopic("other", c))
        message = Point(1)
        pubsub.tell(Publish("room", message))
        assert await pubsub.ask(CountSubscribers("room")) == 2
        got_a, got_b, got_c = [await r.ask(Seen()) for r in (a, b, c)]
        assert got_a == got_b == [Delivery("room", message)]
        assert got_a[0].message is message  # local fan-out: no copy
        assert got_c == []
        pubsub.tell(UnsubscribeTopic("room", a))
        pubsub.tell(Publish("room", Point(2)))
        assert await pubsub.ask(CountSubscribers("room")) == 1
        assert len(await a.ask(Seen())) == 1 and len(await b.ask(Seen())) == 2


async def test_a_dead_subscriber_is_removed_by_its_monitor() -> None:
    async with ActorSystem() as system:
        pubsub = system.spawn(PubSubServer)
        a = system.spawn(Inbox)
        pubsub.tell(SubscribeTopic("t1", a))
        pubsub.tell(SubscribeTopic("t2", a))
        assert await pubsub.ask(CountSubscribers("t1")) == 1
        system.kill(a)
        await system.wait_exit(a)
        assert await pubsub.ask(CountSubscribers("t1")) == 0
        assert await pubsub.ask(CountSubscribers("t2")) == 0


async def test_a_full_bounded_subscriber_misses_messages_without_hurting_others() -> None:
    async with ActorSystem() as system:
        pubsub = system.spawn(PubSubServer)
        slow = system.spawn(Inbox, mailbox=Mailbox(capacity=1, overflow="fail"))
        fast = system.spawn(Inbox)
        pubsub.tell(SubscribeTopic("t", slow))
        pubsub.tell(SubscribeTopic("t", fast))
        for i in range(5):
            pubsub.tell(Publish("t", i))
        assert await pubsub.ask(CountSubscribers("t")) == 2  # the publications are out
        assert len(await fast.ask(Seen())) == 5
        assert len(await slow.ask(Seen())) < 5
        assert pubsub.alive


async def test_a_broker_carries_publications_between_nodes() -> None:
    broker = InMemoryBroker()
    async with ActorSystem("a") as node_a, ActorSystem("b") as node_b:
        pubsub_a = node_a.spawn(lambda: PubSubServer(broker.adapter()))
        pubsub_b = node_b.spawn(lambda: PubSubServer(broker.adapter()))
        inbox_a, inbox_b = node_a.spawn(Inbox), node_b.spawn(Inbox)
        pubsub_a.tell(SubscribeTopic("room", inbox_a))
        pubsub_b.tell(SubscribeTopic("room", inbox_b))
        await pubsub_b.ask(CountSubscribers("room"))
        pubsub_a.tell(Publish("room", Point(7)))
        got_b: list[Delivery] = []

        async def arrived() -> None:
            while not got_b:
                got_b.extend(await inbox_b.ask(Seen()))

        await asyncio.wait_for(arrived(), 5)
        # across a broker a message arrives as builtins; the subscriber converts it
        assert msgspec.convert(got_b[0].message, Point) == Point(7)
        assert [d.message for d in await inbox_a.ask(Seen())] == [Point(7)]  # no echo
        pubsub_b.tell(RemoteDelivery("room", b"\xc1 not msgpack"))  # hostile bytes: dropped
        assert await pubsub_b.ask(CountSubscribers("room")) == 1


async def test_presence_join_leave_and_crash_removal() -> None:
    async with ActorSystem() as system:
        pubsub = system.spawn(PubSubServer)
        # one diff per change (no batching): every join and leave is seen on its own
        presence = system.spawn(lambda: PresenceServer(pubsub, PresenceConfig(diff_interval=0)))
        watcher, ada, bob = (system.spawn(Inbox) for _ in range(3))
        pubsub.tell(SubscribeTopic("room", watcher))
        await pubsub.ask(CountSubscribers("room"))
        presence.tell(TrackPresence("room", "ada", {"name": "Ada"}, ada))
        presence.tell(TrackPresence("room", "bob", {}, bob))
        presence.tell(TrackPresence("room", "bob", {"tab": 2}, bob))
        everyone = await presence.ask(GetPresences("room"))
        assert sorted(everyone) == ["ada", "bob"] and len(everyone["bob"]) == 2
        # the tracker got the full state at once
        [state] = [d.message for d in await ada.ask(Seen()) if isinstance(d.message, PresenceState)]
        assert list(state.presences) == ["ada"]
        presence.tell(UntrackPresence("room", "ada", ada))
        system.kill(bob)
        await system.wait_exit(bob)
        assert await presence.ask(GetPresences("room")) == {}
        diffs = [d.message for d in await watcher.ask(Seen())]
        assert all(isinstance(d, PresenceDiff) for d in diffs)
        folded: dict[str, tuple[PresenceEntry, ...]] = {}
        for diff in diffs:
            folded = apply_diff(folded, diff)  # type: ignore[arg-type]
        assert folded == {}
        assert any("bob" in d.leaves for d in diffs)  # type: ignore[union-attr]


ENTRY = st.builds(PresenceEntry, st.text("abc", min_size=1, max_size=2), st.just({}))
PRESENCES = st.dictionaries(st.sampled_from("xyz"), st.lists(ENTRY, max_size=3).map(tuple))


@settings(max_examples=200, deadline=None)
@given(PRESENCES, PRESENCES, PRESENCES)
def test_apply_diff_is_idempotent_and_leaves_win_over_stale_joins(
    raw_start: dict[str, tuple[PresenceEntry, ...]],
    joins: dict[str, tuple[PresenceEntry, ...]],
    leaves: dict[str, tuple[PresenceEntry, ...]],
) -> None:
    start = apply_diff({}, PresenceDiff("t", joins=raw_start))
    diff = PresenceDiff("t", joins=joins, leaves=leaves)
    once = apply_diff(start, diff)

    def refs(p: dict[str, tuple[PresenceEntry, ...]]) -> dict[str, set[str]]:
        return {k: {e.ref for e in v} for k, v in p.items()}

    # a diff that raced with a snapshot is harmless
    assert refs(apply_diff(once, diff)) == refs(once)
    left = {(key, e.ref) for key, entries in leaves.items() for e in entries}
    for key, entries in once.items():
        assert entries, "no empty keys"
        refs = [e.ref for e in entries]
        assert len(refs) == len(set(refs)), "no duplicate refs"
        for entry in entries:
            assert (key, entry.ref) not in left or entry in joins.get(key, ())
