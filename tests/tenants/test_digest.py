"""`RefusalDigest` and `report_refusals`: a flood of refusals becomes at most one entry a
second per tenant and budget (the first at once, then one with the count of each second),
nothing counted is lost, and the entries are the system's ``over_budget`` lifecycle events
(``GET /system/events``) on its loop's timer, so virtual time drives them."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.kernel import ActorSystem
from lightflow_actors.tenants import (
    BudgetName,
    Budgets,
    OverBudget,
    RefusalDigest,
    RefusalSummary,
    TenantLedger,
    TenantsConfig,
    report_refusals,
)

BUDGETS: tuple[BudgetName, ...] = ("session_events", "tenant_events", "runs_in_flight")


def test_the_first_refusal_is_an_entry_at_once_and_the_rest_of_the_second_one_more() -> None:
    entries: list[RefusalSummary] = []
    digest = RefusalDigest(entries.append)
    assert digest.add("acme", "session_events", 10.0) is True
    for n in range(999):
        assert digest.add("acme", "session_events", 10.0 + n / 1000) is False
    assert entries == [RefusalSummary("acme", "session_events", 1)]
    assert digest.flush(10.5) == 11.0  # not due yet
    assert digest.flush(11.0) == 12.0
    assert entries[1:] == [RefusalSummary("acme", "session_events", 999)]
    assert digest.flush(12.0) is None  # a quiet second closes the window
    assert len(digest) == 0
    digest.add("acme", "session_events", 30.0)  # and the next refusal is news again
    assert entries[2:] == [RefusalSummary("acme", "session_events", 1)]


def test_pairs_past_the_bound_are_folded_into_other_tenants() -> None:
    entries: list[RefusalSummary] = []
    digest = RefusalDigest(entries.append, max_pairs=2)
    for tenant in ("a", "b", "c", "d", "e"):
        digest.add(tenant, "tenant_events", 0.0)
    assert [(e.tenant, e.count) for e in entries] == [("a", 1), ("b", 1), (None, 1)]
    assert len(digest) == 3  # two pairs plus one fold per budget: bounded either way
    digest.flush(1.0)
    assert entries[-1] == RefusalSummary(None, "tenant_events", 2)


@pytest.mark.parametrize(("period", "pairs"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_digest_refuses_a_bad_period_or_bound(period: float, pairs: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RefusalDigest(lambda _: None, period=period, max_pairs=pairs)


refusals = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(BUDGETS),
        st.floats(min_value=0.0, max_value=0.7),  # the gap since the previous one
    ),
    max_size=200,
)


@settings(max_examples=60)
@given(refusals, st.integers(min_value=1, max_value=4))
def test_nothing_is_lost_and_a_pair_gets_at_most_an_entry_a_period(
    stream: list[tuple[str, BudgetName, float]], max_pairs: int
) -> None:
    # The timer of `report_refusals`, by hand: a flush runs whenever one is due.
    entries: list[tuple[float, RefusalSummary]] = []
    clock = [0.0]
    digest = RefusalDigest(lambda s: entries.append((clock[0], s)), max_pairs=max_pairs)
    due: float | None = None
    for tenant, budget, gap in stream:
        arrival = clock[0] + gap
        while due is not None and due <= arrival:
            clock[0] = due
            due = digest.flush(due)
        clock[0] = arrival
        if digest.add(tenant, budget, arrival) and due is None:
            due = arrival + 1.0
        assert len(digest) <= max_pairs + len(BUDGETS)  # plus one fold per budget
    while due is not None:
        clock[0] = due
        due = digest.flush(due)
    assert sum(s.count for _, s in entries) == len(stream)
    assert len(digest) == 0
    last: dict[tuple[str | None, BudgetName], float] = {}
    for at, summary in entries:
        key = (summary.tenant, summary.budget)
        if key in last:
            assert at - last[key] >= 1.0 - 1e-9, (key, last[key], at)
        last[key] = at


@pytest.mark.deterministic(seeds=2)
async def test_a_flood_of_refusals_is_a_few_lifecycle_events_with_counts(
    sim_system: ActorSystem,
) -> None:
    ledger = TenantLedger(
        TenantsConfig(tenants={"noisy": Budgets(runs_in_flight=0)}), clock=sim_system.clock
    )
    stop = report_refusals(ledger, sim_system)
    start = sim_system.clock.now()
    refused = 0
    while sim_system.clock.now() - start < 2.5:  # 2.5 s of virtual time, 2 a ms
        for _ in range(2):
            with pytest.raises(OverBudget):
                ledger.reserve_run("noisy")
            refused += 1
        await asyncio.sleep(0.001)
    await asyncio.sleep(1.5)  # the last window ends
    events = [e for e in sim_system.events(limit=0) if e.kind == "over_budget"]
    assert 3 <= len(events) <= 4  # the first, then one a second (not 5 000)
    assert sum(e.count or 0 for e in events) == refused
    assert {(e.tenant, e.budget, e.actor) for e in events} == {("noisy", "runs_in_flight", 0)}
    assert events[0].count == 1
    stop()
    with pytest.raises(OverBudget):
        ledger.reserve_run("noisy")
    await asyncio.sleep(2.0)
    assert len([e for e in sim_system.events(limit=0) if e.kind == "over_budget"]) == len(events)
