"""The run store: contract paths, hostile run ids, atomic creation, crash safety of the
manifest writer and the JSONL journals."""

from __future__ import annotations

import os
import random
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    FlowService,
    InvalidRunId,
    RequestCommitted,
    RunExists,
    RunManifest,
    RunNotFound,
    RunStore,
    StepSubmitted,
    _files,
    check_run_id,
    default_state_dir,
    submit_step,
)

HOSTILE = ["", ".", "..", "a/b", "/etc", "../../x", "x\x00y", "nl\nx", "x" * 10_000, "é" * 101]


def make(service: FlowService, run_id: str = "r1") -> None:
    service.create("text-plan", b'{"topic": "tea"}', run_id=run_id)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("run_id", HOSTILE)
def test_hostile_run_ids_are_rejected_with_nothing_written(
    service: FlowService, store: RunStore, run_id: str
) -> None:
    with pytest.raises(InvalidRunId) as err:
        service.create("text-plan", b'{"topic": "tea"}', run_id=run_id)
    assert err.value.reason == "invalid"
    assert not store.root.exists()  # not even the runs folder
    for call in (service.get, service.status, service.events, service.cancel):
        with pytest.raises(InvalidRunId):
            call(run_id)
    assert not store.root.exists()


def reference_valid(run_id: str) -> bool:
    try:
        size = len(run_id.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (
        run_id not in ("", ".", "..")
        and "/" not in run_id
        and not any(ord(c) < 32 or ord(c) == 127 for c in run_id)
        and size <= 200
    )


@given(run_id=st.text(max_size=250) | st.sampled_from(HOSTILE))
def test_run_id_rule_property(run_id: str) -> None:
    store = RunStore(Path("/nonexistent-root"))
    if reference_valid(run_id):
        assert check_run_id(run_id) == run_id
        assert store.run_dir(run_id).parent == store.runs
        assert store.run_dir(run_id).name == run_id
    else:
        with pytest.raises(InvalidRunId):
            check_run_id(run_id)


def test_create_writes_the_contract_files(service: FlowService, store: RunStore) -> None:
    make(service)
    run = store.runs / "r1"
    names = sorted(p.name for p in run.iterdir())
    assert names == [
        "events.jsonl",
        "manifest.json",
        "outputs",
        "request.json",
        "resolved_workflow.json",
        "trace.jsonl",
    ]
    assert (run / "outputs").is_dir() and (run / "trace.jsonl").read_bytes() == b""
    event = msgspec.json.decode((run / "events.jsonl").read_bytes().strip())
    assert event["event"] == "run.created" and event["seq"] == 1
    request = msgspec.json.decode((run / "request.json").read_bytes())
    assert request["inputs"] == {"topic": "tea", "steps": 5, "tone": "plain"}
    assert not list((store.root / "staging").iterdir())  # staging cleaned


def test_existing_id_is_a_conflict_and_changes_nothing(
    service: FlowService, store: RunStore
) -> None:
    make(service)
    before = {p: p.read_bytes() for p in files_under(store.runs) if p.is_file()}
    with pytest.raises(RunExists) as err:
        make(service)
    assert err.value.reason == "conflict"
    assert {p: p.read_bytes() for p in files_under(store.runs) if p.is_file()} == before


def test_concurrent_creators_of_one_id_race_to_one_winner(
    service: FlowService, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate the other creator winning between our existence check and our rename.
    real_rename = os.rename

    def rename(src: str | Path, dst: str | Path) -> None:
        Path(dst).mkdir()
        (Path(dst) / "manifest.json").write_text("{}")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(RunExists):
        make(service)
    assert not list((store.root / "staging").iterdir())


def test_xdg_state_home_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "lightflow"
    assert RunStore().runs == tmp_path / "xdg" / "lightflow" / "runs"


def test_state_dir_reads_the_given_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "process"))
    given = {"XDG_STATE_HOME": str(tmp_path / "given")}
    assert default_state_dir(given) == tmp_path / "given" / "lightflow"
    # Absent, or relative (invalid per the XDG spec): the process environment decides.
    assert default_state_dir({}) == tmp_path / "process" / "lightflow"
    assert default_state_dir({"XDG_STATE_HOME": "rel"}) == tmp_path / "process" / "lightflow"


