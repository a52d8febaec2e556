"""Hypothesis draws every scheduling choice, so a failing schedule shrinks to few deviations."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.testing import (
    HypothesisStrategy,
    Scenario,
    explore,
    explore_hypothesis,
    replay,
    run_schedule,
)

Example = Callable[[str], Scenario]


def test_a_failing_schedule_shrinks_to_fewer_choices(example: Example) -> None:
    sc = example("lost_update.py:scenario")
    found = explore_hypothesis(sc, max_examples=100, out=None)
    assert found.failure is not None
    shrunk = found.failure.result
    assert "lost update" in shrunk.describe_error()
    assert found.failure.strategy.startswith("script:")

    # Failing schedules found by the random strategy deviate from FIFO order far more.
    random_failures = []
    seed = 0
    while len(random_failures) < 10:
        result = run_schedule(sc, seed=seed, strategy="random", quiet=True)
        if not result.ok:
            random_failures.append(result.deviations)
        seed += 1
    assert shrunk.deviations == 2  # the minimum: a one-step preemption cannot lose it
    assert shrunk.deviations < min(random_failures)

    # The shrunk schedule replays exactly from its script spec.
    again = replay(sc, seed=shrunk.seed, strategy=found.failure.strategy, check=False, out=None)
    assert again.sha256() == shrunk.sha256()
    assert not again.ok


def test_explore_accepts_hypothesis_as_a_strategy(example: Example) -> None:
    exploration = explore(
        example("lost_update.py:scenario"), seeds=50, strategy="hypothesis", out=None
    )
    assert exploration.failure is not None
    assert exploration.failure.result.deviations <= 2


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_hypothesis_strategy_inside_a_given_test(data: st.DataObject) -> None:
    """Users can drive a schedule from their own @given test, too."""
    from lightflow_actors import ActorSystem

    async def body(system: ActorSystem) -> None:
        import asyncio

        log: list[str] = []

        async def step(name: str) -> None:
            for i in range(3):
                log.append(f"{name}{i}")
                await asyncio.sleep(0)

        await asyncio.gather(step("a"), step("b"))
        assert sorted(log) == ["a0", "a1", "a2", "b0", "b1", "b2"]

    strategy = HypothesisStrategy(data)
    result = run_schedule(body, strategy=strategy)
    assert result.ok, result.error
    assert len(strategy.choices) == len(result.choices)
