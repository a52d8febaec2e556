"""Exponential backoff with jitter and a reset window (beyond OTP, as Akka's BackoffSupervisor).

Delays are read from ``ChildInfo.restart_at`` on a frozen manual clock, so they are
compared exactly with the delays the seeded RNG must produce; restarts themselves still
wait for short loop timers (real ones, or virtual ones on the deterministic loop), and no
assertion depends on how long they took.
"""

from __future__ import annotations

import asyncio
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import SHUTDOWN
from lightflow_actors.supervision import (
    Backoff,
    ChildRestarting,
    ChildSpec,
    DynamicSupervisor,
    InvalidChildSpec,
    Supervisor,
    SupervisorRef,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

from ..conftest import Runtime
from ._actors import ManualClock, Plain, child_ref, crash_and_settle

SEED = 7


async def _running_again(sup: SupervisorRef) -> None:
    for _ in range(2000):
        if (await which_children(sup))[0].status == "running":
            return
        await asyncio.sleep(0.002)
    raise AssertionError("the child was never restarted")


async def test_backoff_delays_grow_exponentially_and_reset_after_a_quiet_run(
    runtime: Runtime,
) -> None:
    backoff = Backoff(min_delay=0.004, max_delay=0.016, jitter=0.5, reset_after=1.0)
    expected_rng = random.Random(SEED)
    clock = ManualClock()
    async with runtime.system(root=False, clock=clock, seed=SEED) as system:
        sup = await system.start_actor(
            lambda: Supervisor(
                [ChildSpec(id="w", start=Plain, backoff=backoff)], intensity=100, period=60.0
            )
        )
        for attempt in (0, 1, 2, 3, 4, None):
            if attempt is None:  # the child ran for reset_after: the run of failures is over
                clock.t += 1.0
                attempt = 0
            await crash_and_settle(system, sup, await child_ref(sup, "w"))
            row = (await which_children(sup))[0]
            assert row.status == "restarting"
            assert row.restart_at is not None
            want = backoff.delay(attempt, expected_rng)
            assert math.isclose(row.restart_at - clock.t, want)
            assert want <= 0.016 * 1.5
            await _running_again(sup)
        assert (await which_children(sup))[0].restarts == 6
        await system.terminate(sup, SHUTDOWN, None)


async def test_terminate_child_cancels_a_pending_restart(runtime: Runtime) -> None:
    backoff = Backoff(min_delay=60.0, max_delay=60.0)  # never fires during the test
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([ChildSpec(id="w", start=Plain, backoff=backoff)])
        )
        await crash_and_settle(system, sup, await child_ref(sup, "w"))
        with pytest.raises(ChildRestarting, match="a restart is pending"):
            await delete_child(sup, "w")
        with pytest.raises(ChildRestarting):
            await restart_child(sup, "w")
        await terminate_child(sup, "w")
        row = (await which_children(sup))[0]
        assert row.status == "stopped" and row.restart_at is None
        await restart_child(sup, "w")
        assert (await which_children(sup))[0].status == "running"
        await system.terminate(sup, SHUTDOWN, None)


async def test_a_dynamic_child_waiting_for_its_restart_is_terminated_by_its_old_ref(
    runtime: Runtime,
) -> None:
    backoff = Backoff(min_delay=60.0, max_delay=60.0)
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(DynamicSupervisor)
        old = await start_child(sup, ChildSpec(id="s", start=Plain, backoff=backoff))
        await crash_and_settle(system, sup, old)
        assert [r.status for r in await which_children(sup)] == ["restarting"]
        await terminate_child(sup, old)  # OTP finds a restarting dynamic child by its old pid
        assert await which_children(sup) == []
        await system.terminate(sup, SHUTDOWN, None)


async def test_one_for_all_restarts_the_whole_group_after_the_backoff(runtime: Runtime) -> None:
    # Long enough that a loaded machine still reads both rows before the restart fires
    # (2 ms was not); virtual on the deterministic loop, 0.3 s on the real one.
    backoff = Backoff(min_delay=0.3, max_delay=0.3, jitter=0.0)
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor(
                [ChildSpec(id="a", start=Plain, backoff=backoff), ChildSpec(id="b", start=Plain)],
                strategy="one_for_all",
            )
        )
        b = await child_ref(sup, "b")
        await crash_and_settle(system, sup, await child_ref(sup, "a"))
        rows = await which_children(sup)
        assert [r.status for r in rows] == ["restarting", "restarting"]
        assert not b.alive
        await _running_again(sup)
        await settle_all_running(sup)
        await system.terminate(sup, SHUTDOWN, None)


async def settle_all_running(sup: SupervisorRef) -> None:
    rows = await which_children(sup)
    assert [r.status for r in rows] == ["running"] * len(rows)


@given(
    min_delay=st.floats(min_value=0.0, max_value=10.0),
    spread=st.floats(min_value=0.0, max_value=100.0),
    jitter=st.floats(min_value=0.0, max_value=2.0),
    attempt=st.integers(min_value=0, max_value=10_000),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_delay_is_capped_and_jittered_upwards(
    min_delay: float, spread: float, jitter: float, attempt: int, seed: int
) -> None:
    backoff = Backoff(min_delay=min_delay, max_delay=min_delay + spread, jitter=jitter)
    delay = backoff.delay(attempt, random.Random(seed))
    base = min(backoff.max_delay, min_delay * 2 ** min(attempt, 64))
    assert base <= delay <= base * (1 + jitter) + 1e-9
    assert math.isfinite(delay)


@given(
    field=st.sampled_from(["min_delay", "max_delay", "jitter", "reset_after"]),
    value=st.one_of(
        st.floats(max_value=-1e-9),
        st.just(math.inf),
        st.just(math.nan),
        st.text(max_size=3),
        st.booleans(),
        st.none(),
    ),
)
def test_malformed_backoff_is_rejected_naming_the_field(field: str, value: object) -> None:
    kwargs: dict[str, object] = {"min_delay": 1.0, "max_delay": 2.0, field: value}
    if field == "reset_after" and value is None:
        Backoff(**kwargs)  # type: ignore[arg-type]  # None is the default: allowed
        return
    with pytest.raises(InvalidChildSpec, match=f"ChildSpec.backoff.{field} must be"):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_max_delay_below_min_delay_is_rejected() -> None:
    with pytest.raises(InvalidChildSpec, match=r"max_delay must be >= backoff\.min_delay"):
        Backoff(min_delay=2.0, max_delay=1.0)
