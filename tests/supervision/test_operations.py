"""Supervisor operations with OTP's error cases, and the DynamicSupervisor."""

from __future__ import annotations

from typing import cast

import pytest

from lightflow_actors import SHUTDOWN, ActorRef, StartFailed
from lightflow_actors.supervision import (
    ChildAlreadyPresent,
    ChildAlreadyStarted,
    ChildCounts,
    ChildNotFound,
    ChildRunning,
    ChildSpec,
    DynamicSupervisor,
    InvalidSupervisorFlags,
    MaxChildrenReached,
    NotSupportedByDynamic,
    Supervisor,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

from ..conftest import Runtime
from ._actors import Crash, Event, Ping, Plain, child_ref, crash_and_settle, exited, spec


async def test_which_and_count_children(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        inner = ChildSpec(id="inner", start=Supervisor, type="supervisor")
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a"), inner]))
        rows = await which_children(sup)
        assert [(r.id, r.type, r.status, r.restart) for r in rows] == [
            ("a", "worker", "running", "permanent"),
            ("inner", "supervisor", "running", "permanent"),
        ]
        await terminate_child(sup, "a")
        counts = await count_children(sup)
        assert counts == ChildCounts(specs=2, active=1, supervisors=1, workers=1)
        await system.terminate(sup, SHUTDOWN, None)


async def test_start_child_appends_and_reports_otp_errors(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a")]))
        b = await start_child(sup, spec(log, "b"))
        assert await b.ask(Ping()) == b.id
        assert [r.id for r in await which_children(sup)] == ["a", "b"]
        with pytest.raises(ChildAlreadyStarted, match="already runs child 'b'") as running:
            await start_child(sup, spec(log, "b"))
        assert running.value.ref == b
        await terminate_child(sup, "b")
        with pytest.raises(ChildAlreadyPresent, match="use restart_child"):
            await start_child(sup, spec(log, "b"))
        with pytest.raises(StartFailed, match="refuses to start"):
            await start_child(sup, spec(log, "c", fail_start=True))
        assert [r.id for r in await which_children(sup)] == ["a", "b"]  # c was not added
        await system.terminate(sup, SHUTDOWN, None)


async def test_terminate_restart_and_delete_child(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "a"), spec(log, "b")]))
        a = await child_ref(sup, "a")
        with pytest.raises(ChildRunning, match="terminate_child it first"):
            await restart_child(sup, "a")
        with pytest.raises(ChildRunning):
            await delete_child(sup, "a")
        await terminate_child(sup, a)  # by ref works too
        assert a.exit_reason == SHUTDOWN
        a2 = await restart_child(sup, "a")
        assert a2 != a and system.info(a2).restarts == 1
        await terminate_child(sup, "a")
        await delete_child(sup, "a")
        assert [r.id for r in await which_children(sup)] == ["b"]
        for op in (terminate_child, restart_child, delete_child):
            with pytest.raises(ChildNotFound, match="has no child 'zz'"):
                await op(sup, "zz")  # type: ignore[operator]
        await system.terminate(sup, SHUTDOWN, None)


async def test_terminating_a_temporary_child_forgets_its_spec(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([spec(log, "t", restart="temporary")]))
        await terminate_child(sup, "t")
        assert await which_children(sup) == []
        await system.terminate(sup, SHUTDOWN, None)


async def test_dynamic_supervisor_starts_restarts_and_terminates_children(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(intensity=5))
        refs = [await start_child(sup, spec(log, f"s{i}", restart="transient")) for i in range(3)]
        rows = await which_children(sup)
        assert [r.ref for r in rows] == refs and [r.id for r in rows] == ["s0", "s1", "s2"]
        await crash_and_settle(system, sup, refs[1])
        rows = await which_children(sup)
        assert rows[1].ref not in (None, refs[1]) and rows[1].restarts == 1
        await terminate_child(sup, refs[0])
        assert [r.id for r in await which_children(sup)] == ["s1", "s2"]
        with pytest.raises(ChildNotFound):
            await terminate_child(sup, refs[0])
        with pytest.raises(NotSupportedByDynamic, match="by id is not supported"):
            await terminate_child(sup, "s1")
        with pytest.raises(NotSupportedByDynamic):
            await restart_child(sup, "s1")
        with pytest.raises(NotSupportedByDynamic):
            await delete_child(sup, "s1")
        # a transient child that finishes normally is forgotten
        last = cast(ActorRef[Crash], rows[2].ref)
        await last.stop()
        await exited(system, last)
        assert [r.id for r in await which_children(sup)] == ["s1"]
        assert (await count_children(sup)).active == 1
        await system.terminate(sup, SHUTDOWN, None)
        assert system.actor_count() == 0


async def test_dynamic_supervisor_max_children(runtime: Runtime) -> None:
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(max_children=2))
        first = await start_child(sup, ChildSpec(id="p", start=Plain))
        await start_child(sup, ChildSpec(id="p", start=Plain))
        with pytest.raises(MaxChildrenReached, match="maximum of 2 children"):
            await start_child(sup, ChildSpec(id="p", start=Plain))
        await terminate_child(sup, first)
        await start_child(sup, ChildSpec(id="p", start=Plain))
        assert (await count_children(sup)).specs == 2
        await system.terminate(sup, SHUTDOWN, None)
    with pytest.raises(InvalidSupervisorFlags, match="max_children"):
        DynamicSupervisor(max_children=-1)


async def test_dynamic_supervisor_stops_all_children_on_shutdown(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        for i in range(20):
            shutdown = "brutal_kill" if i % 2 else 1.0
            await start_child(sup, spec(log, f"d{i}", shutdown=shutdown, stop_delay=0.01))
        log.clear()
        await system.terminate(sup, SHUTDOWN, None)
        # graceful ones ran on_stop; brutally killed ones did not
        assert sorted(x for _, x in log) == sorted(f"d{i}" for i in range(0, 20, 2))
        assert system.actor_count() == 0


async def test_a_temporary_dynamic_child_keeps_no_factory_once_started(runtime: Runtime) -> None:
    async with runtime.system() as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(intensity=5))
        factory, kept = (lambda: Plain()), (lambda: Plain())
        temp = await start_child(sup, ChildSpec(id="temp", start=factory, restart="temporary"))
        perm = await start_child(sup, ChildSpec(id="perm", start=kept, restart="transient"))
        supervisor = sup._cell.actor
        assert isinstance(supervisor, DynamicSupervisor)
        starts = [child.spec.start for child in supervisor._children.values()]
        assert starts[0] is not factory and starts[1] is kept  # the temporary one's is gone
        rows = await which_children(sup)
        assert [(r.id, r.ref, r.restart) for r in rows] == [
            ("temp", temp, "temporary"),
            ("perm", perm, "transient"),
        ]
        assert await cast(ActorRef[Ping], temp).ask(Ping()) == temp.id
        await crash_and_settle(system, sup, perm)  # a transient one still restarts
        rows = await which_children(sup)
        assert rows[1].ref not in (None, perm) and rows[1].restarts == 1
        await crash_and_settle(system, sup, temp)  # a temporary one is gone for good
        assert [r.id for r in await which_children(sup)] == ["perm"]
