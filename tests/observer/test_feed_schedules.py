"""Deterministic schedules: the observer's feed coalesces a crash storm and loses nothing.

Virtual time, seeded schedules: for two seconds an actor is spawned and killed every 10 ms
(hundreds of lifecycle events). Whatever the interleaving, the feed publishes at most one
snapshot per coalescing interval, and once the storm is over the last snapshot is the
tree as it is (no event's effect is lost).
"""

from __future__ import annotations

import asyncio
from typing import Never

import msgspec

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.live import CountSubscribers, Publish
from lightflow_actors.observer import TreeFeed, TreeSnapshot
from lightflow_actors.testing import explore, scenario

INTERVAL = 0.25
STORM_S = 2.0


class Idle(Actor[Never]):
    """A short-lived actor of the storm."""


class Published(Ask[list[TreeSnapshot]], frozen=True):
    """What the stand-in pubsub received so far."""


class FakePubSub(Actor[Publish | CountSubscribers | Published]):
    """Stands in for the hub's pubsub: one subscriber always, publications recorded."""

    def __init__(self) -> None:
        self.snapshots: list[TreeSnapshot] = []

    @handler
    def publish(self, msg: Publish) -> None:
        assert isinstance(msg.message, TreeSnapshot)
        self.snapshots.append(msg.message)

    @handler
    def count(self, msg: CountSubscribers) -> int:
        return 1

    @handler
    def published(self, msg: Published) -> list[TreeSnapshot]:
        return list(self.snapshots)


@scenario
async def storm_is_coalesced(system: ActorSystem) -> None:
    pubsub = system.spawn(FakePubSub)
    system.spawn(lambda: TreeFeed(lambda: pubsub, interval=INTERVAL, refresh=3600.0))
    await asyncio.sleep(0)
    started = system.clock.now()
    while system.clock.now() - started < STORM_S:
        system.kill(system.spawn(Idle))
        await asyncio.sleep(0.01)
    await asyncio.sleep(INTERVAL * 3)  # the storm is over: the last flush has gone out

    snapshots = await pubsub.ask(Published())
    assert 1 <= len(snapshots) <= STORM_S / INTERVAL + 2, len(snapshots)
    versions = [s.version for s in snapshots]
    assert versions == sorted(versions)
    last = snapshots[-1]
    assert not [a for a in last.actors if a.actor_class == "Idle"], "a killed actor is shown"
    assert {a.id for a in last.actors} == {info.id for info in system.actors()}
    assert any(e.kind == "exited" for e in last.events)
    msgspec.json.encode(last)  # a snapshot is plain data (it may cross a broker one day)


def test_a_storm_is_coalesced_random_schedules() -> None:
    explore(storm_is_coalesced, seeds=30, strategy="random", out=lambda _: None).raise_if_failed()


def test_a_storm_is_coalesced_pct_schedules() -> None:
    explore(storm_is_coalesced, seeds=30, strategy="pct", out=lambda _: None).raise_if_failed()
