"""Actors and trees the HTTP tests run against."""

from __future__ import annotations

from typing import Never, cast

import msgspec

from lightflow_actors import Actor, ActorSystem, Ask, ExitReason, handler
from lightflow_actors.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorRef,
    start_child,
)


class Ping(Ask[str], frozen=True):
    pass


class Work(msgspec.Struct, frozen=True):
    pass


class Worker(Actor[Ping | Work]):
    """Answers pings, counts work; records its stop reasons in ``stops``."""

    stops: list[str] = []

    @handler
    def ping(self, msg: Ping) -> str:
        return "pong"

    @handler
    def work(self, msg: Work) -> None:
        return None

    def on_stop(self, reason: ExitReason) -> None:
        Worker.stops.append(str(reason))


class Idle(Actor[Never]):
    pass


class Tree(msgspec.Struct):
    """Ids of the test tree: ``top`` (one_for_one) with children a, b, temp, dyn(dyn-1)."""

    top: int
    a: int
    b: int
    temp: int
    dyn: int
    dyn_child: int
    loner: int


def _top() -> Supervisor:
    specs: list[ChildSpec[Never]] = [
        ChildSpec(id="a", start=Worker),
        ChildSpec(id="b", start=Worker, shutdown=1.0),
        ChildSpec(id="temp", start=Worker, restart="temporary"),
        ChildSpec(id="dyn", start=DynamicSupervisor, type="supervisor"),
    ]
    return Supervisor(specs, intensity=50, period=10.0)


async def start_tree(system: ActorSystem) -> Tree:
    """Start the test tree plus an unsupervised ``loner``; return the ids."""
    top: SupervisorRef = await system.start_actor(_top, name="top")
    children = system.info(top).children
    dyn_ref = cast(SupervisorRef, system.get(children[3]))
    dyn_child = await start_child(dyn_ref, ChildSpec(id="session", start=Worker))
    loner = system.spawn(Worker, name="loner")
    return Tree(
        top=top.id,
        a=children[0],
        b=children[1],
        temp=children[2],
        dyn=children[3],
        dyn_child=dyn_child.id,
        loner=loner.id,
    )
