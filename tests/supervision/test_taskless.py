"""Supervisor handlers start eagerly (ADR 0094): what does not wait costs no task; what
waits for a child's ``on_start`` still blocks the supervisor's mailbox until it is done."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import pytest

from lightflow_actors import Actor, ActorRef, AnyRef, handler
from lightflow_actors.kernel._cell import Cell
from lightflow_actors.supervision import (
    ChildSpec,
    DynamicSupervisor,
    MaxChildrenReached,
    Supervisor,
    SupervisorRef,
    start_child,
    terminate_child,
    which_children,
)
from lightflow_actors.supervision._messages import TerminateChild

from ..conftest import Runtime
from ._actors import Crash, Ping, Plain, child_ref, crash_and_settle


@pytest.fixture
def tasks_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, int]]:
    """Counts the tasks each cell creates (``Cell._task``), by actor id."""
    counts: dict[int, int] = {}
    original = Cell._task

    def counting(self: Cell, coro: Coroutine[Any, Any, None], *args: Any) -> asyncio.Task[None]:
        counts[self.id] = counts.get(self.id, 0) + 1
        return original(self, coro, *args)

    monkeypatch.setattr(Cell, "_task", counting)
    yield counts


async def test_restarting_a_child_without_on_start_costs_the_supervisor_no_task(
    runtime: Runtime, tasks_of: dict[int, int]
) -> None:
    async with runtime.system(root=False) as system:
        spec = ChildSpec(id="w", start=Plain)
        sup = await system.start_actor(lambda: Supervisor([spec], intensity=100, period=1.0))
        before = tasks_of.get(sup.id, 0)  # its own async on_start ran in a task
        for _ in range(5):
            await crash_and_settle(system, sup, await child_ref(sup, "w"))
        rows = await which_children(sup)
        assert [(r.id, r.status, r.restarts) for r in rows] == [("w", "running", 5)]
        assert tasks_of.get(sup.id, 0) == before


async def test_start_and_terminate_child_without_waiting_cost_no_task(
    runtime: Runtime, tasks_of: dict[int, int]
) -> None:
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        before = tasks_of.get(sup.id, 0)
        refs = [await start_child(sup, ChildSpec(id="w", start=Plain)) for _ in range(3)]
        assert [await ref.ask(Ping()) for ref in refs] == [ref.id for ref in refs]
        brutal = ChildSpec(id="b", start=Plain, shutdown="brutal_kill")
        killed = await start_child(sup, brutal)
        assert tasks_of.get(sup.id, 0) == before
        await terminate_child(sup, killed)  # waits for the child's exit: parks in a task
        assert not killed.alive
        assert tasks_of.get(sup.id, 0) == before + 1
        assert len(await which_children(sup)) == 3


class SlowStart(Actor[Crash | Ping]):
    """Its ``on_start`` waits for the test to open ``GATE``."""

    gate: asyncio.Future[None] | None = None
    entered: asyncio.Event | None = None

    async def on_start(self) -> None:
        assert SlowStart.gate is not None and SlowStart.entered is not None
        SlowStart.entered.set()
        await SlowStart.gate

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("slow one crashed")

    @handler
    def ping(self, msg: Ping) -> int:
        return self.ref.id


async def test_a_restart_that_waits_for_on_start_blocks_the_supervisor(
    runtime: Runtime,
) -> None:
    """OTP's serial supervisor: while a restarted child's init runs, operations wait."""
    loop = asyncio.get_running_loop()
    SlowStart.gate = loop.create_future()
    SlowStart.gate.set_result(None)
    SlowStart.entered = asyncio.Event()
    async with runtime.system(root=False) as system:
        spec = ChildSpec(id="slow", start=SlowStart)
        sup: SupervisorRef = await system.start_actor(lambda: Supervisor([spec]))
        old: AnyRef = await child_ref(sup, "slow")
        SlowStart.gate = loop.create_future()
        SlowStart.entered.clear()
        cast(ActorRef[Crash], old).tell(Crash())
        await system.wait_exit(old)
        await SlowStart.entered.wait()  # the restart has begun: its on_start waits
        asked = asyncio.ensure_future(which_children(sup))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not asked.done()
        SlowStart.gate.set_result(None)
        rows = await asked
        assert [(r.id, r.status, r.restarts) for r in rows] == [("slow", "running", 1)]
        new = await child_ref(sup, "slow")
        assert new != old and await cast(ActorRef[Ping], new).ask(Ping()) == new.id


async def test_start_child_on_an_idle_supervisor_needs_no_loop_turn(runtime: Runtime) -> None:
    """ADR 0106: an idle supervisor handles ``start_child`` on the caller's step; the child
    is linked and recorded before the caller gets its ref, and max_children still holds."""
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(max_children=2))
        loop = asyncio.get_running_loop()
        turns = 0

        def tick() -> None:
            nonlocal turns
            turns += 1

        handle = loop.call_soon(tick)
        ref = await start_child(sup, ChildSpec(id="w", start=Plain))
        if not runtime.deterministic:  # a tap: the scheduler sees an ordinary ask
            assert turns == 0
        handle.cancel()
        assert ref.alive and sup._cell in ref._cell.linked()
        assert ref._cell.parent is sup._cell
        await start_child(sup, ChildSpec(id="w", start=Plain))
        with pytest.raises(MaxChildrenReached):
            await start_child(sup, ChildSpec(id="w", start=Plain))
        assert len(await which_children(sup)) == 2


async def test_start_child_behind_queued_work_keeps_the_order(runtime: Runtime) -> None:
    """A terminate queued before the start is handled first: with max_children=1 the start
    finds the slot free (an inline start would have been refused)."""
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(max_children=1))
        first = await start_child(sup, ChildSpec(id="w", start=Plain))
        stopping = sup.ask(TerminateChild(first), timeout=None)  # queued now
        second = await start_child(sup, ChildSpec(id="w", start=Plain))
        assert await stopping is None
        assert not first.alive and second.alive
        assert [r.ref for r in await which_children(sup)] == [second]


async def test_start_child_with_on_start_waits_for_it_and_blocks_the_supervisor(
    runtime: Runtime,
) -> None:
    loop = asyncio.get_running_loop()
    SlowStart.gate = loop.create_future()
    SlowStart.entered = asyncio.Event()
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        starting = asyncio.ensure_future(start_child(sup, ChildSpec(id="s", start=SlowStart)))
        await SlowStart.entered.wait()
        asked = asyncio.ensure_future(which_children(sup))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not starting.done() and not asked.done()
        SlowStart.gate.set_result(None)
        ref = await starting
        assert [r.ref for r in await asked] == [ref]
