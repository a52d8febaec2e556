"""One virtual hour of timers, sleeps and ask deadlines, run in a fraction of a second.

A heartbeat re-arms ``send_after`` every second, a watchdog checks every 5 s that a beat
came in the last 2 s, a reporter wakes every minute, a poller sleeps 10 s inside an async
handler, and an ask to a stuck actor times out after 30 s. The loop jumps virtual time to
the next timer whenever nothing is ready, so the hour costs only the callbacks it runs.
Every assertion is on virtual time; none on the wall clock.

Run it: ``uv run --frozen python examples/deterministic/virtual_hour.py``
"""

from __future__ import annotations

import asyncio

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, AskTimeout, handler
from lightflow_actors.testing import WALL_ANCHOR_MS, explore, scenario

HOUR = 3600.0


class Beat(msgspec.Struct, frozen=True):
    pass


class Seen(msgspec.Struct, frozen=True):
    at: float


class Check(msgspec.Struct, frozen=True):
    pass


class Report(msgspec.Struct, frozen=True):
    pass


class Poll(msgspec.Struct, frozen=True):
    pass


class Stats(Ask[dict[str, int]], frozen=True):
    pass


class Stuck(Ask[None], frozen=True):
    pass


class Watchdog(Actor[Seen | Check | Stats]):
    def __init__(self) -> None:
        self.last_seen = 0.0
        self.checks = 0
        self.missed = 0

    def on_start(self) -> None:
        self.send_after(5.0, self.ref, Check())

    @handler
    def seen(self, msg: Seen) -> None:
        self.last_seen = msg.at

    @handler
    def check(self, msg: Check) -> None:
        self.checks += 1
        if self.system.clock.now() - self.last_seen > 2.0:
            self.missed += 1
        self.send_after(5.0, self.ref, Check())

    @handler
    def stats(self, msg: Stats) -> dict[str, int]:
        return {"checks": self.checks, "missed": self.missed}


class Heartbeat(Actor[Beat | Stats]):
    def __init__(self, watchdog: ActorRef[Seen | Check | Stats]) -> None:
        self.watchdog = watchdog
        self.beats = 0

    def on_start(self) -> None:
        self.send_after(1.0, self.ref, Beat())

    @handler
    def beat(self, msg: Beat) -> None:
        self.beats += 1
        self.watchdog.tell(Seen(self.system.clock.now()))
        self.send_after(1.0, self.ref, Beat())

    @handler
    def stats(self, msg: Stats) -> dict[str, int]:
        return {"beats": self.beats}


class Reporter(Actor[Report | Poll | Stats]):
    """Wakes every minute; at minutes 5, 15, ..., 55 it also polls, sleeping 10 s in its handler."""

    def __init__(self) -> None:
        self.reports = 0
        self.polls = 0

    def on_start(self) -> None:
        self.send_after(60.0, self.ref, Report())

    @handler
    def report(self, msg: Report) -> None:
        self.reports += 1
        if self.reports % 10 == 5:
            self.ref.tell(Poll())
        self.send_after(60.0, self.ref, Report())

    @handler
    async def poll(self, msg: Poll) -> None:
        await asyncio.sleep(10.0)
        self.polls += 1

    @handler
    def stats(self, msg: Stats) -> dict[str, int]:
        return {"reports": self.reports, "polls": self.polls}


class Sink(Actor[Stuck]):
    """Never answers in time: its handler sleeps past any ask deadline."""

    @handler
    async def stuck(self, msg: Stuck) -> None:
        await asyncio.sleep(HOUR)


@scenario
async def virtual_hour(system: ActorSystem) -> None:
    watchdog = system.spawn(Watchdog, name="watchdog")
    system.spawn(lambda: Heartbeat(watchdog), name="heartbeat")
    system.spawn(Reporter, name="reporter")
    sink = system.spawn(Sink, name="sink")
    started = system.clock.now()
    try:
        await sink.ask(Stuck(), timeout=30.0)
        raise AssertionError("the ask to the stuck actor must time out")
    except AskTimeout:
        assert system.clock.now() - started == 30.0
    await asyncio.sleep(HOUR + 0.5 - system.clock.now())
    assert system.clock.now() == HOUR + 0.5
    assert system.clock.wall_ms() == WALL_ANCHOR_MS + int((HOUR + 0.5) * 1000)
    beats = await system.lookup("heartbeat", Heartbeat).ask(Stats())
    dog = await watchdog.ask(Stats())
    rep = await system.lookup("reporter", Reporter).ask(Stats())
    assert beats == {"beats": 3600}, beats
    assert dog == {"checks": 720, "missed": 0}, dog
    assert rep == {"reports": 60, "polls": 6}, rep


def main() -> None:
    explore(virtual_hour, seeds=5, strategy="random").raise_if_failed()


if __name__ == "__main__":
    main()
