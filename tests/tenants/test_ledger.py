"""The ledger: each budget admits, refuses with a typed refusal and a wait, and records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.tenants import Budgets, OverBudget, TenantEvent, TenantLedger, TenantsConfig
from lightflow_actors.tenants._ledger import MAX_TRACKED

from ._clock import ManualClock


def ledger_of(clock: ManualClock, **budgets: float) -> TenantLedger:
    acme = Budgets(**budgets)  # type: ignore[arg-type]
    return TenantLedger(TenantsConfig(tenants={"acme": acme}), clock=clock)


def test_live_sessions_are_counted_and_the_one_past_the_limit_is_refused() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, live_sessions=2)
    ledger.open_session("acme", "s1")
    ledger.open_session("acme", "s2")
    with pytest.raises(OverBudget) as caught:
        ledger.open_session("acme", "s3")
    refusal = caught.value
    assert (refusal.reason, refusal.tenant, refusal.budget, refusal.limit) == (
        "over_budget",
        "acme",
        "live_sessions",
        2,
    )
    assert refusal.retry_after > 0 and refusal.retry_after_header == "1"
    assert "tenant 'acme' is over its live_sessions budget (2 live sessions)" in str(refusal)
    ledger.close_session("acme")
    ledger.open_session("acme", "s3")
    # Other tenants get the default budgets: unlimited here.
    for n in range(50):
        ledger.open_session("other", f"o{n}")
    [event] = ledger.events()
    assert event == TenantEvent(
        1, clock.wall_ms(), "refused", "acme", "live_sessions", 2, 1.0, "s3"
    )


def test_events_per_session_and_per_tenant_are_token_buckets_on_the_given_clock() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, session_events_per_s=2, tenant_events_per_s=3)
    one, two = ledger.session_bucket("acme"), ledger.session_bucket("acme")
    assert one is not None and two is not None
    ledger.admit_event("acme", one)
    ledger.admit_event("acme", one)
    with pytest.raises(OverBudget) as caught:
        ledger.admit_event("acme", one, "s1")
    assert caught.value.budget == "session_events"
    assert caught.value.retry_after == pytest.approx(0.5)
    ledger.admit_event("acme", two)  # the tenant's third token
    with pytest.raises(OverBudget) as caught:
        ledger.admit_event("acme", two)
    assert caught.value.budget == "tenant_events"
    assert caught.value.retry_after == pytest.approx(1 / 3)
    clock.advance(0.5)
    ledger.admit_event("acme", one)  # both buckets have one token back
    usage = {u.tenant: u for u in ledger.usage()}["acme"]
    assert usage.refused == {"session_events": 1, "tenant_events": 1}


def test_sessions_refused_by_the_tenant_rate_are_told_staggered_waits() -> None:
    # 20 sessions share 4 events a second: told the same wait, all would come back
    # together and all but one be refused again; each is told a slot of its own.
    clock = ManualClock()
    ledger = ledger_of(clock, tenant_events_per_s=4, tenant_events_burst=1)
    ledger.admit_event("acme")
    waits = []
    for n in range(5):
        with pytest.raises(OverBudget) as caught:
            ledger.admit_event("acme", None, f"s{n}")
        waits.append(caught.value.retry_after)
    assert waits == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25])
    for _ in waits:  # each comes back at its slot (a quarter second apart): admitted
        clock.advance(0.25)
        ledger.admit_event("acme")


def test_a_refused_event_takes_no_token_from_its_session() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, session_events_per_s=10, tenant_events_per_s=1)
    bucket = ledger.session_bucket("acme")
    ledger.admit_event("acme", bucket)
    for _ in range(5):
        with pytest.raises(OverBudget):
            ledger.admit_event("acme", bucket)
    assert bucket is not None and bucket.tokens == pytest.approx(9)


def test_runs_in_flight_refuse_new_runs_but_adopt_resumed_ones() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, runs_in_flight=1)
    ledger.start_run("acme", "r1")
    ledger.start_run("acme", "r1")  # the same run again counts once
    with pytest.raises(OverBudget, match="1 runs in flight"):
        ledger.start_run("acme", "r2")
    with pytest.raises(OverBudget):
        ledger.reserve_run("acme")
    ledger.adopt_run("acme", "r0")  # a restart resumes what was running
    assert ledger.run_tenant("r0") == "acme"
    ledger.end_run("r1")
    ledger.end_run("r0")
    ledger.end_run("never")  # unknown: nothing to do
    ledger.start_run("acme", "r2")
    assert [u.runs_in_flight for u in ledger.usage()] == [1]


def test_provider_calls_per_minute_answer_a_wait_and_record_it_as_throttled() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, provider_calls_per_min=60, provider_calls_burst=2)
    for _ in range(2):
        assert ledger.provider_wait("acme") == 0.0
        ledger.provider_call("acme")
    assert ledger.provider_wait("acme") == pytest.approx(1.0)
    assert ledger.provider_wait("acme") == pytest.approx(1.0)  # asking takes nothing
    assert ledger.events() == []  # nor records anything: the holder records once
    ledger.provider_throttled("acme", "q3", 1.0)
    assert ledger.provider_wait("other") == 0.0  # the default: unlimited
    ledger.provider_call("other")
    clock.advance(1.0)
    assert ledger.provider_wait("acme") == 0.0
    [event] = ledger.events()
    assert (event.kind, event.budget, event.subject, event.limit) == (
        "throttled",
        "provider_calls",
        "q3",
        60,
    )
    assert {u.tenant: u.throttled for u in ledger.usage()} == {"acme": 1}


def test_an_explicit_provider_call_past_the_budget_is_refused_with_the_wait() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, provider_calls_per_min=30, provider_calls_burst=1)
    ledger.provider_refuse("acme", "s1")  # a call is there: nothing raised
    ledger.provider_call("acme")
    with pytest.raises(OverBudget) as refused:
        ledger.provider_refuse("acme", "s2")
    assert refused.value.retry_after == pytest.approx(2.0)
    assert refused.value.retry_after_header == "2"
    assert "30 provider calls a minute" in str(refused.value)
    [event] = ledger.events()
    assert (event.kind, event.budget, event.subject) == ("refused", "provider_calls", "s2")


def test_weights_come_from_the_budgets() -> None:
    ledger = TenantLedger(TenantsConfig(tenants={"gold": Budgets(weight=4)}), clock=ManualClock())
    assert (ledger.weight("gold"), ledger.weight("anyone")) == (4, 1)


def test_listeners_hear_each_event_and_a_failing_one_changes_nothing() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, live_sessions=0)
    heard: list[TenantEvent] = []
    stop = ledger.listen(heard.append)

    def broken(event: TenantEvent) -> None:
        raise RuntimeError("listener bug")

    ledger.listen(broken)
    with pytest.raises(OverBudget):
        ledger.open_session("acme")
    stop()
    stop()  # twice is harmless
    with pytest.raises(OverBudget):
        ledger.open_session("acme")
    assert [e.seq for e in heard] == [1]
    assert [e.seq for e in ledger.events(after=1)] == [2]


def test_reconfigure_applies_new_budgets_and_keeps_counts() -> None:
    clock = ManualClock()
    ledger = ledger_of(clock, live_sessions=5)
    assert ledger.limited
    ledger.open_session("acme")
    ledger.reconfigure(TenantsConfig(tenants={"acme": Budgets(live_sessions=1)}))
    with pytest.raises(OverBudget):
        ledger.open_session("acme")
    ledger.reconfigure(TenantsConfig())
    assert not ledger.limited
    ledger.open_session("acme")


def test_idle_tenants_are_forgotten_past_the_tracking_bound() -> None:
    ledger = TenantLedger(clock=ManualClock())
    ledger.open_session("busy")
    for n in range(MAX_TRACKED + 5):
        ledger.open_session(f"t{n}")
        ledger.close_session(f"t{n}")
    tenants = {u.tenant for u in ledger.usage()}
    assert "busy" in tenants
    assert len(tenants) <= MAX_TRACKED


@given(
    st.lists(
        st.tuples(st.sampled_from(["open", "close", "start", "end"]), st.integers(0, 5)),
        max_size=60,
    )
)
def test_counts_never_pass_their_budgets_nor_go_negative(ops: list[tuple[str, int]]) -> None:
    ledger = ledger_of(ManualClock(), live_sessions=3, runs_in_flight=2)
    for op, n in ops:
        try:
            if op == "open":
                ledger.open_session("acme")
            elif op == "close":
                ledger.close_session("acme")
            elif op == "start":
                ledger.start_run("acme", f"r{n}")
            else:
                ledger.end_run(f"r{n}")
        except OverBudget:
            pass
        for usage in ledger.usage():
            assert 0 <= usage.live_sessions <= 3
            assert 0 <= usage.runs_in_flight <= 2
