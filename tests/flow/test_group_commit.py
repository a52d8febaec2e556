"""Group commit (ADR 0066): one journal fsync per group of batches, files written only
after it, replay after a crash at any point, and fsyncs counted (not timed)."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AppendTrace,
    CachedOutput,
    FlowService,
    PutOutput,
    RequestCommitted,
    RunCancelled,
    RunExists,
    RunManifest,
    RunStore,
    StepSubmitted,
    StepSucceeded,
    UpdateManifest,
    _journal,
    _store,
    cancel_run,
    submit_step,
    succeed_step,
)
from lightflow_actors.flow._journal import NewRun, PutFile, PutManifest, WriteLine, frames
from lightflow_actors.flow._run_actor import RunActor
from lightflow_actors.kernel import ActorSystem

from ._evaluator import SHARED
from ._fakes import Clock, FakeCortex, ok
from .test_run_actor import CATALOG, simulate


class FsyncCounter:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        for name in ("fsync", "fdatasync"):  # the journal's commits are fdatasyncs
            monkeypatch.setattr(os, name, self._counted(getattr(os, name)))

    def _counted(self, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            with self._lock:
                self.count += 1
            real(fd)

        return sync


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> FsyncCounter:
    return FsyncCounter(monkeypatch)


def create(root: Path, run_id: str, workflow: str = "article") -> None:
    service = FlowService(CATALOG, RunStore(root), Clock(), random.Random(1), SHARED)
    service.create(workflow, b'{"topic": "tea"}', run_id=run_id)


def step_ops(manifest: RunManifest, step: str, n: int) -> Iterator[list[object]]:
    """The three commits the run actor makes for one step (submit; trace; succeed)."""
    yield [UpdateManifest(lambda m: submit_step(m, step, **_submit(n)))]
    yield [AppendTrace(RequestCommitted(n, 1, step, 1, f"q{n}", "p", "f"))]
    yield [
        PutOutput(step, {"text": step}),
        UpdateManifest(lambda m: succeed_step(m, step, output=f"outputs/{step}.json", now_ms=2)),
    ]


def _submit(n: int) -> dict[str, object]:
    return {"fingerprint": "f", "request_id": f"q{n}", "now_ms": 1}


def drive(store: RunStore, run_id: str) -> int:
    """Run every step of `run_id` through the store as the actor would; returns steps."""
    steps = [s.id for s in store.manifest(run_id).steps]
    for n, step in enumerate(steps):
        for ops in step_ops(store.manifest(run_id), step, n):
            result = store.commit(run_id, ops)  # type: ignore[arg-type]
            assert result.refused is None
    return len(steps)


def test_group_commit_writes_the_same_files_as_direct_writes(tmp_path: Path) -> None:
    create(tmp_path / "direct", "r")
    create(tmp_path / "group", "r")
    direct = RunStore(tmp_path / "direct")
    group = RunStore(tmp_path / "group", group_commit=True)
    assert group.group_commit and not direct.group_commit
    drive(direct, "r")
    drive(group, "r")
    for name in ("manifest.json", "events.jsonl", "trace.jsonl"):
        assert (direct.run_dir("r") / name).read_bytes() == (group.run_dir("r") / name).read_bytes()
    assert group.manifest("r").status == "succeeded"
    group.close()
    assert not list((tmp_path / "group" / "wal").glob("*.wal"))  # checkpointed and removed


def test_single_run_path_fsyncs_at_most_three_times_per_step(
    tmp_path: Path, fsyncs: FsyncCounter
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    before = fsyncs.count
    steps = drive(store, "r")
    running = fsyncs.count - before
    # One per commit (three per step) and two for the journal file's creation (its
    # preallocated first megabyte and its folder).
    assert steps >= 3 and running <= 3 * steps + 2, (running, steps)
    # The checkpoint (here at close; in a server once per `checkpoint_bytes` of journal)
    # fsyncs each file written since the last one once, whatever the number of writes.
    before = fsyncs.count
    store.close()
    files = len(list(store.run_dir("r").rglob("*")))
    assert fsyncs.count - before <= files + 2


def test_the_run_actor_fsyncs_at_most_three_times_per_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    counter = FsyncCounter(monkeypatch)

    async def body(system: ActorSystem) -> None:
        cortex = system.spawn(lambda: FakeCortex(ok))  # the fake commits without fsync
        run = await system.start_actor(lambda: RunActor(store, "r", cortex))
        await system.wait_exit(run)

    simulate(body)
    running = counter.count
    store.close()
    manifest = RunStore(tmp_path).manifest("r")
    assert manifest.status == "succeeded"
    steps = len(manifest.steps)
    # Each step: submitted; its trace record; output + succeeded + trace + cache index.
    # (Plus the journal file's creation, two; the checkpoint at close is not counted.)
    assert running <= 3 * steps + 2, (running, steps)


def test_one_fsync_per_group_of_many_runs(tmp_path: Path, fsyncs: FsyncCounter) -> None:
    runs = [f"r{n}" for n in range(20)]
    for run_id in runs:
        create(tmp_path, run_id)
    store = RunStore(tmp_path, group_commit=True)
    group = store._group
    assert group is not None
    rounds = 6
    start, done = threading.Barrier(len(runs) + 1), threading.Barrier(len(runs) + 1)
    errors: list[BaseException] = []

    def writer(run_id: str) -> None:
        try:
            for n in range(rounds):
                start.wait()
                op: UpdateManifest | AppendTrace
                if n % 2 == 0:
                    op = UpdateManifest(lambda m, n=n: _resubmit(m, "plan", n))
                else:
                    op = AppendTrace(RequestCommitted(n, 1, "plan", 1, f"q{n}", "p", "f"))
                assert store.commit(run_id, [op]).refused is None
                done.wait()
        except BaseException as exc:
            errors.append(exc)
            start.abort()
            done.abort()

    threads = [threading.Thread(target=writer, args=(r,)) for r in runs]
    for thread in threads:
        thread.start()
    before = fsyncs.count
    for _ in range(rounds):
        # Lead (commit nothing) while every writer queues: the next leader takes them all.
        with group._exclusive():
            start.wait()
            while len(group._queue) < len(runs):
                threading.Event().wait(0.001)
        done.wait()
    for thread in threads:
        thread.join(30)
    assert errors == []
    committed = fsyncs.count - before
    # One per group, plus the journal file's creation (its first megabyte and folder).
    assert committed == rounds + 2
    assert committed / (rounds * len(runs)) < 1
    for run_id in runs:
        events = store.events(run_id)
        assert [e.seq for e in events] == list(range(1, 2 + rounds // 2))
        assert len(store.trace(run_id)) == rounds // 2
    store.close()


def _resubmit(m: RunManifest, step: str, n: int) -> tuple[RunManifest, StepSubmitted]:
    planned = tuple(msgspec.structs.replace(s, status="planned") for s in m.steps)
    reset = msgspec.structs.replace(m, steps=planned)
    return submit_step(reset, step, fingerprint="f", request_id=f"q{n}", now_ms=n)


def test_a_refused_transition_stops_the_batch_and_keeps_what_came_before(
    tmp_path: Path,
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    result = store.commit(
        "r",
        [
            PutOutput("plan", {"text": "x"}),
            UpdateManifest(lambda m: succeed_step(m, "plan", output="outputs/plan.json", now_ms=1)),
            PutOutput("draft", {"text": "never"}),
        ],
    )
    assert result.refused is not None and result.refused_at == 1
    assert (store.run_dir("r") / "outputs" / "plan.json").is_file()
    assert not (store.run_dir("r") / "outputs" / "draft.json").exists()
    assert store.manifest("r").sequence == 1
    store.close()


class Killed(BaseException):
    """The process dies here (nothing after it runs, no lock is released cleanly)."""


def die(store: RunStore) -> None:
    """What the kernel does when the process is killed: every fd closes, flocks go."""
    group = store._group
    assert group is not None
    group.abandon()
    store._group = None


def _killed_applying(self: object, ops: object, **options: object) -> None:
    """`WriteAheadLog.apply` of a process killed after its frame is durable."""
    raise Killed


def test_killed_after_the_journal_fsync_before_the_files_then_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q1", now_ms=1))

    monkeypatch.setattr(_journal.WriteAheadLog, "apply", _killed_applying)
    with pytest.raises(Killed):
        store.commit(
            "r",
            [
                PutOutput("plan", {"text": "x"}),
                UpdateManifest(
                    lambda m: succeed_step(m, "plan", output="outputs/plan.json", now_ms=2)
                ),
            ],
        )
    monkeypatch.undo()
    die(store)
    # The run files do not show it yet; opening the state folder replays the journal.
    again = RunStore(tmp_path)
    manifest = again.manifest("r")
    assert manifest.step("plan").status == "succeeded" and manifest.sequence == 3
    assert [e.seq for e in again.events("r")] == [1, 2, 3]
    assert isinstance(again.events("r")[-1], StepSucceeded)
    assert again.output("r", "plan") == {"text": "x"}
    assert not list((tmp_path / "wal").glob("*.wal"))


def test_power_loss_torn_files_are_rebuilt_from_the_journal(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    drive(store, "r")
    run = store.run_dir("r")
    whole = {n: (run / n).read_bytes() for n in ("manifest.json", "events.jsonl", "trace.jsonl")}
    die(store)
    # What a power loss may leave of files written but never fsynced: an empty manifest,
    # a journal whose last lines are zeros, a trace cut mid-line.
    (run / "manifest.json").write_bytes(b"")
    events = whole["events.jsonl"]
    cut = events.index(b"\n") + 1
    (run / "events.jsonl").write_bytes(events[:cut] + b"\0" * (len(events) - cut))
    (run / "trace.jsonl").write_bytes(whole["trace.jsonl"][:7])
    (run / "outputs" / "plan.json").unlink()
    again = RunStore(tmp_path)
    for name, data in whole.items():
        assert (run / name).read_bytes() == data, name
    assert again.output("r", "plan") == {"text": "plan"}


def test_replay_never_undoes_what_a_direct_writer_did_after(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q1", now_ms=1))
    die(store)
    # The CLI cancels the run meanwhile (direct, durable) ...
    RunStore(tmp_path).update("r", lambda m: _cancel(m))
    run = tmp_path / "runs" / "r"
    after = {n: (run / n).read_bytes() for n in ("manifest.json", "events.jsonl")}
    # ... and a later replay of the same journal (never deleted here) changes nothing.
    replayed = _journal.replay_orphans(tmp_path)
    assert replayed == 0
    assert {n: (run / n).read_bytes() for n in after} == after


def _cancel(m: RunManifest) -> tuple[RunManifest, RunCancelled]:
    return cancel_run(m, reason="stop", now_ms=5)


def test_a_live_journal_is_left_alone(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q1", now_ms=1))
    second = RunStore(tmp_path, group_commit=True)  # falls back: one group committer
    assert not second.group_commit
    assert len(list((tmp_path / "wal").glob("*.wal"))) == 1
    store.close()
    assert RunStore(tmp_path, group_commit=True).group_commit


def test_the_output_cache_index_goes_through_the_journal(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.write_output("r", "plan", {"text": "x"})
    fingerprint = "sha256:" + "a" * 64
    store.remember_output(CachedOutput(fingerprint, "r", "plan", "outputs/plan.json"))
    assert store.cached_output(fingerprint) is not None
    store.close()


# -- the journal file as input: torn, corrupt, hostile ---------------------------------------


def frame(ops: list[object]) -> bytes:
    payload = msgspec.msgpack.encode(ops)

    return _journal._HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _nested(depth: int) -> object:
    value: object = []
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_frames_of_arbitrary_bytes_never_raise(data: bytes) -> None:
    for ops in frames(data):
        assert isinstance(ops, list)


@settings(max_examples=100)
@given(cut=st.integers(0, 200), junk=st.binary(max_size=64))
def test_a_torn_frame_and_everything_after_it_is_ignored(cut: int, junk: bytes) -> None:
    good = frame([PutFile("runs/r/outputs/a.json", b"{}")])
    torn = frame([WriteLine("runs/r/events.jsonl", 0, b"x" * 150 + b"\n")])
    data = good + torn[: min(cut, len(torn) - 1)] + junk
    decoded = list(frames(data))
    assert decoded[0] == [PutFile("runs/r/outputs/a.json", b"{}")]
    assert len(decoded) <= 2  # junk may, by chance, not even parse


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe\xfd",  # not msgpack
        msgspec.msgpack.encode([["x", "a", b""]]),  # unknown op tag
        msgspec.msgpack.encode([["m", "a", "not an int", b""]]),  # wrong field type
        msgspec.msgpack.encode(_nested(200)),  # deeply nested
        b"\xa3\xff\xfe\xfd",  # a string that is not UTF-8
    ],
)
def test_malformed_frames_end_the_journal(payload: bytes) -> None:
    data = _journal._HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    assert list(frames(data)) == []


def test_an_oversized_length_is_not_read(tmp_path: Path) -> None:
    data = _journal._HEADER.pack(_journal.MAX_FRAME_BYTES + 1, 0) + b"x" * 16
    assert list(frames(data)) == []


@settings(max_examples=50)
@given(
    paths=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=4),
    padding=st.integers(0, 4096),
    junk=st.binary(max_size=32),
)
def test_a_preallocated_segment_ends_at_its_zeros(
    paths: list[str], padding: int, junk: bytes
) -> None:
    """Frames, then the zeros a segment is preallocated with: the frames, nothing after;
    what follows the zeros (an old write wiped, or anything) is never read."""
    written = [[PutFile(path, path.encode("utf-8", "surrogatepass"))] for path in paths]
    data = b"".join(frame(ops) for ops in written) + bytes(padding + 8) + junk
    assert list(frames(data)) == written


def test_a_failed_commit_is_wiped_and_the_next_one_takes_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = _journal.WriteAheadLog(tmp_path, 1 << 20)
    wal.commit([PutFile("runs/r/outputs/a.json", b"1")])

    def failed_sync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failed_sync)
    with pytest.raises(OSError, match="Input/output"):
        wal.commit([PutFile("runs/r/outputs/b.json", b"2" * 100)])
    monkeypatch.undo()
    wal.commit([PutFile("runs/r/outputs/c.json", b"3")])
    decoded = list(frames(wal.path.read_bytes()))
    assert decoded == [
        [PutFile("runs/r/outputs/a.json", b"1")],
        [PutFile("runs/r/outputs/c.json", b"3")],
    ]
    wal.close()
    assert not list((tmp_path / "wal").glob("*.wal"))


def test_segments_of_a_dead_process_are_replayed_in_their_order(tmp_path: Path) -> None:
    """Two segments both writing one run's manifest: the later segment's wins, whatever
    order the directory lists them in."""
    create(tmp_path, "r")
    manifest = RunStore(tmp_path).manifest("r")
    newer = [msgspec.structs.replace(manifest, sequence=n) for n in (5, 9)]
    (tmp_path / "wal").mkdir()
    for index, m in enumerate(newer):
        op = PutManifest("runs/r/manifest.json", m.sequence, msgspec.json.encode(m))
        name = f"1-x-{index:06d}.wal"
        (tmp_path / "wal" / name).write_bytes(frame([op]) + bytes(64))
    assert _journal.replay_orphans(tmp_path) == 2
    on_disk = msgspec.json.decode((tmp_path / "runs" / "r" / "manifest.json").read_bytes())
    assert on_disk["sequence"] == 9
    assert not list((tmp_path / "wal").glob("*.wal"))


@pytest.mark.parametrize("path", ["../escape.json", "/etc/passwd", "", "runs/../../x"])
def test_a_journal_naming_a_path_outside_the_state_folder_is_skipped(
    tmp_path: Path, path: str
) -> None:
    (tmp_path / "wal").mkdir()
    (tmp_path / "wal" / "1-x.wal").write_bytes(
        frame([PutFile(path, b"owned"), PutManifest("runs/r/manifest.json", 1, b"{}")])
    )
    assert _journal.replay_orphans(tmp_path) == 0
    assert not (tmp_path.parent / "escape.json").exists()
    assert not list((tmp_path / "wal").glob("*.wal"))


def test_a_run_file_write_that_fails_is_written_before_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=1))
    real = _journal.apply_op
    failures = [OSError(28, "No space left on device")]

    def full_disk(target: Path, op: object, *, replaying: bool) -> bool:
        if failures:
            raise failures.pop()
        return real(target, op, replaying=replaying)  # type: ignore[arg-type]

    real_line = _journal.apply_line

    def full_disk_line(fd: int, op: WriteLine) -> None:  # a held run's open journal file
        if failures:
            raise failures.pop()
        real_line(fd, op)

    monkeypatch.setattr(_journal, "apply_op", full_disk)
    monkeypatch.setattr(_journal, "apply_line", full_disk_line)
    with pytest.raises(OSError, match="No space"):
        store.update("r", lambda m: succeed_step(m, "plan", output="outputs/plan.json", now_ms=2))
    # Journaled (durable) but not in the run files; the next use of the run writes it
    # first, so the run is never seen without it.
    manifest = store.recover("r")
    assert manifest.sequence == 3 and manifest.step("plan").status == "succeeded"
    assert [e.seq for e in store.events("r")] == [1, 2, 3]
    assert RunStore(tmp_path).manifest("r") == manifest
    store.close()


def wait_for(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (another thread makes it so), for at most 30 s."""
    for _ in range(30_000):
        if condition():
            return
        threading.Event().wait(0.001)
    raise AssertionError("the condition never held")


