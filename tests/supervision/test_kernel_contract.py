"""Kernel behaviour supervision relies on (both found by the supervision work, fixed in 5eb7438).

1. ``ActorSystem.shutdown`` stops the tree from the top: a supervisor stops its own
   subtree, so it never sees its children stopped under it and restarts them.
2. ``start_actor`` forgets its waiter when the awaiting task is cancelled (a supervisor
   killed while it starts a child).
"""

from __future__ import annotations

import asyncio

from lightflow_actors import Actor, handler
from lightflow_actors.supervision import ChildSpec, Supervisor

from ..conftest import Runtime
from ._actors import Crash, Event, exited, spec


async def test_system_shutdown_does_not_make_supervisors_restart_children(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        await system.start_actor(lambda: Supervisor([spec(log, "a"), spec(log, "b")], intensity=9))
        log.clear()
    assert [kind for kind, _ in log] == ["stop", "stop"]


class SlowStart(Actor[Crash]):
    async def on_start(self) -> None:
        await asyncio.sleep(30)

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)


async def test_a_cancelled_start_actor_leaves_no_waiter_behind(runtime: Runtime) -> None:
    async with runtime.system(root=False) as system:
        sup = system.spawn(lambda: Supervisor([ChildSpec(id="slow", start=SlowStart)]))
        await asyncio.sleep(0.01)  # the supervisor is inside start_actor(SlowStart)
        system.kill(sup)
        await exited(system, sup)
        await asyncio.sleep(0)
        assert system.actor_count() == 0
        assert system._start_waiters == {}
