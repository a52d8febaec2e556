"""Deterministic schedules: the runs page's feed ticks on time while the loop is held.

A sync provider that is not `blocking` runs on the server's loop (ADR 0122): while it
calls, no callback runs, so the answer of the feed's read waits on the loop although the
read itself took no time on its thread. The feed stretches its ticks by what its reads
cost (`BUSY_SHARE`); counting that wait as cost stretched a 0.25 s hold into a 1.5 s
period, and the runs page never showed a short run half done (ADR 0135).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar, cast

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.live import CountSubscribers, Publish, SubscribeTopic
from lightflow_actors.observer.runs._feed import LIST_TOPIC, RunsFeed
from lightflow_actors.runs import HostNames, RunsOperations, RunsPort
from lightflow_actors.testing import Scenario, explore, scenario

T = TypeVar("T")

INTERVAL = 0.25
HELD = 0.25  # a 0.25 s sync provider call on the loop, as in the browser test's fixture
WATCHED_S = 5.0


class HeldPort(RunsPort):
    """Reads that take no time on their thread, answered `HELD` seconds late: the loop
    was held by an on-loop call meanwhile. Records when each read was asked."""

    def __init__(self, system: ActorSystem, runs: Path) -> None:
        super().__init__(HostNames("held"))
        self.clock = system.clock
        self.asked: list[float] = []
        # An empty runs folder: a listing reads nothing.
        self.ops = cast(RunsOperations, SimpleNamespace(store=SimpleNamespace(runs=runs)))

    async def read(self, label: str, op: Callable[[RunsOperations], T]) -> T:
        self.asked.append(self.clock.now())
        answer = op(self.ops)
        await asyncio.sleep(HELD)
        return answer


class Listings(Ask[int], frozen=True):
    """How many listings the stand-in pubsub received."""


class ListWatched(Actor[Publish | CountSubscribers | SubscribeTopic | Listings]):
    """Stands in for the hub's pubsub: one page watches the list."""

    def __init__(self) -> None:
        self.listings = 0

    @handler
    def publish(self, msg: Publish) -> None:
        self.listings += 1

    @handler
    def count(self, msg: CountSubscribers) -> int:
        return 1 if msg.topic == LIST_TOPIC else 0

    @handler
    def subscribe(self, msg: SubscribeTopic) -> None:
        pass

    @handler
    def listed(self, msg: Listings) -> int:
        return self.listings


def feed_under_held_loop(runs: Path) -> Scenario:
    @scenario(name="runs_feed_ticks_while_the_loop_is_held")
    async def run(system: ActorSystem) -> None:
        pubsub = system.spawn(ListWatched)
        port = HeldPort(system, runs)
        system.spawn(lambda: RunsFeed(port, lambda: pubsub, interval=INTERVAL))
        await asyncio.sleep(WATCHED_S)

        gaps = [b - a for a, b in zip(port.asked, port.asked[1:], strict=False)]
        assert gaps, "the feed never read twice"
        # The read itself cost nothing: the next one is due an interval after the answer.
        assert max(gaps) <= INTERVAL + HELD + 1e-6, gaps
        assert len(port.asked) >= WATCHED_S / (INTERVAL + HELD) - 1, port.asked
        assert await pubsub.ask(Listings()) >= 1

    return run


def test_the_runs_feed_ticks_on_time_while_the_loop_is_held(tmp_path: Path) -> None:
    explore(
        feed_under_held_loop(tmp_path / "runs"), seeds=20, strategy="random", out=lambda _: None
    ).raise_if_failed()
