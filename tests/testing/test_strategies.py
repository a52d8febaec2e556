"""Strategy specs, PCT's priorities, and scripted replays of recorded choices."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.testing import (
    FifoStrategy,
    InvalidStrategy,
    PCTStrategy,
    RandomStrategy,
    Scenario,
    ScriptStrategy,
    explore,
    make_strategy,
    run_schedule,
)


@pytest.mark.parametrize(
    ("spec", "kind", "canonical"),
    [
        ("random", RandomStrategy, "random"),
        ("fifo", FifoStrategy, "fifo"),
        ("pct", PCTStrategy, "pct:depth=3,steps=1000"),
        ("PCT:depth=2,steps=40", PCTStrategy, "pct:depth=2,steps=40"),
        ("script:", ScriptStrategy, "script:"),
        ("script:0.2.1.0.0", ScriptStrategy, "script:0.2.1"),
    ],
)
def test_specs_build_their_strategy(spec: str, kind: type, canonical: str) -> None:
    strategy = make_strategy(spec, seed=5)
    assert isinstance(strategy, kind)
    assert strategy.spec == canonical
    assert make_strategy(strategy.spec, seed=5).spec == canonical


@pytest.mark.parametrize(
    "spec",
    ["", "dfs", "random:x=1", "pct:depth=0", "pct:depth=a", "pct:width=3", "script:1.x", "fifo:1"],
)
def test_bad_specs_are_refused_with_the_grammar(spec: str) -> None:
    with pytest.raises(InvalidStrategy, match="Use 'portfolio', 'random'"):
        make_strategy(spec, seed=0)


@given(st.text(max_size=60))
def test_any_spec_text_builds_or_is_refused_cleanly(spec: str) -> None:
    try:
        strategy = make_strategy(spec, seed=1)
    except InvalidStrategy:
        return
    choice = strategy.choose([("actor", 1), ("actor", 2), ("task", 1)], 0)
    assert 0 <= choice < 3


def test_pct_without_change_points_keeps_one_priority_order() -> None:
    ops = [("actor", i) for i in range(1, 6)]
    pct = PCTStrategy(seed=9, depth=1, steps=100)
    picks = {ops[pct.choose(ops, step)] for step in range(50)}
    assert len(picks) == 1  # the highest-priority operation always wins
    firsts = {ops[PCTStrategy(seed=s, depth=1, steps=10).choose(ops, 0)] for s in range(40)}
    assert len(firsts) >= 4  # priorities are random per seed


def test_pct_change_points_demote_the_running_operation() -> None:
    ops = [("actor", 1), ("actor", 2)]
    pct = PCTStrategy(seed=4, depth=5, steps=8)  # 4 change points among 8 decisions
    picks = [ops[pct.choose(ops, step)] for step in range(8)]
    switches = sum(1 for a, b in itertools.pairwise(picks) if a != b)
    assert switches >= 1


def test_random_choices_stay_in_range() -> None:
    strategy = RandomStrategy(seed=0)
    for n in range(2, 30):
        assert 0 <= strategy.choose([("task", i) for i in range(n)], 0) < n


def test_a_script_replays_a_recorded_schedule(example: Callable[[str], Scenario]) -> None:
    sc = example("lost_update.py:scenario")
    for seed in range(5):
        original = run_schedule(sc, seed=seed, strategy="random")
        spec = ScriptStrategy(original.choices).spec
        replayed = run_schedule(sc, seed=seed, strategy=spec)
        assert replayed.sha256() == original.sha256()
        assert replayed.choices == original.choices


@pytest.mark.parametrize(("spec", "depth"), [("pct", 3), (" PCT:depth=2", 2)])
def test_explore_calibrates_pct_steps_and_keeps_the_depth(
    example: Callable[[str], Scenario], spec: str, depth: int
) -> None:
    sc = example("lost_update.py:scenario")
    decisions = len(run_schedule(sc, seed=0, strategy="fifo").choices)
    exploration = explore(sc, seeds=1, strategy=spec, out=None)
    assert exploration.strategy == f"pct:depth={depth},steps={max(decisions, 1)}"


def test_explore_keeps_explicit_pct_steps_and_refuses_a_bad_spec(
    example: Callable[[str], Scenario],
) -> None:
    sc = example("lost_update.py:scenario")
    assert explore(sc, seeds=1, strategy="pct:steps=7", out=None).strategy == "pct:steps=7"
    with pytest.raises(InvalidStrategy):
        explore(sc, seeds=1, strategy="pct:depth=x", out=None)


def test_the_portfolio_rotates_random_pct_depths_and_a_fair_variant() -> None:
    from lightflow_actors.testing import PORTFOLIO

    specs = [make_strategy("portfolio:steps=40", seed).spec for seed in range(10)]
    assert specs[:5] == [
        "random",
        "pct:depth=2,steps=40",
        "pct:depth=3,steps=40",
        "fairpct:depth=3,steps=40",
        "pct:depth=5,steps=40",
    ]
    assert specs[5:] == specs[:5] and len(PORTFOLIO) == 5


def test_fair_pct_is_pct_then_uniform() -> None:
    from lightflow_actors.testing import FairPCTStrategy, PCTStrategy

    ops = [("actor", 1), ("actor", 2), ("actor", 3)]
    fair, pct = FairPCTStrategy(7, depth=1, steps=20), PCTStrategy(7, depth=1, steps=20)
    first = [fair.choose(ops, i) for i in range(20)]
    assert first == [pct.choose(ops, i) for i in range(20)]
    assert len(set(first)) == 1  # depth 1: one priority order, the same pick every time
    after = [fair.choose(ops, i) for i in range(20, 200)]
    assert set(after) == {0, 1, 2}  # the fair suffix runs every operation


def test_explore_defaults_to_the_portfolio_and_names_each_runs_strategy(
    example: Callable[[str], Scenario],
) -> None:
    exploration = explore(example("lost_update.py:fixed_scenario"), seeds=10, out=None)
    assert exploration.ok and exploration.strategy.startswith("portfolio:steps=")
    lost = explore(example("lost_update.py:scenario"), seeds=200, start_seed=1, out=None)
    failure = lost.failure
    assert failure is not None
    assert failure.strategy == make_strategy(lost.strategy, failure.seed).spec
    assert "portfolio" not in failure.replay_command
