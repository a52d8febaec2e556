"""Shutdown kinds (brutal_kill, timeout, infinity), defaults, and exit signals from above."""

from __future__ import annotations

from typing import cast

from lightflow_actors import KILLED, SHUTDOWN, ActorRef
from lightflow_actors.supervision import ChildSpec, Supervisor

from ..conftest import Runtime
from ._actors import Crash, Event, Plain, child_ref, exited, spec


async def test_brutal_kill_skips_on_stop(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "w", shutdown="brutal_kill", stop_delay=10.0)])
        )
        w = await child_ref(sup, "w")
        await system.terminate(sup, SHUTDOWN, None)
        assert w.exit_reason == KILLED
        assert ("stop", "w") not in log


async def test_a_shutdown_timeout_kills_a_child_that_outlasts_it(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "w", shutdown=0.02, stop_delay=30.0)])
        )
        w = await child_ref(sup, "w")
        await system.terminate(sup, SHUTDOWN, None)
        assert ("stop", "w") in log  # on_stop began...
        assert w.exit_reason == KILLED  # ...and was cut short


async def test_a_child_that_stops_within_its_timeout_exits_with_shutdown(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "w", shutdown=30.0, stop_delay=0.01)])
        )
        w = await child_ref(sup, "w")
        await system.terminate(sup, SHUTDOWN, None)
        assert w.exit_reason == SHUTDOWN


async def test_infinity_waits_for_on_stop(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "w", shutdown="infinity", stop_delay=0.05)])
        )
        w = await child_ref(sup, "w")
        await system.terminate(sup, SHUTDOWN, None)
        assert w.exit_reason == SHUTDOWN


def test_default_shutdown_is_5s_for_workers_and_infinity_for_supervisors() -> None:
    assert ChildSpec(id="w", start=Plain).shutdown_policy == 5.0
    assert ChildSpec(id="s", start=Supervisor, type="supervisor").shutdown_policy == "infinity"


async def test_an_exit_signal_from_the_parent_stops_the_supervisor_and_its_children(
    runtime: Runtime,
) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        parent = system.spawn(Plain)
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "a"), spec(log, "b")]), parent=parent, link=True
        )
        a = await child_ref(sup, "a")
        log.clear()
        cast(ActorRef[Crash], parent).tell(Crash("parent dies"))
        await exited(system, sup)
        assert isinstance(sup.exit_reason, RuntimeError)  # the parent's reason
        assert log == [("stop", "b"), ("stop", "a")]
        assert a.exit_reason == SHUTDOWN
        assert system.actor_count() == 0


async def test_an_exit_signal_from_the_system_stops_the_supervisor(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a")]))
        system.exit(sup, SHUTDOWN)
        await exited(system, sup)
        assert sup.exit_reason == SHUTDOWN
        assert log == [("start", "a"), ("stop", "a")]


async def test_killing_a_supervisor_takes_its_linked_children_down(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a")]))
        a = await child_ref(sup, "a")
        system.kill(sup)
        await exited(system, a)
        assert sup.exit_reason == KILLED and a.exit_reason == KILLED
        assert system.actor_count() == 0


async def test_an_exit_from_an_actor_that_is_not_a_child_is_ignored(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a")]))
        stranger = system.spawn(Plain)
        system.link(sup, stranger)
        cast(ActorRef[Crash], stranger).tell(Crash())
        await exited(system, stranger)
        assert sup.alive and (await child_ref(sup, "a")).alive
        await system.terminate(sup, SHUTDOWN, None)