def locked_elsewhere(store: RunStore, run_id: str) -> bool:
    """Whether another holder has the run's `flock` (a direct writer would wait)."""
    fd = os.open(store.run_dir(run_id), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_the_manifest_is_written_by_the_flusher_and_the_run_stays_locked_until_then(
    tmp_path: Path,
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    group = store._group
    assert group is not None
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=1))
    held = group._runs.get("r")
    if held is not None:
        with held.write:  # the flusher cannot write it meanwhile
            if group._runs.get("r") is held and held.dirty is not None:
                assert locked_elsewhere(store, "r")  # a direct writer waits ...
                on_disk = RunStore(tmp_path).manifest("r")
                assert on_disk.sequence == 1  # ... for what this store reads from memory:
                assert store.manifest("r").sequence == 2
    # The commit queue was empty after the group: the flusher writes it, releases the run.
    wait_for(lambda: "r" not in group._runs)
    assert RunStore(tmp_path).manifest("r").sequence == 2
    assert not locked_elsewhere(store, "r")
    store.close()


def test_under_load_manifests_are_coalesced_and_a_settled_run_is_written_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [f"r{n}" for n in range(4)]
    for run_id in runs:
        create(tmp_path, run_id)
    store = RunStore(tmp_path, group_commit=True)
    written: list[str] = []
    real = _journal.apply_op

    def counting(target: Path, op: _journal.WalOp, *, replaying: bool) -> bool:
        if isinstance(op, PutManifest):
            written.append(op.path)
        return real(target, op, replaying=replaying)

    monkeypatch.setattr(_journal, "apply_op", counting)
    monkeypatch.setattr(_store, "apply_op", counting)
    errors: list[BaseException] = []
    settled: dict[str, bytes] = {}

    def writer(run_id: str) -> None:
        try:
            for n in range(40):
                store.update(run_id, lambda m, n=n: _resubmit(m, "plan", n))
            store.update(run_id, _cancel)
            # Settled: `manifest.json` holds it by the time the writer hears of it.
            settled[run_id] = (store.run_dir(run_id) / "manifest.json").read_bytes()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(r,)) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for run_id in runs:
        manifest = msgspec.json.decode(settled[run_id], type=RunManifest)
        assert manifest.status == "cancelled" and manifest.sequence == 42
        assert store.events(run_id)[-1].seq == 42
    transitions = len(runs) * 41
    assert len(written) <= transitions  # never more than one write per transition
    store.close()
    assert not list((tmp_path / "wal").glob("*.wal"))


