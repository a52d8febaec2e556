"""The pure DAG scheduler: readiness, parallel branches, retries with backoff from a passed
clock and RNG, output caching by fingerprint, and a simulated run to completion."""

from __future__ import annotations

import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AssetCatalog,
    CachedOutput,
    CorruptRun,
    ResolvedWorkflow,
    RetryPolicy,
    RunManifest,
    backoff_s,
    fail_step,
    new_manifest,
    plan_steps,
    request_id_for,
    resolve,
    retry_at_ms,
    submit_step,
    succeed_step,
)
from lightflow_actors.isa import JSONValue


def article(catalog: AssetCatalog) -> ResolvedWorkflow:
    return resolve(catalog, "article", b'{"topic": "owls"}')


def output_for(resolved: ResolvedWorkflow, step_id: str) -> JSONValue:
    step = resolved.step(step_id)
    if step.target == "tool":
        return {"words": 3, "lines": 1}
    return {"text": f"out of {step_id}"}


def test_ready_steps_follow_the_dag(catalog: AssetCatalog) -> None:
    r = article(catalog)
    m = new_manifest("run", r, 0)
    plan = plan_steps(r, m, outputs={}, now_ms=0)
    assert [s.step for s in plan.submit] == ["plan"] and not plan.finished
    assert plan.submit[0].attempt == 1 and plan.submit[0].fingerprint == r.step("plan").fingerprint
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="x", now_ms=0)
    in_flight = plan_steps(r, m, outputs={}, now_ms=0)
    assert in_flight.submit == () and not in_flight.finished
    m, _ = succeed_step(m, "plan", output="outputs/plan.json", now_ms=1)
    plan = plan_steps(r, m, outputs={"plan": {"text": "P"}}, now_ms=1)
    assert [s.step for s in plan.submit] == ["write-draft", "plan-size"]  # parallel branches
    size = next(s for s in plan.submit if s.step == "plan-size")
    assert size.request == {"text": "P"}
    assert size.request_id == request_id_for("run", "plan-size", 1)
    limited = plan_steps(r, m, outputs={"plan": {"text": "P"}}, now_ms=1, max_in_flight=1)
    assert [s.step for s in limited.submit] == ["write-draft"]


def test_missing_output_of_a_succeeded_dependency_is_corruption(catalog: AssetCatalog) -> None:
    r = article(catalog)
    m = new_manifest("run", r, 0)
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="x", now_ms=0)
    m, _ = succeed_step(m, "plan", output="outputs/plan.json", now_ms=1)
    with pytest.raises(CorruptRun, match="'plan' succeeded but its output"):
        plan_steps(r, m, outputs={}, now_ms=1)


def test_backoff_waits_then_retries(catalog: AssetCatalog) -> None:
    r = article(catalog)
    m = new_manifest("run", r, 0)
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="x", now_ms=0)
    at = retry_at_ms(r.step("plan").retry, 1, 1000, random.Random(3))
    assert at is not None and 1000 + 1600 <= at <= 1000 + 2400  # 2 s ± 20 %
    m, _ = fail_step(m, "plan", error="503", now_ms=1000, retry_at_ms=at)
    waiting = plan_steps(r, m, outputs={}, now_ms=at - 1)
    assert waiting.submit == () and waiting.wake_at_ms == at and not waiting.finished
    again = plan_steps(r, m, outputs={}, now_ms=at)
    assert [(s.step, s.attempt) for s in again.submit] == [("plan", 2)]


