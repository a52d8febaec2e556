"""Subsystems: the root restarts a subsystem that gave up, with backoff, and says so.

A subsystem here is a ``Supervisor`` (intensity 1) whose one worker fails its ``on_start``
while a shared budget lasts: crash the worker with a budget of N and the subsystem gives
up, then every restart the root attempts fails until the budget is spent, then it is back.
Delays are checked against the backoff's bounds (the jitter comes from ``system.random``),
never against how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, LifecycleEvent, handler
from lightflow_actors.supervision import (
    GAVE_UP,
    SUBSYSTEM_BACKOFF,
    Backoff,
    ChildSpec,
    Subsystem,
    Supervisor,
    start_subsystem,
    stop_subsystem,
    subsystems,
    system_tree,
)

from ..conftest import Runtime, quiesce

FAST = Backoff(min_delay=0.01, max_delay=0.08, jitter=0.2, reset_after=0.5)


class Budget:
    """How many more start attempts of the worker fail."""

    def __init__(self) -> None:
        self.failures = 0
        self.attempts = 0


class Crash(msgspec.Struct, frozen=True):
    pass


class Flaky(Actor[Crash]):
    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def on_start(self) -> None:
        self.budget.attempts += 1
        if self.budget.failures > 0:
            self.budget.failures -= 1
            raise RuntimeError("flaky start")

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("worker crash")


def flaky_subsystem(budget: Budget) -> Callable[[], Supervisor]:
    spec = ChildSpec(id="worker", start=lambda: Flaky(budget), name="flaky.worker")
    return lambda: Supervisor([spec], intensity=1, period=30.0)


async def until(check: Callable[[], bool], what: str, *, step: float = 0.01) -> None:
    for _ in range(5_000):
        if check():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"never: {what}")


def state(system: ActorSystem, child_id: str) -> Subsystem:
    (found,) = [s for s in subsystems(system) if s.id == child_id]
    return found


def worker(system: ActorSystem) -> ActorRef[Crash] | None:
    return cast("ActorRef[Crash] | None", system.whereis("flaky.worker"))


async def give_up(system: ActorSystem, budget: Budget, failures: int) -> None:
    """Make the subsystem exceed its intensity (its worker then fails ``failures`` starts)
    and wait until it has exited."""
    ref = worker(system)
    actor = state(system, "flaky").actor
    subsystem = system.get(actor) if actor is not None else None
    assert ref is not None and subsystem is not None
    budget.failures = failures
    ref.tell(Crash())
    await system.wait_exit(subsystem)


async def test_a_subsystem_that_gave_up_is_restarted_with_growing_backoff(
    runtime: Runtime,
) -> None:
    budget = Budget()
    async with runtime.system(seed=3) as system:
        events: list[LifecycleEvent] = []
        seen_while_restarting: list[Subsystem] = []

        def listen(event: LifecycleEvent) -> None:
            events.append(event)
            if event.kind == "restart_scheduled" and event.child == "flaky":
                seen_while_restarting.append(state(system, "flaky"))

        system.subscribe(listen)
        first = await start_subsystem(system, "flaky", flaky_subsystem(budget), backoff=FAST)
        assert state(system, "flaky").status == "running"
        await give_up(system, budget, failures=5)
        await until(
            lambda: state(system, "flaky").status == "running" and worker(system) is not None,
            "back",
        )

        assert not first.alive and first.exit_reason == GAVE_UP
        assert system.root is not None and system.root.alive, "the root itself never gives up"
        escalated = [e for e in events if e.kind == "escalated"]
        assert [e.actor for e in escalated] == [first.id]
        scheduled = [e for e in events if e.kind == "restart_scheduled" and e.child == "flaky"]
        # Give-up, then restarts failing 4 times (the worker's budget was 5: one spent by the
        # subsystem's own restart of it), then success.
        assert len(scheduled) == 5
        assert scheduled[0].reason == "shutdown: 'reached_max_restart_intensity'"
        assert all(e.actor == system.root.id for e in scheduled)
        delays = [(e.restart_at_ms or 0) - e.at_ms for e in scheduled]
        for attempt, delay in enumerate(delays):
            base = min(FAST.max_delay, FAST.min_delay * 2**attempt) * 1000
            assert base - 1 <= delay <= base * (1 + FAST.jitter) + 1, (attempt, delays)
        # While it waited, the root's table (what /ready reads) said so.
        assert [s.status for s in seen_while_restarting] == ["restarting"] * 5
        assert all(s.restart_at_ms is not None and s.actor is None for s in seen_while_restarting)
        assert seen_while_restarting[1].last_exit is not None
        assert "flaky start" in seen_while_restarting[1].last_exit
        back = state(system, "flaky")
        assert back.restarts == 1 and back.restart_at_ms is None
        restarted = [e for e in events if e.kind == "restarted" and e.actor == back.actor]
        assert len(restarted) == 1


async def test_the_backoff_resets_after_a_quiet_run(runtime: Runtime) -> None:
    budget = Budget()
    async with runtime.system(seed=3) as system:
        scheduled: list[LifecycleEvent] = []
        system.subscribe(lambda e: scheduled.append(e) if e.child == "flaky" else None)
        await start_subsystem(system, "flaky", flaky_subsystem(budget), backoff=FAST)
        await give_up(system, budget, failures=4)
        await until(lambda: worker(system) is not None and len(scheduled) == 4, "back")
        await asyncio.sleep(FAST.reset_window * 2)  # stable for longer than reset_after
        scheduled.clear()
        await give_up(system, budget, failures=2)
        await until(lambda: worker(system) is not None and len(scheduled) == 2, "back again")
        first_delay = (scheduled[0].restart_at_ms or 0) - scheduled[0].at_ms
        assert first_delay <= FAST.min_delay * 1000 * (1 + FAST.jitter) + 1


async def test_the_default_backoff_runs_on_the_loop_clock(runtime: Runtime) -> None:
    if not runtime.deterministic:
        return  # 0.5 s, 1 s, 2 s ... of real time; the virtual loop jumps them
    budget = Budget()
    async with runtime.system(seed=3) as system:
        scheduled: list[LifecycleEvent] = []
        system.subscribe(lambda e: scheduled.append(e) if e.child == "flaky" else None)
        await start_subsystem(system, "flaky", flaky_subsystem(budget))
        started = system.clock.now()
        await give_up(system, budget, failures=8)
        await until(lambda: worker(system) is not None, "back", step=0.1)
        delays = [(e.restart_at_ms or 0) - e.at_ms for e in scheduled]
        assert len(delays) == 8
        assert delays[-1] >= SUBSYSTEM_BACKOFF.max_delay * 1000 - 1  # capped, not 64 s
        assert system.clock.now() - started >= sum(delays) / 1000 - 0.01


async def test_the_tree_shows_a_restarting_subsystem_under_the_root(runtime: Runtime) -> None:
    budget = Budget()
    slow = Backoff(min_delay=30.0, max_delay=30.0, jitter=0.0)
    async with runtime.system() as system:
        await start_subsystem(system, "flaky", flaky_subsystem(budget), backoff=slow)
        await give_up(system, budget, failures=1)
        await until(lambda: state(system, "flaky").restart_at_ms is not None, "scheduled")
        tree = system_tree(system)
        (root,) = [n for n in tree.roots if n.actor_class == "RootSupervisor"]
        (pending,) = root.pending
        assert (pending.child_id, pending.status, pending.kind) == (
            "flaky",
            "restarting",
            "supervisor",
        )
        assert pending.restart_at_ms is not None
        assert pending.restart_at_ms >= system.clock.wall_ms() + 29_000
        assert pending.last_exit == "shutdown: 'reached_max_restart_intensity'"
        # Stopping it for good: the root forgets it, and it is not restarted.
        await stop_subsystem(system, "flaky")
        assert subsystems(system) == []
        assert system_tree(system).roots[0].pending == []


async def test_a_stopped_subsystem_is_not_restarted(runtime: Runtime) -> None:
    budget = Budget()
    async with runtime.system() as system:
        ref = await start_subsystem(system, "flaky", flaky_subsystem(budget), backoff=FAST)
        await stop_subsystem(system, "flaky")
        assert not ref.alive
        await asyncio.sleep(FAST.max_delay * 2)
        await quiesce()
        assert worker(system) is None and subsystems(system) == []


async def test_without_a_root_a_subsystem_is_a_plain_top_level_actor(runtime: Runtime) -> None:
    budget = Budget()
    async with runtime.system(root=False) as system:
        ref = await start_subsystem(system, "flaky", flaky_subsystem(budget), name="flaky")
        assert system.info(ref).parent is None and subsystems(system) == []
        await stop_subsystem(system, "flaky", name="flaky")
        assert not ref.alive


async def test_a_subsystem_going_down_is_not_reported_running(runtime: Runtime) -> None:
    budget = Budget()
    async with runtime.system() as system:
        ref = await start_subsystem(system, "flaky", flaky_subsystem(budget), backoff=FAST)
        system.exit(ref, RuntimeError("injected"))
        await system.wait_exit(ref)
        # Dead, and the root may not have handled its exit yet: down either way.
        assert state(system, "flaky").status == "restarting"
        await until(lambda: state(system, "flaky").status == "running", "back")
