"""Restart intensity, giving up, escalation up the tree, and a crash storm that leaks nothing.

The system runs on a manual clock: restart intensity reads ``system.clock.now()``, so the
tests move time by hand instead of sleeping, and no assertion depends on wall-clock time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorRef, ActorSystem
from lightflow_actors.supervision import (
    GAVE_UP,
    ChildSpec,
    RestartIntensity,
    Supervisor,
    SupervisorRef,
    which_children,
)

from ..conftest import Runtime, quiesce
from ._actors import (
    Crash,
    Event,
    ManualClock,
    Plain,
    child_ref,
    crash_and_settle,
    exited,
    spec,
)


async def _worker_sup(system: ActorSystem, log: list[Event], **flags: object) -> SupervisorRef:
    return await system.start_actor(lambda: Supervisor([spec(log, "w")], **flags))  # type: ignore[arg-type]


async def test_default_intensity_allows_one_restart_in_five_seconds(runtime: Runtime) -> None:
    clock = ManualClock()
    log: list[Event] = []
    async with runtime.system(root=False, clock=clock) as system:
        sup = await _worker_sup(system, log)
        await crash_and_settle(system, sup, await child_ref(sup, "w"))
        assert sup.alive
        clock.t += 4.9
        await crash_and_settle(system, sup, await child_ref(sup, "w"))
        assert await system.wait_exit(sup) == GAVE_UP
        assert system.actor_count() == 0
        kinds = [(e.kind, e.actor) for e in system.events() if e.kind == "escalated"]
        assert kinds == [("escalated", sup.id)]


async def test_restarts_older_than_the_period_do_not_count(runtime: Runtime) -> None:
    clock = ManualClock()
    log: list[Event] = []
    async with runtime.system(root=False, clock=clock) as system:
        sup = await _worker_sup(system, log, intensity=1, period=5.0)
        for _ in range(5):
            await crash_and_settle(system, sup, await child_ref(sup, "w"))
            assert sup.alive
            clock.t += 5.01
        await system.terminate(sup, "shutdown", None)


async def test_intensity_zero_gives_up_on_the_first_restart(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _worker_sup(system, log, intensity=0)
        await crash_and_settle(system, sup, await child_ref(sup, "w"))
        assert await system.wait_exit(sup) == GAVE_UP


async def test_escalation_reaches_the_top_and_is_reported(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    log: list[Event] = []

    def mid() -> Supervisor:
        return Supervisor([spec(log, "w")], intensity=0)

    async with runtime.system(root=False, clock=clock) as system:
        top = await system.start_actor(
            lambda: Supervisor([ChildSpec(id="mid", start=mid, type="supervisor")], intensity=1)
        )
        with caplog.at_level(logging.ERROR, logger="lightflow_actors.supervision"):
            mid1 = await child_ref(top, "mid")
            await crash_and_settle(system, mid1, await child_ref(mid1, "w"))
            await exited(system, mid1)
            mid2 = await child_ref(top, "mid")  # the top restarted the middle supervisor
            assert mid2 != mid1 and (await which_children(top))[0].restarts == 1
            await crash_and_settle(system, mid2, await child_ref(mid2, "w"))
            assert await system.wait_exit(top) == GAVE_UP
        escalated = [e.actor for e in system.events() if e.kind == "escalated"]
        assert escalated == [mid1.id, mid2.id, top.id]
        top_lines = [r for r in caplog.records if r.levelno == logging.CRITICAL]
        assert len(top_lines) == 1
        assert "top-level supervisor" in top_lines[0].getMessage()
        assert "escalating to Supervisor" in caplog.text
        assert system.actor_count() == 0


async def test_a_transient_supervisor_that_gives_up_is_not_restarted(runtime: Runtime) -> None:
    log: list[Event] = []

    def mid() -> Supervisor:
        return Supervisor([spec(log, "w")], intensity=0)

    async with runtime.system(root=False) as system:
        top = await system.start_actor(
            lambda: Supervisor(
                [ChildSpec(id="mid", start=mid, type="supervisor", restart="transient")]
            )
        )
        mid1 = await child_ref(top, "mid")
        await crash_and_settle(system, mid1, await child_ref(mid1, "w"))
        await exited(system, mid1)
        rows = await which_children(top)
        assert [(r.id, r.status) for r in rows] == [("mid", "stopped")]
        await system.terminate(top, "shutdown", None)


async def test_crash_storm_leaks_no_task_or_actor_and_escalates_exactly_at_intensity(
    runtime: Runtime,
) -> None:
    storm = 2000
    clock = ManualClock()  # frozen: every restart falls inside one period
    async with runtime.system(root=False, clock=clock) as system:
        await quiesce()
        tasks_before = len(asyncio.all_tasks())
        sup = await system.start_actor(
            lambda: Supervisor(
                [ChildSpec(id="storm", start=Plain, name="storm")], intensity=storm, period=60.0
            )
        )
        logging.getLogger("lightflow_actors").setLevel(logging.CRITICAL)
        try:
            for n in range(storm + 1):
                ref = system.whereis("storm")
                assert ref is not None, f"no child after {n} crashes"
                cast(ActorRef[Crash], ref).tell(Crash())
                await exited(system, ref)
                if n < storm:
                    await which_children(sup)  # answered once the restart is done
                    assert sup.alive and system.actor_count() == 2
            assert await system.wait_exit(sup) == GAVE_UP
        finally:
            logging.getLogger("lightflow_actors").setLevel(logging.NOTSET)
        assert system.actor_count() == 0
        await quiesce()
        assert len(asyncio.all_tasks()) == tasks_before


@given(
    intensity=st.integers(min_value=0, max_value=5),
    period=st.floats(min_value=0.1, max_value=100.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=50.0), max_size=30),
)
def test_restart_intensity_matches_otp_add_restart(
    intensity: int, period: float, gaps: list[float]
) -> None:
    """The sliding window agrees with OTP's add_restart on the full restart history."""
    window = RestartIntensity(intensity, period)
    now = 0.0
    history: list[float] = []
    for gap in gaps:
        now += gap
        history.append(now)
        in_window = [t for t in history if t >= now - period]
        assert window.add(now) is (len(in_window) <= intensity)
        assert window.recent(now) == min(len(in_window), intensity + 1)