def test_segments_are_checkpointed_off_the_commit_path_and_replayed_in_order(
    tmp_path: Path,
) -> None:
    create(tmp_path, "r")
    create(tmp_path, "s")
    store = RunStore(tmp_path, group_commit=True, checkpoint_bytes=4096)
    group = store._group
    assert group is not None
    for n in range(30):
        store.update("r", lambda m, n=n: _resubmit(m, "plan", n))
    # Many segments were started; the flusher checkpoints (deletes) the old ones.
    assert group._journal().current.index >= 3
    wait_for(lambda: not group._segments)
    assert len(list((tmp_path / "wal").glob("*.wal"))) == 1
    for n in range(30, 40):
        store.update("s", lambda m, n=n: _resubmit(m, "plan", n))
    group._stop_flusher()  # no more checkpoints: old segments stay, then the process dies
    for n in range(40, 60):
        store.update("s", lambda m, n=n: _resubmit(m, "plan", n))
    assert len(list((tmp_path / "wal").glob("*.wal"))) >= 2
    die(store)
    again = RunStore(tmp_path)  # replays every segment, oldest first
    assert again.manifest("r").sequence == 31 and again.manifest("s").sequence == 31
    assert [e.seq for e in again.events("s")] == list(range(1, 32))
    assert not list((tmp_path / "wal").glob("*.wal"))