def test_manifest_writer_crash_before_rename_leaves_old_manifest_whole(
    service: FlowService, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(service)
    path = store.runs / "r1" / "manifest.json"
    old = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("simulated crash between temp write and rename")

    monkeypatch.setattr(_files.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.update(
            "r1",
            lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=5),
        )
    assert path.read_bytes() == old
    assert msgspec.json.decode(old, type=RunManifest) == store.manifest("r1")
    # The failed write cleaned up after itself: no temp is left, under either name.
    leftovers = {p.name for p in (store.runs / "r1").iterdir()}
    assert not leftovers & {"manifest.json.tmp", ".manifest.json.tmp"}, leftovers
    monkeypatch.undo()
    m, _ = store.update(
        "r1", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=5)
    )
    assert m.step("plan").status == "submitted" and store.manifest("r1") == m


def test_crash_between_manifest_and_event_is_repaired(
    service: FlowService, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(service)
    from lightflow_actors.flow import _store

    def crash(path: Path, line: bytes) -> None:
        raise OSError("simulated crash before the event append")

    monkeypatch.setattr(_store, "append_line", crash)
    with pytest.raises(OSError):
        store.update(
            "r1", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=5)
        )
    monkeypatch.undo()
    assert [e.seq for e in store.events("r1")] == [1]
    manifest = store.recover("r1")
    events = store.events("r1")
    assert [e.seq for e in events] == [1, 2] and manifest.sequence == 2
    assert isinstance(events[-1], StepSubmitted)
    assert store.recover("r1") == manifest and len(store.events("r1")) == 2  # idempotent


def test_torn_last_line_is_ignored_then_cut_before_the_next_append(
    service: FlowService, store: RunStore
) -> None:
    make(service)
    events = store.runs / "r1" / "events.jsonl"
    with events.open("ab") as f:
        f.write(b'{"event":"step.submi')  # a writer died mid-line
    assert [e.seq for e in store.events("r1")] == [1]
    store.update("r1", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=5))
    lines = events.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(line.startswith(b'{"event"') for line in lines[:-1])
    assert [e.seq for e in store.events("r1")] == [1, 2]


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(torn=st.binary(max_size=200).filter(lambda b: b"\n" not in b), lines=st.integers(0, 5))
def test_journal_append_property(tmp_path: Path, torn: bytes, lines: int) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(b'{"n":%d}\n' % i for i in range(lines)) + torn)
    assert len(_files.read_lines(path)) == lines
    _files.append_line(path, b'{"n":"new"}')
    assert _files.read_lines(path)[-1] == b'{"n":"new"}'
    assert len(_files.read_lines(path)) == lines + 1
    assert _files.last_line(path) == b'{"n":"new"}'


def test_trace_records_append_and_decode(service: FlowService, store: RunStore) -> None:
    make(service)
    record = RequestCommitted(
        seq=store.next_trace_seq("r1"),
        ts_ms=9,
        step="plan",
        attempt=1,
        request_id="plan-1-x",
        path="/ctx/home/0/api/openai.chat/inbox/plan-1-x.req.json",
        fingerprint="sha256:0",
    )
    store.append_trace("r1", record)
    assert store.trace("r1") == [record] and store.next_trace_seq("r1") == 2
    line = msgspec.json.decode(store.trace_raw("r1")[0])
    assert line["record"] == "cortex.request.committed"


def test_missing_runs_are_not_found(store: RunStore) -> None:
    for read in (store.manifest, store.request, store.resolved, store.events, store.trace):
        with pytest.raises(RunNotFound, match="no run 'ghost'"):
            read("ghost")
    assert store.list_ids() == []


def test_outputs_and_the_cache_index(service: FlowService, store: RunStore) -> None:
    from lightflow_actors.flow import CachedOutput

    make(service)
    rel = store.write_output("r1", "plan", {"text": "hi"})
    assert rel == "outputs/plan.json" and store.output("r1", "plan") == {"text": "hi"}
    fp = "sha256:" + "ab" * 32
    store.remember_output(CachedOutput(fingerprint=fp, run_id="r1", step="plan", output=rel))
    assert store.cached_output(fp) == CachedOutput(fp, "r1", "plan", rel)
    assert store.cached_output("sha256:" + "cd" * 32) is None
    assert store.cached_output("../../etc/passwd") is None
    (store.runs / "r1" / rel).unlink()
    assert store.cached_output(fp) is None  # the source output is gone


def test_list_skips_incomplete_folders(service: FlowService, store: RunStore) -> None:
    make(service, "a")
    (store.runs / "half").mkdir()
    (store.runs / "file").write_text("x")
    assert store.list_ids() == ["a"]


def test_staging_uses_no_global_random(service: FlowService) -> None:
    state = random.getstate()
    make(service)
    assert random.getstate() == state
