"""explore(..., jobs=N): the same results per seed, the first failure in seed order."""

from __future__ import annotations

import subprocess
import sys

from lightflow_actors.testing import explore

from .conftest import EXAMPLES, Example


def test_parallel_exploration_reports_the_first_failing_seed_in_seed_order(
    example: Example,
) -> None:
    sc = example("lost_update.py:scenario")
    for strategy in ("pct", "random"):
        serial = explore(sc, seeds=200, strategy=strategy, start_seed=1, out=None)
        parallel = explore(sc, seeds=200, strategy=strategy, start_seed=1, jobs=2, out=None)
        assert serial.failure is not None and parallel.failure is not None
        assert parallel.failure.seed == serial.failure.seed
        assert parallel.failure.strategy == serial.failure.strategy
        assert parallel.failure.result.sha256() == serial.failure.result.sha256()
        assert parallel.runs >= serial.runs  # a chunk runs to its own failure or end
        assert parallel.report().splitlines()[1] == serial.report().splitlines()[1]


def test_a_passing_parallel_exploration_counts_every_seed(example: Example) -> None:
    sc = example("lost_update.py:fixed_scenario")
    serial = explore(sc, seeds=60, out=None)
    parallel = explore(sc, seeds=60, jobs=2, out=None)
    assert parallel.ok and parallel.runs == 60
    assert parallel.digests == serial.digests  # same schedules, whichever process ran them


def test_parallel_works_for_a_closure_scenario() -> None:
    async def fails_on_purpose(system: object) -> None:
        raise AssertionError("always")

    exploration = explore(fails_on_purpose, seeds=10, start_seed=3, jobs=2, out=None)
    assert exploration.failure is not None and exploration.failure.seed == 3


def test_the_example_runs(example: Example) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "parallel_example", EXAMPLES / "parallel_explore.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    serial, parallel = module.both(seeds=200)
    assert serial.failure.seed == parallel.failure.seed


def test_the_command_line_takes_jobs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightflow_actors.testing",
            "explore",
            f"{EXAMPLES}/lost_update.py:scenario",
            "--seeds",
            "200",
            "--strategy",
            "pct",
            "--start-seed",
            "1",
            "--jobs",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "explore: FAILED at seed" in proc.stdout and "lost update" in proc.stdout
