"""The root supervisor: supervised services, adopted top-level actors, ordered shutdown.

Most tests start the root by hand on a bare system (``root=False``) and spawn "top-level"
actors with ``parent=root, link=True``, as ``system.spawn`` does under ``ActorSystem()``;
the last ones check that ``ActorSystem()`` injects the root into the kernel itself.
"""

from __future__ import annotations

from typing import Never, cast

from lightflow_actors import SHUTDOWN, Actor, ActorRef, ActorSystem, handler, kernel, supervision
from lightflow_actors.supervision import (
    ROOT_NAME,
    RootSupervisor,
    start_child,
    start_root,
    which_children,
)

from ..conftest import Runtime, quiesce
from ._actors import Crash, Event, Worker, crash_and_settle, exited, spec


class Spawner(Actor[Crash]):
    """A plain actor that spawns an unlinked child of its own."""

    def __init__(self, log: list[Event]) -> None:
        self.log = log

    def on_start(self) -> None:
        self.spawn(lambda: Worker(self.log, "grandchild"))

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)


async def test_root_supervises_services_and_adopts_top_level_actors(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
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


async def test_root_shutdown_stops_everything_in_reverse_spawn_order(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        root = await start_root(system)
        system.spawn(lambda: Worker(log, "first"), parent=root, link=True)
        await start_child(root, spec(log, "service"))
        spawner = system.spawn(lambda: Spawner(log), parent=root, link=True)
        system.spawn(lambda: Worker(log, "last"), parent=root, link=True)
        await which_children(root)
        await quiesce()  # every spawned actor (and the grandchild) has run on_start
        assert sorted(x for _, x in log) == ["first", "grandchild", "last", "service"]
        log.clear()
        await system.terminate(root, SHUTDOWN, None)
        await exited(system, spawner)
        # "grandchild" outlived its unlinked parent, moved up to the root, and was stopped.
        assert [x for _, x in log] == ["last", "grandchild", "service", "first"]
        assert system.actor_count() == 0


async def test_the_supervised_system_starts_the_root_supervisor_as_lightflow_root(
    runtime: Runtime,
) -> None:
    assert ActorSystem is supervision.ActorSystem
    assert issubclass(ActorSystem, kernel.ActorSystem)
    log: list[Event] = []
    async with runtime.system() as system:
        root = system.root
        assert root is not None and system.whereis(ROOT_NAME) == root
        assert ROOT_NAME == "lightflow.root"
        assert isinstance(system.lookup(ROOT_NAME, RootSupervisor), ActorRef)
        top = system.spawn(lambda: Worker(log, "top"), name="top")
        assert [(r.id, r.restart) for r in await which_children(root)] == [("top", "temporary")]
        assert system.info(top).links == [root.id]


async def test_root_false_gives_the_bare_kernel_and_a_starter_replaces_the_root(
    runtime: Runtime,
) -> None:
    async with runtime.system(root=False) as system:
        assert system.root is None
    log: list[Event] = []

    async def own_root(system: kernel.ActorSystem) -> ActorRef[Never]:
        ref: ActorRef[Never] = await start_root(system, [spec(log, "svc")], name="mine")
        return ref

    async with runtime.system(root=own_root) as system:
        assert system.root is not None and system.root == system.whereis("mine")
        assert system.whereis(ROOT_NAME) is None
        assert [r.id for r in await which_children(system.root)] == ["svc"]
    assert log == [("start", "svc"), ("stop", "svc")]
