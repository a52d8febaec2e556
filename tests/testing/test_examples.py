"""The runnable scenarios in examples/deterministic meet the issue's acceptance bar."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lightflow_actors.testing import (
    InjectedCrash,
    Scenario,
    ScheduleFailure,
    Trace,
    explore,
    load_scenario,
    replay,
)

REPO = Path(__file__).resolve().parents[2]

Example = Callable[[str], Scenario]


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_explore_finds_the_lost_update_and_replay_reproduces_it(
    example: Example, strategy: str
) -> None:
    sc = example("lost_update.py:scenario")
    exploration = explore(sc, seeds=1000, strategy=strategy, out=None)
    failure = exploration.failure
    assert failure is not None, "the race must be found within 1000 seeds"
    assert "lost update" in str(failure.error)
    assert "replay(" in failure.replay_command and f"seed={failure.seed}" in failure.replay_command
    assert "lost_update.py:scenario" in failure.replay_command
    report = exploration.report()
    assert f"seed {failure.seed}" in report and failure.strategy in report

    again = replay(sc, seed=failure.seed, strategy=failure.strategy, check=False, out=None)
    assert again.sha256() == failure.result.sha256()
    assert again.describe_error() == failure.result.describe_error()
    with pytest.raises(ScheduleFailure, match="lost update") as info:
        replay(sc, seed=failure.seed, strategy=failure.strategy, out=None)
    assert isinstance(info.value.__cause__, AssertionError)


def test_the_lost_update_hides_from_fifo_order(example: Example) -> None:
    """Ordinary (FIFO) order passes: only exploring other schedules shows the bug."""
    assert explore(example("lost_update.py:scenario"), seeds=1, strategy="fifo", out=None).ok


def test_the_atomic_deposit_holds_under_every_explored_schedule(example: Example) -> None:
    sc = example("lost_update.py:fixed_scenario")
    for strategy in ("random", "pct"):
        exploration = explore(sc, seeds=300, strategy=strategy, out=None)
        exploration.raise_if_failed()


def test_an_injected_crash_is_restarted_under_every_explored_seed(example: Example) -> None:
    sc = example("supervised_crash.py:crash_is_restarted")
    for strategy, seeds in (("random", 300), ("pct", 200)):
        exploration = explore(sc, seeds=seeds, strategy=strategy, out=None)
        exploration.raise_if_failed()
        assert exploration.distinct > seeds // 3


def test_the_injected_crash_and_the_restart_are_in_the_trace(example: Example) -> None:
    result = replay(
        example("supervised_crash.py:crash_is_restarted"), seed=5, strategy="random", out=None
    )
    trace = result.trace
    crash = [e for e in trace if e.kind == "fault"]
    assert [e.detail for e in crash] == ["crash at message #3"]
    worker_exits = [e for e in trace if e.kind == "exit" and e.actor.startswith("Worker")]
    assert worker_exits[0].detail is not None and "InjectedCrash" in worker_exits[0].detail
    spawned = [e.actor for e in trace if e.kind == "spawn" and e.actor.startswith("Worker")]
    assert len(spawned) == 2 and spawned[0] != spawned[1]
    assert all(e.t <= 2.0 for e in crash)
    assert InjectedCrash.__name__ in worker_exits[0].detail


def test_one_virtual_hour_of_timers(example: Example) -> None:
    sc = example("virtual_hour.py:virtual_hour")
    for seed in (0, 1):
        result = replay(sc, seed=seed, strategy="random", out=None)
        assert result.virtual_time == 3600.5
        timers = [e for e in result.trace if e.kind == "timer"]
        assert len(timers) == 3600 + 720 + 60
        assert timers[-1].t == 3600.0
        assert result.trace.events[-1].t == 3600.5


def test_the_printed_replay_line_runs_as_printed(tmp_path: Path) -> None:
    """The report's command line (run from the repository root) reproduces the failure."""
    lines: list[str] = []
    # A relative reference, as a user at the repository root would write it.
    sc = load_scenario(f"{REPO}/examples/deterministic/lost_update.py:scenario")
    sc.ref = "examples/deterministic/lost_update.py:scenario"
    exploration = explore(
        sc,
        seeds=1000,
        out=lines.append,
        trace_dir=tmp_path,
    )
    failure = exploration.failure
    assert failure is not None
    command = next(ln for ln in lines[0].splitlines() if "replay: " in ln).split("replay: ")[1]
    prefix = "uv run --frozen python "
    assert command.startswith(prefix)
    argv = [sys.executable, *shlex.split(command[len(prefix) :])]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ScheduleFailure" in proc.stderr and "lost update" in proc.stderr
    assert failure.result.sha256() in proc.stdout + proc.stderr

    [written] = list(tmp_path.glob("*.jsonl"))
    assert Trace.from_jsonl(written.read_bytes()).sha256() == failure.result.sha256()


def _module(name: str) -> object:
    import importlib.util

    from .conftest import EXAMPLES

    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_replay_file_example_reproduces_from_the_file(tmp_path: Path) -> None:
    path, result = _module("replay_file").find_and_replay(tmp_path)  # type: ignore[attr-defined]
    assert path.exists() and path.name.endswith(".replay.json")
    assert "lost update" in result.describe_error()


def test_the_portfolio_example_names_five_strategies() -> None:
    members = _module("portfolio").members(steps=12)  # type: ignore[attr-defined]
    assert members == [
        "random",
        "pct:depth=2,steps=12",
        "pct:depth=3,steps=12",
        "fairpct:depth=3,steps=12",
        "pct:depth=5,steps=12",
    ]


@pytest.mark.parametrize(
    "name", ["liveness", "determinism_leak", "network_partition", "replay_file", "portfolio"]
)
def test_each_feature_example_runs_as_a_script(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "deterministic" / f"{name}.py")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "explore: " in proc.stdout