def test_without_a_thread_the_leader_writes_the_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no thread can be started (the deterministic scheduler) the leader does the
    flusher's work after each group."""
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q", now_ms=1))
    assert RunStore(tmp_path).manifest("r").sequence == 2  # written before the ack
    assert store._group is not None and not store._group._runs
    store.close()


@pytest.mark.parametrize("exists", [True, False])
def test_swap_in_replaces_the_target_and_leaves_no_temp(tmp_path: Path, exists: bool) -> None:
    target, tmp = tmp_path / "manifest.json", tmp_path / ".manifest.json.wal.tmp"
    if exists:
        target.write_bytes(b"old")
    tmp.write_bytes(b"new")
    _journal.swap_in(tmp, target)
    assert target.read_bytes() == b"new" and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_swap_in_of_a_missing_temp_raises(tmp_path: Path) -> None:
    (tmp_path / "t").write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        _journal.swap_in(tmp_path / "missing", tmp_path / "t")
    assert (tmp_path / "t").read_bytes() == b"x"


# -- run creation in the journal (ADR 0110) ------------------------------------------------


def _service(store: RunStore) -> FlowService:
    return FlowService(CATALOG, store, Clock(), random.Random(1), SHARED)


_RUN_FILES = ("request.json", "resolved_workflow.json", "manifest.json", "events.jsonl")


