"""Step turns (ADR 0134): a tenant's run steps take turns within its `steps` budget and
the node's; a quiet tenant's steps are dispatched within a bound however hard another
tenant floods. On the deterministic loop (virtual time), a seed per run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.kernel import ActorSystem, LoopClock
from lightflow_actors.tenants import Budgets, NodeBudgets, StepTurns, TenantLedger, TenantsConfig
from lightflow_actors.testing import DeterministicLoop, RandomStrategy


async def _take(turns: StepTurns, tenant: str, cost: int = 1, subject: str | None = None) -> float:
    """Ask for a turn and wait for it; the virtual seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    waiting = turns.turn(tenant, cost, subject)
    if waiting is not None:
        await waiting
    return loop.time() - start


async def _flood(turns: StepTurns, tenant: str, runs: int, stop: asyncio.Event) -> list[int]:
    """`runs` runs of `tenant`, each dispatching steps back to back until `stop`; the
    steps each dispatched."""
    done = [0] * runs

    async def run(n: int) -> None:
        while not stop.is_set():
            await _take(turns, tenant, 1, f"{tenant}-{n}")
            done[n] += 1
            await asyncio.sleep(0)  # a step served from the cache: no wait of its own

    await asyncio.gather(*(run(n) for n in range(runs)))
    return done


