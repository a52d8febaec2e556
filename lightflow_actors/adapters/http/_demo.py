"""A small demo supervision tree for ``lightflow serve --demo`` (and the tests).

::

    demo            Supervisor one_for_one
    ├── ticker      sends work to the pool every 0.5 s (so messages/s moves)
    ├── pool        Supervisor rest_for_one
    │   ├── worker-1, worker-2, worker-3
    ├── flaky       crashes by itself every 20 s, to show a restart without clicking
    └── sessions    DynamicSupervisor with two transient sessions

Kill a worker from the observer (or ``POST /actors/{id}/kill``) and watch ``pool`` restart
it and, by ``rest_for_one``, the workers started after it.
"""

from __future__ import annotations

import functools
from typing import Never, cast

import msgspec

from ...kernel import Actor, ActorSystem, handler
from ...supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorRef,
    start_child,
    which_children,
)

DEMO_NAME = "demo"
WORKERS = 3
TICK_S = 0.5
FLAKY_EVERY_S = 20.0


class Tick(msgspec.Struct, frozen=True):
    """A timer tick (the ticker and flaky send it to themselves)."""


class Work(msgspec.Struct, frozen=True):
    """One unit of demo work for a pool worker."""

    n: int


class DemoCrash(RuntimeError):
    """The crash ``flaky`` stages on purpose."""


class Worker(Actor[Work]):
    """Counts the work it gets; registered as ``demo.<name>`` while it runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = 0

    def on_start(self) -> None:
        self.system.register(f"{DEMO_NAME}.{self.name}", self.ref)

    @handler
    def work(self, msg: Work) -> None:
        self.done += 1


class Ticker(Actor[Tick]):
    """Every ``TICK_S`` seconds, one ``Work`` to each pool worker that is running."""

    def __init__(self) -> None:
        self.n = 0

    def on_start(self) -> None:
        self.send_after(TICK_S, self.ref, Tick())

    @handler
    def tick(self, msg: Tick) -> None:
        self.n += 1
        for i in range(1, WORKERS + 1):
            name = f"{DEMO_NAME}.worker-{i}"
            if self.system.whereis(name) is not None:
                self.system.lookup(name, Worker).tell(Work(self.n))
        self.send_after(TICK_S, self.ref, Tick())


class Flaky(Actor[Tick]):
    """Crashes on purpose every ``FLAKY_EVERY_S`` seconds; its supervisor restarts it."""

    def on_start(self) -> None:
        self.send_after(FLAKY_EVERY_S, self.ref, Tick())

    @handler
    def tick(self, msg: Tick) -> None:
        raise DemoCrash("flaky crashed on purpose (demo); its supervisor restarts it")


class Session(Actor[Never]):
    """An idle session, child of the dynamic supervisor ``sessions``."""


def _pool() -> Supervisor:
    workers: list[ChildSpec[Never]] = [
        ChildSpec(id=f"worker-{i}", start=functools.partial(Worker, f"worker-{i}"))
        for i in range(1, WORKERS + 1)
    ]
    return Supervisor(workers, strategy="rest_for_one", intensity=10, period=10.0)


def _sessions() -> DynamicSupervisor:
    return DynamicSupervisor(max_children=100, intensity=10, period=10.0)


def _demo() -> Supervisor:
    specs: list[ChildSpec[Never]] = [
        ChildSpec(id="ticker", start=Ticker),
        ChildSpec(id="pool", start=_pool, type="supervisor"),
        ChildSpec(id="flaky", start=Flaky),
        ChildSpec(id="sessions", start=_sessions, type="supervisor"),
    ]
    return Supervisor(specs, strategy="one_for_one", intensity=10, period=10.0)


async def start_demo(system: ActorSystem) -> SupervisorRef:
    """Start the demo tree under the name ``demo``; returns its supervisor."""
    demo: SupervisorRef = await system.start_actor(_demo, name=DEMO_NAME)
    for child in await which_children(demo):
        if child.id == "sessions" and child.ref is not None:
            sessions = cast(SupervisorRef, child.ref)
            for _ in range(2):
                await start_child(
                    sessions, ChildSpec(id="session", start=Session, restart="transient")
                )
    return demo
