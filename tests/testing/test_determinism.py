"""Same seed, same trace (byte for byte, across processes); different seeds, other schedules."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.testing import (
    WALL_ANCHOR_MS,
    Scenario,
    Trace,
    TraceEvent,
    explore,
    run_schedule,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "ref",
    [
        "lost_update.py:scenario",
        "lost_update.py:fixed_scenario",
        "supervised_crash.py:crash_is_restarted",
    ],
)
@pytest.mark.parametrize("strategy", ["random", "pct:depth=3,steps=20"])
def test_same_seed_gives_a_byte_identical_trace(
    example: Callable[[str], Scenario], ref: str, strategy: str
) -> None:
    sc = example(ref)
    for seed in (0, 7, 123):
        first = run_schedule(sc, seed=seed, strategy=strategy, quiet=True)
        second = run_schedule(sc, seed=seed, strategy=strategy, quiet=True)
        assert first.trace.to_jsonl() == second.trace.to_jsonl()
        assert first.sha256() == second.sha256()
        assert first.choices == second.choices
        assert first.describe_error() == second.describe_error()


def test_different_seeds_give_different_interleavings(example: Callable[[str], Scenario]) -> None:
    exploration = explore(example("lost_update.py:fixed_scenario"), seeds=40, out=None)
    assert exploration.ok
    assert exploration.distinct >= 20, exploration.report()
    orders = set()
    for seed in range(10):
        result = run_schedule(example("lost_update.py:fixed_scenario"), seed=seed)
        orders.add(tuple(e.actor for e in result.trace if e.kind == "handle"))
    assert len(orders) >= 5


def test_a_replay_in_another_process_gives_the_same_trace(
    example: Callable[[str], Scenario],
) -> None:
    ref = "examples/deterministic/supervised_crash.py:crash_is_restarted"
    here = run_schedule(example("supervised_crash.py:crash_is_restarted"), seed=11, quiet=True)
    code = (
        "from lightflow_actors.testing import replay; "
        f"print(replay({ref!r}, seed=11, strategy='random', out=None).sha256())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "977"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here.sha256()


def test_wall_clock_timestamps_replay_identically() -> None:
    stamps: list[list[int]] = []

    async def body(system: ActorSystem) -> None:
        import asyncio

        await asyncio.sleep(1.25)
        stamps.append([system.clock.wall_ms(), *(e.at_ms for e in system.events())])

    run_schedule(body, seed=3)
    run_schedule(body, seed=3)
    assert stamps[0] == stamps[1]
    assert stamps[0][0] == WALL_ANCHOR_MS + 1250


def test_trace_round_trips_through_jsonl(example: Callable[[str], Scenario]) -> None:
    trace = run_schedule(example("lost_update.py:scenario"), seed=3).trace
    data = trace.to_jsonl()
    again = Trace.from_jsonl(data)
    assert again.events == trace.events
    assert again.to_jsonl() == data
    assert data.endswith(b"\n") and data.count(b"\n") == len(trace)


def test_a_run_keeps_its_trace_flat_and_reads_it_in_order(
    example: Callable[[str], Scenario],
) -> None:
    """A run records no container per event (issue 17: kept tuples made the garbage
    collector run every few hundred messages); reading is incremental and in order."""
    trace = run_schedule(example("lost_update.py:scenario"), seed=3).trace
    assert len(trace) > 10
    assert not any(isinstance(item, (tuple, list, dict)) for item in trace.raw)
    first = list(trace.events)
    trace.record(10**6, 99.0, "timer", "late", message="m", detail="d")
    assert trace.events[: len(first)] == first and len(trace) == len(first) + 1
    assert trace.events[-1] == TraceEvent(
        step=10**6, t=99.0, kind="timer", actor="late", message="m", detail="d"
    )
    copy = Trace(trace.events)
    assert copy.to_jsonl() == trace.to_jsonl() and len(copy) == len(trace)


@given(st.binary(max_size=2048))
def test_trace_decoder_rejects_garbage_with_a_typed_error(data: bytes) -> None:
    # Either it decodes, or it fails with msgspec's typed error (ValidationError included).
    with contextlib.suppress(msgspec.DecodeError):
        Trace.from_jsonl(data)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["step", "t", "kind", "actor", "peer", "message", "x" * 300]),
            st.one_of(st.integers(), st.floats(), st.text(max_size=50), st.none()),
        ),
        max_size=5,
    )
)
def test_trace_decoder_names_the_bad_field(rows: list[dict[str, object]]) -> None:
    data = b"\n".join(msgspec.json.encode(r) for r in rows)
    try:
        events = Trace.from_jsonl(data).events
    except msgspec.ValidationError as exc:
        assert "$" in str(exc) or "Object missing required field" in str(exc)
    else:
        assert all(isinstance(e, TraceEvent) for e in events)