@pytest.mark.deterministic(seeds=3)
async def test_a_flooding_tenant_gets_its_step_rate_and_the_quiet_one_never_waits(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(tenants={"noisy": Budgets(steps_per_s=50, steps_burst=5)})
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    stop = asyncio.Event()
    flood = asyncio.ensure_future(_flood(turns, "noisy", 20, stop))
    quiet_waits = []
    for _ in range(200):
        quiet_waits.append(await _take(turns, "quiet", 1, "quiet"))
        await asyncio.sleep(0.01)
    stop.set()
    done = await flood
    elapsed = 200 * 0.01
    assert quiet_waits == [0.0] * 200  # no budget of its own, no node budget: never held
    assert sum(done) <= 50 * elapsed + 5 + 20  # its rate, its burst, the last turns given
    assert sum(done) >= 50 * elapsed * 0.9
    # Its runs took turns: apart from the burst (one run may take it all at the start),
    # none got more than one step ahead of another.
    assert max(done) - min(done) <= 5 + 1, done
    (noisy,) = [u for u in ledger.usage() if u.tenant == "noisy"]
    assert noisy.steps == sum(done) and noisy.steps_held > 0
    throttled = [e for e in ledger.events() if e.budget == "steps"]
    assert throttled and {e.tenant for e in throttled} == {"noisy"}
    assert len(throttled) < noisy.steps_held  # once per wait, not once per step


@pytest.mark.deterministic(seeds=3)
async def test_under_a_node_step_rate_a_quiet_step_waits_at_most_one_round(
    sim_system: ActorSystem,
) -> None:
    rate = 100.0
    config = TenantsConfig(node=NodeBudgets(steps_per_s=rate, steps_burst=1))
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    stop = asyncio.Event()
    flood = asyncio.ensure_future(_flood(turns, "noisy", 50, stop))
    await asyncio.sleep(0.5)  # fifty runs queued for the node's steps
    waits = []
    for _ in range(50):
        waits.append(await _take(turns, "quiet"))
        await asyncio.sleep(0.013)
    stop.set()
    await flood
    # One noisy step ahead of it (the round), then its own token: two tokens' time, not
    # the fifty noisy runs' line.
    assert max(waits) <= 2 / rate + 1e-6, waits
    assert turns.waiting() == {}


@pytest.mark.deterministic(seeds=2)
async def test_tenants_share_the_node_step_rate_by_weight(sim_system: ActorSystem) -> None:
    config = TenantsConfig(
        tenants={"gold": Budgets(weight=2)}, node=NodeBudgets(steps_per_s=90, steps_burst=1)
    )
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    stop = asyncio.Event()
    floods = [asyncio.ensure_future(_flood(turns, t, 10, stop)) for t in ("gold", "free")]
    await asyncio.sleep(4.0)
    stop.set()
    gold, free = [sum(await f) for f in floods]
    assert gold + free <= 90 * 4.0 + 1 + 20
    assert 1.8 <= gold / free <= 2.2, (gold, free)


@pytest.mark.deterministic(seeds=2)
async def test_a_run_that_leaves_the_line_is_skipped_and_not_counted(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(default=Budgets(steps_per_s=10, steps_burst=1))
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    assert turns.turn("a", 1, "r1") is None  # the burst
    left = turns.turn("a", 1, "r2")
    kept = turns.turn("a", 1, "r3")
    assert left is not None and kept is not None
    left.cancel()
    await kept
    assert sim_system.clock.now() == pytest.approx(0.1, abs=1e-6)  # r2's token went to r3
    (usage,) = ledger.usage()
    assert (usage.steps, usage.steps_held) == (2, 1)
    last = turns.turn("a", 1, "r4")
    assert last is not None
    turns.close()  # the host stops: the line goes
    assert last.done() and not last.cancelled()


@pytest.mark.deterministic(seeds=2)
async def test_a_look_up_of_many_steps_costs_them_all_and_is_never_stuck(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(default=Budgets(steps_per_s=10, steps_burst=2))
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    assert await _take(turns, "a", cost=30) == 0.0  # more than its burst: goes, owing
    wait = await _take(turns, "a", cost=1)
    assert wait == pytest.approx(2.9, abs=1e-6)  # paid back, then one token: 29/10 s


# -- the line's order, whatever is asked when (hypothesis) ---------------------------------

Ask = tuple[float, str, int]  # (virtual time it asks at, tenant, cost)


def _served(asks: list[Ask], config: TenantsConfig) -> list[tuple[float, int, str]]:
    """Run `asks` through `StepTurns` on a deterministic loop; (time served, index, tenant)."""
    loop = DeterministicLoop(RandomStrategy(0))
    served: list[tuple[float, int, str]] = []

    async def main() -> None:
        ledger = TenantLedger(config, clock=LoopClock(loop, 0))
        turns = StepTurns(ledger, loop)

        async def ask(index: int, at: float, tenant: str, cost: int) -> None:
            await asyncio.sleep(at)
            waiting = turns.turn(tenant, cost)
            if waiting is not None:
                await waiting
            served.append((loop.time(), index, tenant))

        await asyncio.gather(*(ask(i, *a) for i, a in enumerate(asks)))
        assert turns.waiting() == {}

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return served


asks_strategy: Callable[[], st.SearchStrategy[list[Ask]]] = lambda: st.lists(  # noqa: E731
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.3]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(1, 3),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(asks_strategy())
def test_every_step_gets_its_turn_in_order_within_its_tenant_and_within_its_rate(
    asks: list[Ask],
) -> None:
    config = TenantsConfig(
        tenants={"a": Budgets(steps_per_s=20, steps_burst=2), "b": Budgets(steps_per_s=5)},
        node=NodeBudgets(steps_per_s=50, steps_burst=3),
    )
    served = _served(asks, config)
    assert sorted(i for _, i, _ in served) == list(range(len(asks)))  # each once
    position = {i: n for n, (_, i, _) in enumerate(served)}
    for i, (at_i, tenant_i, _) in enumerate(asks):
        for j, (at_j, tenant_j, _) in enumerate(asks):
            if tenant_i == tenant_j and at_i < at_j:
                assert position[i] < position[j], (i, j)  # FIFO within a tenant
    # A turn is given only while the bucket holds a token: before the k-th, what was
    # charged is at most the burst less one plus what the rate gave back (the cap of the
    # burst only makes it fewer).
    limits = {"a": (20.0, 2.0), "b": (5.0, 5.0), None: (50.0, 3.0)}
    for tenant, (rate, burst) in limits.items():
        charged = 0
        for at, i, t in served:
            if tenant is not None and t != tenant:
                continue
            assert charged <= burst - 1 + rate * at + 1e-6, (tenant, at, charged)
            charged += asks[i][2]


@pytest.mark.deterministic(seeds=3)
async def test_a_hurried_subject_goes_at_once_owing_its_tokens_and_keeps_no_place_in_line(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(tenants={"slow": Budgets(steps_per_s=1, steps_burst=1)})
    ledger = TenantLedger(config, clock=sim_system.clock)
    turns = StepTurns(ledger, sim_system.loop)
    loop = asyncio.get_running_loop()
    assert turns.turn("slow", 1, "run-a") is None  # the burst's one token
    waiting_b = turns.turn("slow", 1, "run-b")
    waiting_c = turns.turn("slow", 1, "run-c")
    assert waiting_b is not None and waiting_c is not None
    start = loop.time()
    assert turns.hurry("run-c")  # a cancel of the run behind: it goes now, ahead of b
    await waiting_c
    assert loop.time() == start
    assert not turns.hurry("run-c") and not turns.hurry("run-z")  # no longer / never waiting
    await waiting_b  # b waits for the token c took as well: 2 s at 1 step/s
    assert loop.time() - start == pytest.approx(2.0, abs=1e-3)
    usage = {u.tenant: u for u in ledger.usage()}
    assert usage["slow"].steps == 3 and usage["slow"].steps_held == 2
    assert turns.waiting() == {}
