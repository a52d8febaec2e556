"""The determinism self-check: each seed twice, the first divergence and its likely cause."""

from __future__ import annotations

import os
import random
import textwrap
import time
from pathlib import Path

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, handler
from lightflow_actors.testing import NondeterminismDetected, Scenario, explore, run_checked

from .conftest import Example
from .test_plugin import _pytest


def test_a_wall_clock_leak_in_a_handler_is_named_by_the_self_check(example: Example) -> None:
    sc = example("determinism_leak.py:scenario")
    assert explore(sc, seeds=20, out=None).ok, "the invariant alone does not see the leak"
    exploration = explore(sc, seeds=20, check_determinism=True, out=None)
    failure = exploration.failure
    assert failure is not None and failure.seed == 0
    error = failure.error
    assert isinstance(error, NondeterminismDetected)
    text = str(error)
    assert "time.time() at " in text and "examples/deterministic/determinism_leak.py:" in text
    assert "in Stamper.stamp" in text
    if "first differ at event" in text:  # the two runs' stamps usually differ by a millisecond
        assert "run 1: " in text and "run 2: " in text and "Stamped(item=" in text


def test_the_fixed_scenario_passes_the_self_check(example: Example) -> None:
    explore(
        example("determinism_leak.py:fixed_scenario"), seeds=30, check_determinism=True, out=None
    ).raise_if_failed()


def test_the_watch_is_removed_after_the_check() -> None:
    before = time.time, random.random, os.urandom
    run_checked(_global_random, seed=0, strategy="random")
    assert (time.time, random.random, os.urandom) == before


class Roll(msgspec.Struct, frozen=True):
    value: float


class Sink(Actor[Roll]):
    @handler
    def roll(self, msg: Roll) -> None:
        pass


class Dice(Actor[Roll]):
    def __init__(self, sink: ActorRef[Roll]) -> None:
        self.sink = sink

    @handler
    def roll(self, msg: Roll) -> None:
        self.sink.tell(Roll(random.random()))  # the global RNG, not system.random


async def _global_random(system: ActorSystem) -> None:
    sink = system.spawn(Sink, name="sink")
    dice = system.spawn(lambda: Dice(sink), name="dice")
    dice.tell(Roll(0.0))


def test_the_global_random_module_is_named() -> None:
    result = run_checked(_global_random, seed=0, strategy="random")
    assert isinstance(result.error, NondeterminismDetected)
    text = str(result.error)
    assert "first differ at event" in text
    assert "random.random() at " in text and "tests/testing/test_selfcheck.py:" in text
    assert "Dice.roll" in text


class Item(msgspec.Struct, frozen=True):
    n: int


class Node(Actor[Item]):
    @handler
    def item(self, msg: Item) -> None:
        pass


_RUNS = [0]


async def _state_between_runs(system: ActorSystem) -> None:
    _RUNS[0] += 1  # module state: the second run differs, and no watched source says why
    system.spawn(Node, name="node").tell(Item(_RUNS[0]))


def test_a_divergence_with_no_named_source_points_at_hidden_state() -> None:
    result = run_checked(Scenario(_state_between_runs), seed=0, strategy="fifo")
    assert isinstance(result.error, NondeterminismDetected)
    text = str(result.error)
    assert "first differ at event" in text and "Item(n=" in text
    assert "no wall clock, global random or real I/O call was seen" in text
    assert "set or dict of objects hashed by identity" in text and "module-level" in text


SELF_CHECK = """
import time
import msgspec
import pytest
from lightflow_actors import Actor, ActorSystem, handler

class Tick(msgspec.Struct, frozen=True):
    at: float

class Clocky(Actor[Tick]):
    @handler
    def tick(self, msg: Tick) -> None:
        self.last = time.time()

@pytest.mark.deterministic(seeds=3)
async def test_clock(sim_system: ActorSystem) -> None:
    sim_system.spawn(Clocky, name="clocky").tell(Tick(0.0))
"""


def test_the_plugin_flag_runs_the_self_check(tmp_path: Path) -> None:
    test_file = tmp_path / "test_clock.py"
    test_file.write_text(textwrap.dedent(SELF_CHECK))
    assert "1 passed" in _pytest(test_file)
    out = _pytest(test_file, "--lightflow-check-determinism")
    assert "NondeterminismDetected" in out and "test_clock.py:" in out, out
    assert "time.time() at " in out
    assert "Clocky.tick" in out
    out = _pytest(test_file, env={"LIGHTFLOW_CHECK_DETERMINISM": "1"})
    assert "NondeterminismDetected" in out
