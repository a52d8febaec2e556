"""The pytest plugin: @pytest.mark.deterministic runs a test under many schedules."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.testing import Crash, FaultPlan

RUNS: list[int] = []


class Add(msgspec.Struct, frozen=True):
    n: int


class Total(Ask[int], frozen=True):
    pass


class Adder(Actor[Add | Total]):
    def __init__(self) -> None:
        self.total = 0

    @handler
    def add(self, msg: Add) -> None:
        self.total += msg.n

    @handler
    def get(self, msg: Total) -> int:
        return self.total


@pytest.mark.deterministic(seeds=25, strategy="pct:depth=2,steps=10")
async def test_marked_test_runs_on_the_simulated_system(sim_system: ActorSystem) -> None:
    RUNS.append(1)
    adder = sim_system.spawn(Adder)
    await asyncio.gather(*(asyncio.sleep(0.1 * i) for i in range(3)))
    for n in range(5):
        adder.tell(Add(n))
    assert await adder.ask(Total()) == 10
    assert sim_system.clock.now() == pytest.approx(0.2)


def test_the_marked_test_ran_once_per_seed() -> None:
    # Runs after the test above (file order): 25 seeds, 25 runs.
    assert len(RUNS) == 25


@pytest.mark.deterministic(seeds=10, faults=FaultPlan((Crash(actor="adder", nth=2),)))
async def test_faults_from_the_marker(sim_system: ActorSystem) -> None:
    adder = sim_system.spawn(Adder, name="adder")
    adder.tell(Add(1))
    adder.tell(Add(2))
    reason = await sim_system.wait_exit(adder)
    assert type(reason).__name__ == "InjectedCrash"


FAILING = """
import asyncio
import pytest
from lightflow_actors import ActorSystem

@pytest.mark.deterministic(seeds=200, strategy="random")
async def test_race(sim_system: ActorSystem) -> None:
    log = []

    async def put(x: str) -> None:
        await asyncio.sleep(0)
        log.append(x)

    await asyncio.gather(put("a"), put("b"))
    assert log == ["a", "b"], log

@pytest.mark.deterministic(seeds=3)
def test_not_async(sim_system) -> None:
    pass

async def test_no_marker(sim_system) -> None:
    pass
"""


def _pytest(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "lightflow_actors.testing.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "-q",
            str(path),
            *args,
        ],
        cwd=path.parent,
        # Only this plugin: autoloading every installed pytest plugin costs seconds.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.stdout + proc.stderr


def test_a_failing_schedule_reports_its_seed_and_replay_line(tmp_path: Path) -> None:
    test_file = tmp_path / "test_race.py"
    test_file.write_text(textwrap.dedent(FAILING))
    out = _pytest(test_file)
    assert "schedule failed at seed" in out, out
    line = next(ln for ln in out.splitlines() if "replay: LIGHTFLOW_SEED=" in ln)
    seed = line.split("LIGHTFLOW_SEED=")[1].split()[0]
    assert "LIGHTFLOW_STRATEGY='random'" in line and "test_race.py::test_race" in line
    assert "needs an async def test" in out
    assert "without @pytest.mark.deterministic" in out

    replayed = _pytest(
        test_file, "-k", "test_race", env={"LIGHTFLOW_SEED": seed, "LIGHTFLOW_STRATEGY": "random"}
    )
    assert f"schedule failed at seed {seed}" in replayed
    assert "after 1 schedule(s)" in replayed