def test_creating_a_run_costs_one_journal_fsync_and_writes_what_a_direct_create_writes(
    tmp_path: Path, fsyncs: FsyncCounter
) -> None:
    direct = _service(RunStore(tmp_path / "direct"))
    store = RunStore(tmp_path / "group", group_commit=True)
    group = _service(store)
    group.create("article", b'{"topic": "tea"}', run_id="warm")  # opens the journal
    before = fsyncs.count
    group.create("article", b'{"topic": "tea"}', run_id="r")
    assert fsyncs.count - before == 1
    before = fsyncs.count
    direct.create("article", b'{"topic": "tea"}', run_id="r")
    assert fsyncs.count - before == 6  # the CLI's path: every file and both folders
    for name in (*_RUN_FILES, "trace.jsonl"):
        mine = (tmp_path / "group" / "runs" / "r" / name).read_bytes()
        assert mine == (tmp_path / "direct" / "runs" / "r" / name).read_bytes(), name
    assert (tmp_path / "group" / "runs" / "r" / "outputs").is_dir()
    assert not list((tmp_path / "group" / "staging").iterdir())
    drive(store, "r")  # and it runs as any run
    assert store.manifest("r").status == "succeeded"


def test_a_taken_id_is_refused_by_the_journaled_create(tmp_path: Path) -> None:
    service = _service(RunStore(tmp_path, group_commit=True))
    service.create("article", b'{"topic": "tea"}', run_id="r")
    with pytest.raises(RunExists):
        service.create("article", b'{"topic": "coffee"}', run_id="r")
    assert service.store.request("r").inputs["topic"] == "tea"