@given(
    attempt=st.integers(1, 10_000),
    initial=st.floats(0, 100),
    extra=st.floats(0, 1000),
    multiplier=st.floats(1, 50),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_bounded_and_reproducible(
    attempt: int, initial: float, extra: float, multiplier: float, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(
        max_attempts=10_001,
        initial_backoff_s=initial,
        max_backoff_s=initial + extra,
        multiplier=multiplier,
        jitter=jitter,
    )
    delay = backoff_s(policy, attempt, random.Random(seed))
    assert 0 <= delay <= policy.max_backoff_s * (1 + jitter) + 1e-9
    assert delay == backoff_s(policy, attempt, random.Random(seed))
    assert retry_at_ms(RetryPolicy(max_attempts=attempt), attempt, 0, random.Random(seed)) is None


def test_cached_output_is_reused_instead_of_submitted(catalog: AssetCatalog) -> None:
    r = article(catalog)
    m = new_manifest("run", r, 0)
    fp = r.step("plan").fingerprint
    assert fp is not None
    hit = CachedOutput(fingerprint=fp, run_id="older", step="plan", output="outputs/plan.json")
    index = {fp: hit}
    plan = plan_steps(r, m, outputs={}, now_ms=0, lookup=index.get)
    assert plan.submit == () and [(u.step, u.cached) for u in plan.reuse] == [("plan", hit)]
    # `notify` uses the "fresh" policy: never served from the cache.
    assert r.step("notify").cache is False


def test_render_failure_is_reported_not_raised(catalog: AssetCatalog) -> None:
    r = article(catalog)
    m = new_manifest("run", r, 0)
    m, _ = submit_step(m, "plan", fingerprint="f", request_id="x", now_ms=0)
    m, _ = succeed_step(m, "plan", output="o", now_ms=0)
    plan = plan_steps(r, m, outputs={"plan": {"text": ["not", "text"]}}, now_ms=0)
    assert {f.step for f in plan.failed} == {"write-draft", "plan-size"}
    assert "only scalars" in plan.failed[0].error or "admits string" in plan.failed[0].error


def simulate(
    r: ResolvedWorkflow, outcomes: list[bool], seed: int, cache: dict[str, CachedOutput]
) -> tuple[RunManifest, int]:
    """Drive a run with the scheduler; `outcomes` decides each submission (cycled)."""
    m = new_manifest("sim", r, 0)
    outputs: dict[str, JSONValue] = {}
    rng = random.Random(seed)
    now, submissions = 0, 0
    for _ in range(500):
        plan = plan_steps(r, m, outputs=outputs, now_ms=now, lookup=cache.get)
        if plan.finished:
            return m, submissions
        for u in plan.reuse:
            m, _ = succeed_step(
                m,
                u.step,
                output=u.cached.output,
                now_ms=now,
                cached_from="x",
                fingerprint=u.fingerprint,
            )
            outputs[u.step] = output_for(r, u.step)
        for f in plan.failed:
            m, _ = fail_step(m, f.step, error=f.error, now_ms=now, retry_at_ms=None)
        for s in plan.submit:
            step = r.step(s.step)
            for dep in step.depends_on:
                assert m.step(dep).status == "succeeded"
            m, _ = submit_step(
                m, s.step, fingerprint=s.fingerprint, request_id=s.request_id, now_ms=now
            )
            ok = outcomes[submissions % len(outcomes)] if outcomes else True
            submissions += 1
            if ok:
                outputs[s.step] = output_for(r, s.step)
                m, _ = succeed_step(m, s.step, output=f"outputs/{s.step}.json", now_ms=now)
                cache[s.fingerprint] = CachedOutput(s.fingerprint, "sim", s.step, "o")
            else:
                at = retry_at_ms(step.retry, s.attempt, now, rng)
                m, _ = fail_step(m, s.step, error="boom", now_ms=now, retry_at_ms=at)
        if not (plan.reuse or plan.failed or plan.submit):
            assert plan.wake_at_ms is not None and plan.wake_at_ms > now
            now = plan.wake_at_ms
    raise AssertionError("the run did not finish")


@settings(max_examples=60, deadline=None)
@given(outcomes=st.lists(st.booleans(), max_size=12), seed=st.integers(0, 1000))
def test_simulated_runs_finish_within_their_retry_budget(
    catalog: AssetCatalog, outcomes: list[bool], seed: int
) -> None:
    r = article(catalog)
    m, _ = simulate(r, outcomes, seed, {})
    assert m.status in ("succeeded", "failed")
    for state in m.steps:
        assert state.status in ("planned", "succeeded", "failed")
        assert state.attempts <= r.step(state.id).retry.max_attempts
    if m.status == "succeeded":
        assert all(s.status == "succeeded" for s in m.steps)
    else:
        assert any(
            s.status == "failed" and s.attempts == r.step(s.id).retry.max_attempts for s in m.steps
        )


def test_second_identical_run_is_served_from_the_cache(catalog: AssetCatalog) -> None:
    r = article(catalog)
    cache: dict[str, CachedOutput] = {}
    first, submitted_first = simulate(r, [True], 0, cache)
    second, submitted_second = simulate(r, [True], 0, cache)
    assert first.status == second.status == "succeeded"
    assert submitted_first == len(r.steps)
    assert submitted_second == 1  # only `notify` (policy "fresh": cache off) runs again
    assert msgspec.json.encode(second.step("plan").cached_from) == b'"x"'
