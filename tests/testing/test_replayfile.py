"""Replay files: written by a failing exploration, read back by replay; a hostile file gets
a clear, typed error."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.testing import (
    Crash,
    FaultPlan,
    InvalidReplayFile,
    ReplayFile,
    ScheduleFailure,
    decode_replay,
    explore,
    read_replay,
    replay,
)
from lightflow_actors.testing._replayfile import MAX_BYTES

from .conftest import EXAMPLES, Example


def _failing_file(example: Example, folder: Path) -> tuple[Path, str]:
    exploration = explore(
        example("lost_update.py:scenario"), seeds=500, out=None, replay_dir=folder
    )
    failure = exploration.failure
    assert failure is not None and failure.replay_file is not None
    return failure.replay_file, failure.result.sha256()


def test_a_failing_exploration_writes_a_file_that_replay_reads_back(
    example: Example, tmp_path: Path
) -> None:
    path, digest = _failing_file(example, tmp_path)
    recorded = read_replay(path)
    assert recorded.format == "lightflow-replay/1"
    assert recorded.scenario is not None and recorded.scenario.endswith("lost_update.py:scenario")
    assert recorded.trace_sha256 == digest and recorded.choices
    assert "lost update" in recorded.error
    lines: list[str] = []
    with pytest.raises(ScheduleFailure, match="lost update"):
        replay(path, out=lines.append)
    assert "the same trace as recorded" in lines[0]
    assert replay(str(path), check=False, out=None).sha256() == digest


def test_the_environment_variable_names_the_folder(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTFLOW_REPLAY_DIR", str(tmp_path / "ci-artifacts"))
    lines: list[str] = []
    exploration = explore(example("lost_update.py:scenario"), seeds=500, out=lines.append)
    assert exploration.failure is not None
    [written] = list((tmp_path / "ci-artifacts").glob("*.replay.json"))
    assert f"replay file: {written}" in lines[0]


def test_the_file_alone_reproduces_in_another_process(example: Example, tmp_path: Path) -> None:
    path, digest = _failing_file(example, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "lightflow_actors.testing", "replay", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert digest in proc.stdout and "the same trace as recorded" in proc.stdout


def test_the_fault_plan_comes_from_the_file(example: Example, tmp_path: Path) -> None:
    sc = example("supervised_crash.py:crash_is_restarted")
    result = replay(sc, seed=2, strategy="random", out=None)
    recorded = ReplayFile(
        scenario=f"{EXAMPLES}/supervised_crash.py:crash_is_restarted",
        name="crash",
        strategy="random",
        seed=2,
        choices=list(result.choices),
        faults=FaultPlan((Crash(actor="worker", nth=2),)),  # not the scenario's own plan
    )
    path = recorded.write(tmp_path / "crash.replay.json")
    again = replay(path, check=False, out=None)
    crashes = [e.detail for e in again.trace if e.kind == "fault"]
    assert crashes == ["crash at message #2"]


def test_a_changed_trace_is_reported(example: Example, tmp_path: Path) -> None:
    path, _ = _failing_file(example, tmp_path)
    data = json.loads(path.read_text())
    data["trace_sha256"] = "0" * 64
    path.write_text(json.dumps(data))
    lines: list[str] = []
    replay(path, check=False, out=lines.append)
    assert "NOT the recorded trace" in lines[0]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[]", "invalid content"),
        (b'{"format": "other/9"}', "$.format"),
        (
            b'{"scenario": null, "name": "x", "strategy": "random", "seed": -1, "choices": []}',
            "$.seed",
        ),
        (
            b'{"scenario": null, "name": "x", "strategy": "r", "seed": 0, "choices": [-1]}',
            "$.choices[0]",
        ),
        (
            b'{"scenario": null, "name": "x", "strategy": "r", "seed": 0, "choices": [], "x": 1}',
            "x",
        ),
        (
            b'{"scenario": null, "name": "x", "strategy": "r", "seed": 0, "choices": [], '
            b'"faults": {"faults": [{"kind": "crash", "actor": "a", "nth": 0}]}}',
            "nth and times",
        ),
        (b'{"scenario": "\xed\xa0\x80", "name": "x"}', "not valid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "invalid content"),
    ],
)
def test_malformed_files_get_a_clear_error(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidReplayFile, match="cannot replay") as info:
        decode_replay(data, "bad.json")
    assert problem in str(info.value)


def test_an_oversized_file_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.replay.json"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)
    with pytest.raises(InvalidReplayFile, match="more than"):
        read_replay(path)
    with pytest.raises(InvalidReplayFile, match="cannot read"):
        read_replay(tmp_path / "missing.json")


def test_a_file_without_a_scenario_needs_one(tmp_path: Path) -> None:
    path = ReplayFile(scenario=None, name="x", strategy="random", seed=0, choices=[]).write(
        tmp_path / "x.replay.json"
    )
    with pytest.raises(InvalidReplayFile, match="names no loadable scenario"):
        replay(path, out=None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "format": st.sampled_from(["lightflow-replay/1", "x"]) | _json,
        "scenario": st.none() | st.text(max_size=30) | _json,
        "name": st.text(max_size=30) | _json,
        "strategy": st.sampled_from(["random", "pct"]) | _json,
        "seed": st.integers(-5, 2**70) | _json,
        "choices": st.lists(st.integers(-3, 2**40), max_size=10) | _json,
        "faults": _json,
        "trace_sha256": st.none() | st.text(max_size=70) | _json,
    },
)


@given(_fields)
def test_fuzzed_files_decode_or_fail_with_the_typed_error(fields: dict[str, object]) -> None:
    data = msgspec.json.encode(fields)
    try:
        recorded = decode_replay(data)
    except InvalidReplayFile as exc:
        assert "cannot replay <replay file>" in str(exc)
    else:
        assert recorded.seed >= 0 and all(c >= 0 for c in recorded.choices)


@given(st.binary(max_size=512))
def test_random_bytes_decode_or_fail_with_the_typed_error(data: bytes) -> None:
    with contextlib.suppress(InvalidReplayFile):
        decode_replay(data)
