"""Run status derivation (DESIGN §7) and the step lifecycle transitions."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow import (
    STEP_STATUSES,
    AssetCatalog,
    RunCancelled,
    RunManifest,
    StepFailed,
    StepNotFound,
    StepState,
    StepStatus,
    StepSubmitted,
    StepSucceeded,
    StepTransitionError,
    cancel_run,
    derive_status,
    fail_step,
    new_manifest,
    resolve,
    submit_step,
    succeed_step,
)


def reference_status(cancelled: bool, statuses: list[str]) -> str:
    """DESIGN §7 read literally, one clause per line."""
    if cancelled:
        return "cancelled"
    if any(s == "failed" for s in statuses):
        return "failed"
    if any(s == "cancelled" for s in statuses) and not any(
        s in ("planned", "submitted") for s in statuses
    ):
        return "cancelled"
    if all(s == "succeeded" for s in statuses):
        return "succeeded"
    if any(s in ("submitted", "succeeded") for s in statuses):
        return "running"
    return "planned"


@given(cancelled=st.booleans(), statuses=st.lists(st.sampled_from(STEP_STATUSES), max_size=12))
def test_status_derivation_matches_the_design(cancelled: bool, statuses: list[StepStatus]) -> None:
    assert derive_status(cancelled, statuses) == reference_status(cancelled, list(statuses))


def test_status_examples() -> None:
    assert derive_status(False, ["planned", "planned"]) == "planned"
    assert derive_status(False, ["succeeded", "planned"]) == "running"
    assert derive_status(False, ["succeeded", "succeeded"]) == "succeeded"
    assert derive_status(False, ["succeeded", "failed", "submitted"]) == "failed"
    assert derive_status(False, ["cancelled", "succeeded"]) == "cancelled"
    assert derive_status(False, ["cancelled", "planned"]) == "planned"
    assert derive_status(True, ["succeeded"]) == "cancelled"


def fresh(catalog: AssetCatalog) -> RunManifest:
    return new_manifest("r1", resolve(catalog, "article", b'{"topic": "owls"}'), 1000)


def test_new_manifest_plans_every_step_and_holds_run_created(catalog: AssetCatalog) -> None:
    m = fresh(catalog)
    assert m.status == "planned" and m.sequence == 1
    assert all(s.status == "planned" and s.attempts == 0 for s in m.steps)
    assert m.last_event is not None and m.last_event.seq == 1
    assert msgspec.json.decode(msgspec.json.encode(m), type=RunManifest) == m


def test_submit_succeed_and_retry_cycle(catalog: AssetCatalog) -> None:
    m = fresh(catalog)
    m, e1 = submit_step(m, "plan", fingerprint="sha256:x", request_id="plan-1-a", now_ms=2000)
    assert isinstance(e1, StepSubmitted) and e1.seq == 2 and e1.attempt == 1
    assert m.step("plan").status == "submitted" and m.status == "running"
    m, e2 = fail_step(m, "plan", error="timeout", now_ms=3000, retry_at_ms=5000)
    assert isinstance(e2, StepFailed) and e2.retry_at_ms == 5000
    assert m.step("plan").status == "planned" and m.step("plan").retry_at_ms == 5000
    assert m.status == "planned"  # a retrying step never makes the run failed
    m, _ = submit_step(m, "plan", fingerprint="sha256:x", request_id="plan-2-b", now_ms=6000)
    assert m.step("plan").attempts == 2 and m.step("plan").retry_at_ms is None
    m, e3 = succeed_step(m, "plan", output="outputs/plan.json", now_ms=7000)
    assert isinstance(e3, StepSucceeded) and e3.attempt == 2 and m.sequence == 5
    assert m.step("plan").error is None and m.updated_at_ms == 7000


def test_final_failure_fails_the_run(catalog: AssetCatalog) -> None:
    m = fresh(catalog)
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="r", now_ms=1)
    m, e = fail_step(m, "plan", error="boom", now_ms=2, retry_at_ms=None)
    assert m.step("plan").status == "failed" and m.status == "failed" and e.retry_at_ms is None


@pytest.mark.parametrize("status", ["submitted", "cancelled", "succeeded", "failed"])
def test_submit_only_from_planned(catalog: AssetCatalog, status: StepStatus) -> None:
    m = fresh(catalog)
    steps = tuple(
        msgspec.structs.replace(s, status=status) if s.id == "plan" else s for s in m.steps
    )
    m = msgspec.structs.replace(m, steps=steps)
    with pytest.raises(StepTransitionError, match=f"is {status}; it can become submitted only"):
        submit_step(m, "plan", fingerprint="f", request_id="r", now_ms=1)
    assert StepTransitionError.reason == "conflict"


def test_cache_hit_goes_from_planned_to_succeeded(catalog: AssetCatalog) -> None:
    m = fresh(catalog)
    m, e = succeed_step(
        m, "plan", output="outputs/plan.json", now_ms=5, cached_from="old/plan", fingerprint="f"
    )
    assert e.cached_from == "old/plan" and m.step("plan").attempts == 0
    with pytest.raises(StepTransitionError):
        succeed_step(m, "summary", output="o", now_ms=5)  # not submitted, no cache


def test_cancel_marks_open_steps_and_refuses_finished_runs(catalog: AssetCatalog) -> None:
    m = fresh(catalog)
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="r", now_ms=1)
    m, e = cancel_run(m, reason="user", now_ms=2)
    assert isinstance(e, RunCancelled) and set(e.steps) == {s.id for s in m.steps}
    assert m.status == "cancelled" and all(s.status == "cancelled" for s in m.steps)
    with pytest.raises(StepTransitionError, match="already cancelled"):
        cancel_run(m, reason="again", now_ms=3)
    with pytest.raises(StepTransitionError, match="is cancelled"):
        succeed_step(m, "plan", output="o", now_ms=4)


def test_unknown_step_is_not_found(catalog: AssetCatalog) -> None:
    with pytest.raises(StepNotFound, match="no step 'nope'"):
        submit_step(fresh(catalog), "nope", fingerprint="f", request_id="r", now_ms=1)


_action = st.tuples(
    st.sampled_from(["submit", "succeed", "fail", "retry", "cache", "cancel"]),
    st.sampled_from(["a", "b", "c"]),
)


@given(actions=st.lists(_action, max_size=30))
def test_transitions_keep_the_sequence_and_lifecycle(actions: list[tuple[str, str]]) -> None:
    m = RunManifest(
        run_id="r",
        workflow="w",
        created_at_ms=0,
        updated_at_ms=0,
        steps=tuple(StepState(id=i) for i in "abc"),
        sequence=1,
    )
    for t, (action, step) in enumerate(actions):
        before = m
        try:
            if action == "submit":
                m, _ = submit_step(m, step, fingerprint="f", request_id="r", now_ms=t)
            elif action == "succeed":
                m, _ = succeed_step(m, step, output="o", now_ms=t)
            elif action in ("fail", "retry"):
                retry = t + 10 if action == "retry" else None
                m, _ = fail_step(m, step, error="e", now_ms=t, retry_at_ms=retry)
            elif action == "cache":
                m, _ = succeed_step(m, step, output="o", now_ms=t, cached_from="x/y")
            else:
                m, _ = cancel_run(m, reason="r", now_ms=t)
        except StepTransitionError:
            assert m == before
            continue
        assert m.sequence == before.sequence + 1 and m.last_event is not None
        assert m.last_event.seq == m.sequence
        old, new = before.step(step), m.step(step)
        if action == "submit":
            assert old.status == "planned" and new.attempts == old.attempts + 1
        if new.status == "succeeded" and old.status != "succeeded":
            assert old.status in ("planned", "submitted")
    for s in m.steps:
        assert s.status != "submitted" or s.attempts >= 1