def test_a_create_that_loses_the_race_for_its_id_is_refused_and_replays_nothing_over_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI creates the same id between the leader's check and its rename: the
    server's create is refused, and replaying its journaled op leaves the CLI's run."""
    store = RunStore(tmp_path, group_commit=True)
    real_write, real_sync = _journal.WriteAheadLog.write, _journal.WriteAheadLog.sync
    creations: list[_journal.Frame] = []

    def write(self: _journal.WriteAheadLog, ops: list[_journal.WalOp]) -> _journal.Frame:
        frame = real_write(self, ops)
        if any(isinstance(op, NewRun) for op in ops):
            creations.append(frame)
        return frame

    def sync_then_lose(self: _journal.WriteAheadLog, frame: _journal.Frame) -> None:
        real_sync(self, frame)
        if frame in creations:
            create(tmp_path, "r")  # a direct writer wins the id meanwhile

    monkeypatch.setattr(_journal.WriteAheadLog, "write", write)
    monkeypatch.setattr(_journal.WriteAheadLog, "sync", sync_then_lose)
    with pytest.raises(RunExists):
        _service(store).create("article", b'{"topic": "coffee"}', run_id="r")
    theirs = {n: (tmp_path / "runs" / "r" / n).read_bytes() for n in _RUN_FILES}
    die(store)
    RunStore(tmp_path)  # replays the journal
    assert {n: (tmp_path / "runs" / "r" / n).read_bytes() for n in _RUN_FILES} == theirs


@pytest.mark.parametrize("loss", ["folder", "files", "events"])
def test_power_loss_after_a_journaled_create_rebuilds_the_run(tmp_path: Path, loss: str) -> None:
    """Acknowledged creations survive what a power loss may do to files never fsynced:
    the rename lost (no folder), files left empty, the first event line zeros."""
    store = RunStore(tmp_path, group_commit=True)
    _service(store).create("article", b'{"topic": "tea"}', run_id="r")
    run = tmp_path / "runs" / "r"
    whole = {n: (run / n).read_bytes() for n in (*_RUN_FILES, "trace.jsonl")}
    die(store)
    if loss == "folder":
        shutil.rmtree(run)
    elif loss == "files":
        for name in _RUN_FILES:
            (run / name).write_bytes(b"")
        (run / "outputs").rmdir()
    else:
        (run / "events.jsonl").write_bytes(b"\0" * len(whole["events.jsonl"]))
    again = RunStore(tmp_path)
    assert {n: (run / n).read_bytes() for n in whole} == whole
    assert (run / "outputs").is_dir()
    drive(again, "r")
    assert again.manifest("r").status == "succeeded"


def test_replaying_a_create_keeps_what_the_run_wrote_after_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path, group_commit=True)
    _service(store).create("article", b'{"topic": "tea"}', run_id="r")
    drive(store, "r")
    store.flush()
    run = tmp_path / "runs" / "r"
    after = {n: (run / n).read_bytes() for n in ("manifest.json", "events.jsonl")}
    die(store)
    RunStore(tmp_path)
    assert {n: (run / n).read_bytes() for n in after} == after


def test_a_discarded_run_stays_gone_after_a_replay(tmp_path: Path) -> None:
    store = RunStore(tmp_path, group_commit=True)
    _service(store).create("article", b'{"topic": "tea"}', run_id="r")
    store.discard("r")
    assert not (tmp_path / "runs" / "r").exists()
    die(store)
    RunStore(tmp_path)
    assert not (tmp_path / "runs" / "r").exists()


def test_a_journaled_exchange_s_files_are_replayed_and_not_synced_at_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fsyncs: FsyncCounter
) -> None:
    """`PutCopies` (a journaled exchange's CortexFS files, ADR 0122) ride in the frame of
    the step's `succeeded`: killed after the journal fsync and before the files, they
    appear on replay, in order, whole; a checkpoint does not fsync them."""
    create(tmp_path, "r")
    outbox = tmp_path / "ctx" / "outbox"
    outbox.mkdir(parents=True)
    copies = (
        (str(outbox / "q1.fingerprint"), b"sha256:x\n"),
        (str(outbox / "q1.resp.json"), b"{}"),
    )
    store = RunStore(tmp_path, group_commit=True)
    store.update("r", lambda m: submit_step(m, "plan", fingerprint="f", request_id="q1", now_ms=1))

    monkeypatch.setattr(_journal.WriteAheadLog, "apply", _killed_applying)
    with pytest.raises(Killed):
        store.commit(
            "r",
            [
                _store.PutCopies(copies),
                PutOutput("plan", {"text": "x"}),
                UpdateManifest(
                    lambda m: succeed_step(m, "plan", output="outputs/plan.json", now_ms=2)
                ),
            ],
        )
    monkeypatch.setattr(_journal.WriteAheadLog, "apply", _journal.WriteAheadLog.__dict__["apply"])
    die(store)
    assert not (outbox / "q1.resp.json").exists()  # not written: only in the journal
    synced: list[str] = []
    real = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd))
    )
    again = RunStore(tmp_path)
    for path, data in copies:
        assert Path(path).read_bytes() == data
    assert again.manifest("r").step("plan").status == "succeeded"
    assert not [p for p in synced if p.startswith(str(outbox))], synced
    # Direct (the CLI's store): written in order, unsynced, before the transition after.
    direct = RunStore(tmp_path)
    direct.commit("r", [_store.PutCopies(((str(outbox / "q2.resp.json"), b"[1]"),))])
    assert (outbox / "q2.resp.json").read_bytes() == b"[1]"
    with pytest.raises(ValueError, match="not under the store root"):
        direct.commit("r", [_store.PutCopies(((str(tmp_path.parent / "elsewhere"), b"x"),))])


@pytest.mark.skipif(_journal._renameat2 is None, reason="no renameat2 in this libc")
def test_swap_in_renames_a_new_file_with_one_call_and_exchanges_an_existing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0132: a new target (most of what the journal's apply writes) takes one
    `renameat2(RENAME_NOREPLACE)`, not a failed exchange, a look and a rename; an existing
    one is exchanged and its old file unlinked."""
    calls: list[int] = []
    real = _journal._renameat2

    def counted(*args: object) -> int:
        calls.append(args[4])  # type: ignore[arg-type]
        return real(*args)  # type: ignore[no-any-return,misc]

    monkeypatch.setattr(_journal, "_renameat2", counted)
    target, tmp = tmp_path / "out.json", tmp_path / ".out.json.wal.tmp"
    tmp.write_bytes(b"first")
    _journal.swap_in(tmp, target)
    assert calls == [_journal._RENAME_NOREPLACE]
    assert target.read_bytes() == b"first" and not tmp.exists()
    calls.clear()
    tmp.write_bytes(b"second")
    _journal.swap_in(tmp, target)
    assert calls == [_journal._RENAME_NOREPLACE, _journal._RENAME_EXCHANGE]
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
