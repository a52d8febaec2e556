"""Supervisor handlers start eagerly (ADR 0094): what does not wait costs no task; what
waits for a child's ``on_start`` still blocks the supervisor's mailbox until it is done.
An idle supervisor answers its operations on the caller's step (ADR 0106) with the OTP
semantics an ask would have: links before the child runs, intensity, max_children, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import pytest

from lightflow_actors import Actor, ActorRef, AnyRef, Ask, StartFailed, handler
from lightflow_actors.kernel._cell import Cell
from lightflow_actors.supervision import (
    GAVE_UP,
    ChildNotFound,
    ChildRunning,
    ChildSpec,
    DynamicSupervisor,
    MaxChildrenReached,
    Supervisor,
    SupervisorRef,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from lightflow_actors.supervision._messages import TerminateChild

from ..conftest import Runtime
from ._actors import Crash, Event, ManualClock, Ping, Plain, child_ref, crash_and_settle, spec


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


@contextlib.contextmanager
def no_loop_turn(runtime: Runtime) -> Iterator[None]:
    """Asserts the block ran without the loop running another callback (ADR 0106's fast
    path). Under the deterministic scheduler operations are ordinary asks: not checked."""
    ran: list[bool] = []
    handle = asyncio.get_running_loop().call_soon(ran.append, True)
    yield
    handle.cancel()
    if not runtime.deterministic:
        assert not ran, "the operation waited for a loop turn"


async def test_static_supervisor_operations_answer_inline_with_their_otp_errors(
    runtime: Runtime,
) -> None:
    async with runtime.system(root=False) as system:
        specs = [ChildSpec(id="a", start=Plain), ChildSpec(id="b", start=Plain)]
        sup: SupervisorRef = await system.start_actor(lambda: Supervisor(specs))
        first = await child_ref(sup, "a")
        with no_loop_turn(runtime):
            with pytest.raises(ChildRunning):
                await restart_child(sup, "a")
            with pytest.raises(ChildRunning):
                await delete_child(sup, "a")
            with pytest.raises(ChildNotFound):
                await terminate_child(sup, "nope")
            with pytest.raises(ChildNotFound):
                await delete_child(sup, "nope")
        await terminate_child(sup, "a")  # waits for the child's exit
        assert not first.alive
        with no_loop_turn(runtime):
            again = await restart_child(sup, "a")
        assert again.alive and again != first and sup._cell in again._cell.linked()
        assert await cast(ActorRef[Ping], again).ask(Ping()) == again.id
        await terminate_child(sup, "a")
        with no_loop_turn(runtime):
            await delete_child(sup, "a")
        rows = await which_children(sup)
        assert [(r.id, r.status, r.restarts) for r in rows] == [("b", "running", 0)]


async def test_a_child_started_inline_is_supervised_from_its_first_message(
    runtime: Runtime,
) -> None:
    """The link exists before ``start_child`` returns: a crash on the child's very first
    message (told before any loop turn) is restarted."""
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        with no_loop_turn(runtime):
            ref = await start_child(sup, ChildSpec(id="w", start=Plain))
            cast(ActorRef[Crash], ref).tell(Crash())
        await system.wait_exit(ref)
        rows = await which_children(sup)  # queued behind the child's exit signal
        assert len(rows) == 1 and rows[0].status == "running" and rows[0].restarts == 1
        new = rows[0].ref
        assert new is not None and new != ref and new.alive
        assert sup._cell in new._cell.linked()


async def test_restart_intensity_counts_crashes_of_children_started_inline(
    runtime: Runtime,
) -> None:
    clock = ManualClock()
    async with runtime.system(root=False, clock=clock) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(intensity=1, period=5.0))
        with no_loop_turn(runtime):
            refs = [await start_child(sup, ChildSpec(id="w", start=Plain)) for _ in range(3)]
        await crash_and_settle(system, sup, refs[0])
        assert sup.alive and len(await which_children(sup)) == 3
        clock.t += 4.9  # still inside the period: the second restart is one too many
        cast(ActorRef[Crash], refs[1]).tell(Crash())
        assert await system.wait_exit(sup) == GAVE_UP
        assert system.actor_count() == 0


async def test_a_failing_start_raises_start_failed_and_frees_the_supervisor(
    runtime: Runtime,
) -> None:
    """A child with ``on_start`` makes the inline handler suspend (the supervisor's task
    takes it over); its failure is the caller's ``StartFailed`` and adds no child."""
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(lambda: DynamicSupervisor(max_children=1))
        with pytest.raises(StartFailed):
            await start_child(sup, spec(log, "bad", fail_start=True))
        assert await which_children(sup) == []
        assert sup._cell.task is None and not sup._cell.scheduled  # idle again
        with no_loop_turn(runtime):
            ref = await start_child(sup, ChildSpec(id="w", start=Plain))
        assert [r.ref for r in await which_children(sup)] == [ref]


class StartOne(Ask[AnyRef], frozen=True):
    pass


class Starter(Actor[StartOne | Ping]):
    """Starts a child of ``sup`` from its own (async) handler."""

    def __init__(self, sup: SupervisorRef) -> None:
        self.sup = sup

    @handler
    async def start_one(self, msg: StartOne) -> AnyRef:
        return await start_child(self.sup, ChildSpec(id="w", start=Plain))

    @handler
    def ping(self, msg: Ping) -> int:
        return self.ref.id


async def test_start_child_from_an_actor_parents_the_child_to_the_supervisor(
    runtime: Runtime,
) -> None:
    """The inline handler runs on the asking actor's step, but as the supervisor: the child
    is the supervisor's (parent and link), never the asker's."""
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        starter = system.spawn(lambda: Starter(sup))
        refs = [await starter.ask(StartOne()) for _ in range(3)]
        assert await starter.ask(Ping()) == starter.id  # the asker goes on as before
        for ref in refs:
            assert ref._cell.parent is sup._cell
            assert ref._cell.linked() == (sup._cell,)
        assert [r.ref for r in await which_children(sup)] == refs
        assert not starter._cell.linked()
