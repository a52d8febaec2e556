"""The root supervisor: supervised services, adopted top-level actors, ordered shutdown.

``ActorSystem`` does not start the root yet (the lead wires it); these tests spawn the
"top-level" actors with ``parent=root, link=True`` as the wired ``system.spawn`` will.
"""

from __future__ import annotations

from typing import cast

import pytest

from lightflow_actors import SHUTDOWN, Actor, ActorRef, ActorSystem, handler
from lightflow_actors.supervision import start_child, start_root, which_children

from ._actors import Crash, Event, Worker, crash_and_settle, exited, spec

pytestmark = pytest.mark.anyio


class Spawner(Actor[Crash]):
    """A plain actor that spawns an unlinked child of its own."""

    def __init__(self, log: list[Event]) -> None:
        self.log = log

    def on_start(self) -> None:
        self.spawn(lambda: Worker(self.log, "grandchild"))

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)


async def test_root_supervises_services_and_adopts_top_level_actors() -> None:
    log: list[Event] = []
    async with ActorSystem(root=False) as system:
        root = await start_root(system, [spec(log, "svc")], intensity=5)
        adopted = system.spawn(lambda: Worker(log, "top"), parent=root, link=True, name="top")
        rows = await which_children(root)
        assert [(r.id, r.restart, r.status) for r in rows] == [
            ("svc", "permanent", "running"),
            ("top", "temporary", "running"),
        ]
        svc = cast(ActorRef[Crash], rows[0].ref)
        await crash_and_settle(system, root, svc)  # a service is restarted
        assert (await which_children(root))[0].restarts == 1
        await crash_and_settle(system, root, adopted)  # an adopted actor is not
        assert root.alive
        assert [r.id for r in await which_children(root)] == ["svc"]
        await system.terminate(root, SHUTDOWN, None)


async def test_root_shutdown_stops_everything_in_reverse_spawn_order() -> None:
    log: list[Event] = []
    async with ActorSystem(root=False) as system:
        root = await start_root(system)
        system.spawn(lambda: Worker(log, "first"), parent=root, link=True)
        await start_child(root, spec(log, "service"))
        spawner = system.spawn(lambda: Spawner(log), parent=root, link=True)
        system.spawn(lambda: Worker(log, "last"), parent=root, link=True)
        await which_children(root)
        log.clear()
        await system.terminate(root, SHUTDOWN, None)
        await exited(system, spawner)
        # "grandchild" outlived its unlinked parent, moved up to the root, and was stopped.
        assert [x for _, x in log] == ["last", "grandchild", "service", "first"]
        assert system.actor_count() == 0
