"""Pipelined group commit (ADR 0124): a group is staged (prepared, its frame written) while
the group before it syncs; the second is built on the first's state, journaled after it,
answered after it, and a sync that fails takes the groups staged on top of it down with
it. A crash image taken at any point between the stages replays to a prefix of what the
store went on to write, with every acknowledged transition in it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    AppendTrace,
    RequestCommitted,
    RunManifest,
    RunNotFound,
    RunStore,
    StepSubmitted,
    UpdateManifest,
    _journal,
    submit_step,
)
from lightflow_actors.flow import _store as store_module

from .test_group_commit import create, wait_for


def resubmit(m: RunManifest, now_ms: int) -> tuple[RunManifest, StepSubmitted]:
    """A transition that can repeat: every step back to planned, then `plan` submitted."""
    planned = tuple(msgspec.structs.replace(s, status="planned") for s in m.steps)
    reset = msgspec.structs.replace(m, steps=planned)
    return submit_step(reset, "plan", fingerprint="f", request_id="q", now_ms=now_ms)


def sequences(ops: list[_journal.WalOp]) -> list[int]:
    return [op.sequence for op in ops if isinstance(op, _journal.PutManifest)]


def test_the_next_group_is_staged_on_top_of_one_still_syncing_and_answered_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    first = store.manifest("r").sequence
    gate, syncing = threading.Event(), threading.Event()
    written: list[tuple[_journal.Frame, list[_journal.WalOp]]] = []
    real_write, real_sync, real_fdatasync = (
        _journal.WriteAheadLog.write,
        _journal.WriteAheadLog.sync,
        os.fdatasync,
    )
    fdatasyncs = [0]

    def write(wal: _journal.WriteAheadLog, ops: list[_journal.WalOp]) -> _journal.Frame:
        frame = real_write(wal, ops)
        written.append((frame, ops))
        return frame

    def sync(wal: _journal.WriteAheadLog, frame: _journal.Frame) -> None:
        if frame is written[0][0]:
            syncing.set()
            gate.wait()  # the first group's sync is slow
        real_sync(wal, frame)

    def counted(fd: int) -> None:
        fdatasyncs[0] += 1
        real_fdatasync(fd)

    monkeypatch.setattr(_journal.WriteAheadLog, "write", write)
    monkeypatch.setattr(_journal.WriteAheadLog, "sync", sync)
    monkeypatch.setattr(os, "fdatasync", counted)
    results: dict[str, RunManifest] = {}

    def writer(name: str, now_ms: int) -> None:
        results[name] = store.update("r", partial(resubmit, now_ms=now_ms))[0]

    a = threading.Thread(target=writer, args=("a", 1))
    a.start()
    syncing.wait()
    b = threading.Thread(target=writer, args=("b", 2))
    b.start()
    wait_for(lambda: len(written) == 2)  # staged while the first one syncs
    assert not results  # neither is answered before its frame is durable
    (frame_a, ops_a), (frame_b, ops_b) = written
    assert sequences(ops_a) == [first + 1]
    assert sequences(ops_b) == [first + 2]  # built on a state not yet durable
    assert frame_b.start == frame_a.end  # journaled after it
    lines = [op for op in ops_a + ops_b if isinstance(op, _journal.WriteLine)]
    assert lines[1].offset == lines[0].offset + len(lines[0].data)
    gate.set()
    a.join()
    b.join()
    assert results["a"].sequence == first + 1 and results["b"].sequence == first + 2
    assert fdatasyncs[0] == 1  # the first sync covered both frames
    assert [e.seq for e in store.events("r")][-2:] == [first + 1, first + 2]
    store.close()
    assert RunStore(tmp_path).manifest("r") == results["b"]


@contextmanager
def _journal_hooks(
    on_synced: Callable[[], None], failing: set[int]
) -> Iterator[list[_journal.Frame]]:
    """Frames written, in order; `on_synced` after each sync; the sync of the frames whose
    index is in `failing` fails (EIO)."""
    frames: list[_journal.Frame] = []
    real_write, real_sync = _journal.WriteAheadLog.write, _journal.WriteAheadLog.sync

    def write(wal: _journal.WriteAheadLog, ops: list[_journal.WalOp]) -> _journal.Frame:
        frame = real_write(wal, ops)
        frames.append(frame)
        return frame

    def sync(wal: _journal.WriteAheadLog, frame: _journal.Frame) -> None:
        if frames.index(frame) in failing:
            raise OSError(5, "Input/output error")
        real_sync(wal, frame)
        on_synced()

    patch = pytest.MonkeyPatch()
    patch.setattr(_journal.WriteAheadLog, "write", write)
    patch.setattr(_journal.WriteAheadLog, "sync", sync)
    try:
        yield frames
    finally:
        patch.undo()


RUNS = ("r", "s")


@settings(max_examples=30, deadline=None)
@given(
    groups=st.lists(
        st.lists(st.sampled_from(RUNS), min_size=1, max_size=3), min_size=2, max_size=5
    ),
    early=st.lists(st.booleans(), min_size=5, max_size=5),
    cut=st.integers(0, 30),
    fail=st.none() | st.integers(0, 4),
    small=st.booleans(),
)
def test_a_crash_at_any_point_between_the_stages_replays_a_prefix_holding_every_answer(
    groups: list[list[str]], early: list[bool], cut: int, fail: int | None, small: bool
) -> None:
    """Groups driven through their stages as leaders do (stage N+1 before or after stage 2
    of N, after N's lost-check, which follows stage 2 of N-1), a copy of the state folder
    taken at the `cut`-th point (after a stage, or after a sync): opened again, each run's
    events are a prefix of what the store went on to write, and hold every transition
    answered by then; no failed transition is anywhere."""
    with tempfile.TemporaryDirectory() as tmp:
        root, image = Path(tmp) / "state", Path(tmp) / "image"
        for run_id in RUNS:
            create(root, run_id)
        store = RunStore(root, group_commit=True, checkpoint_bytes=(8 << 10) if small else 8 << 20)
        group = store._group
        assert group is not None
        group._inline = True  # no flusher thread: the copy sees no file half-swapped
        points = [0]
        answered: dict[str, int] = dict.fromkeys(RUNS, 0)

        def point() -> None:
            if points[0] == cut and not image.exists():
                shutil.copytree(root, image)
                taken.update(answered)
            points[0] += 1

        taken: dict[str, int] = {}
        failed_at = 1 << 30
        with _journal_hooks(point, {fail} if fail is not None else set()):
            batches = [
                [store_module._Batch(r, (UpdateManifest(partial(resubmit, now_ms=n)),)) for r in g]
                for n, g in enumerate(groups)
            ]
            staged = [group._stage(batches[0])]
            point()
            for n in range(len(batches)):
                group._doom_if_lost(staged[n])  # before the lead is handed on
                if n + 1 < len(batches) and early[n]:
                    staged.append(group._stage(batches[n + 1]))  # while N syncs
                    point()
                group._finish(staged[n])
                for batch in batches[n]:
                    assert batch.done
                    answered[batch.run_id] += batch.error is None
                if n == fail:
                    failed_at = points[0]  # the sync failed (and its frame is wiped) by then
                point()
                if n + 1 < len(batches) and not early[n]:
                    staged.append(group._stage(batches[n + 1]))
                    point()
        if not image.exists():
            shutil.copytree(root, image)
            taken.update(answered)
            cut = points[0]
        if fail is not None and fail < len(batches):
            assert all(b.error is not None for b in batches[fail])
            if fail + 1 < len(batches) and early[fail]:  # staged on top of it: lost too
                assert all(b.error is not None for b in batches[fail + 1])
        store.close()
        final = RunStore(root)
        replayed = RunStore(image)  # replays the copied journal: nobody holds it
        for run_id in RUNS:
            events = final.events_raw(run_id)
            assert len(events) == 1 + answered[run_id]  # created, then each answer
            assert final.manifest(run_id).sequence == len(events)
            # What a crash at the cut may show: the lines staged in order, but those of
            # groups whose loss the store had seen by then (a crash before it could still
            # find a frame not yet wiped, never answered either way).
            staged_lines = [
                op.data.rstrip(b"\n")
                for g in batches
                for b in g
                if b.run_id == run_id and not (b.error is not None and cut >= failed_at)
                for op in b.wal
                if isinstance(op, _journal.WriteLine) and op.path.endswith("events.jsonl")
            ]
            possible = events[:1] + staged_lines
            if cut >= failed_at or all(b.error is None for g in batches for b in g):
                assert possible == events
            seen = replayed.events_raw(run_id)
            assert seen == possible[: len(seen)]
            assert len(seen) >= 1 + taken[run_id]
            assert replayed.manifest(run_id).sequence == len(seen)
        assert not list((root / "wal").glob("*.wal"))
        assert not list((image / "wal").glob("*.wal"))


def committers() -> int:
    return sum(t.name == "run-store-committer" for t in threading.enumerate())


def test_queued_commits_complete_futures_without_a_thread_waiting_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the run actor queues its writes: 40 batches on 8 runs, each a future of the
    loop; the store's committer threads lead (at most two of them), the batches share
    groups, and each run's transitions are answered and written in the order queued."""
    runs = [f"r{n}" for n in range(8)]
    for run_id in runs:
        create(tmp_path, run_id)
    store = RunStore(tmp_path, group_commit=True)
    frames = [0]
    real_write = _journal.WriteAheadLog.write

    def write(wal: _journal.WriteAheadLog, ops: list[_journal.WalOp]) -> _journal.Frame:
        frames[0] += 1
        return real_write(wal, ops)

    monkeypatch.setattr(_journal.WriteAheadLog, "write", write)
    threads: list[int] = []

    async def main() -> list[RunManifest]:
        loop = asyncio.get_running_loop()
        futures = []
        for n in range(40):
            queued = store.enqueue(runs[n % 8], [UpdateManifest(partial(resubmit, now_ms=n))])
            assert queued is not None
            future = queued.future(loop)
            assert future is not None
            futures.append(future)
            threads.append(committers())
        results = await asyncio.gather(*futures)
        return [result.updates[0][0] for result in results]

    manifests = asyncio.run(main())
    assert max(threads) <= 2
    assert frames[0] < 40  # batches shared groups
    for n, run_id in enumerate(runs):
        mine = manifests[n::8]
        first = mine[0].sequence
        assert [m.sequence for m in mine] == list(range(first, first + 5))
        assert [e.seq for e in store.events(run_id)][-5:] == [m.sequence for m in mine]
    store.close()
    wait_for(lambda: committers() == 0)


def test_a_failed_sync_fails_the_future_and_without_threads_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)

    def failed_sync(wal: _journal.WriteAheadLog, frame: _journal.Frame) -> None:
        raise OSError(5, "Input/output error")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with monkeypatch.context() as patch:
            patch.setattr(_journal.WriteAheadLog, "sync", failed_sync)
            queued = store.enqueue("r", [UpdateManifest(partial(resubmit, now_ms=1))])
            assert queued is not None
            future = queued.future(loop)
            assert future is not None
            with pytest.raises(OSError, match="Input/output"):
                await future
        # The run goes on from its durable state, in a new journal segment.
        queued = store.enqueue("r", [UpdateManifest(partial(resubmit, now_ms=2))])
        assert queued is not None
        future = queued.future(loop)
        assert future is not None
        assert (await future).updates[0][0].sequence == 2

    asyncio.run(main())
    store.close()
    wait_for(lambda: committers() == 0)
    assert [e.seq for e in RunStore(tmp_path).events("r")] == [1, 2]

    other = RunStore(tmp_path / "other", group_commit=True)

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("threads are refused here")

    async def refused_thread() -> None:
        queued = other.enqueue("nope", [AppendTrace(RequestCommitted(0, 1, "a", 1, "q", "p", "f"))])
        assert queued is not None
        with monkeypatch.context() as patch:
            patch.setattr(threading.Thread, "start", refused)
            assert queued.future(asyncio.get_running_loop()) is None
        with pytest.raises(RunNotFound):
            queued.wait()  # the caller's fallback: a worker thread waits

    asyncio.run(refused_thread())
    other.close()


def test_committers_that_leave_when_idle_never_strand_a_queued_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committer threads leave after a moment without work and are started again by the
    next commit: with that moment made tiny, commits queued one at a time, as their
    committers come and go, are all answered in order."""
    monkeypatch.setattr(store_module, "COMMITTER_IDLE_S", 0.0005)
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    first = store.manifest("r").sequence

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        sequences = []
        for n in range(60):
            queued = store.enqueue("r", [UpdateManifest(partial(resubmit, now_ms=n))])
            assert queued is not None
            future = queued.future(loop)
            assert future is not None
            if n % 3:
                await asyncio.sleep(0.001)  # let the committers leave
            # A hang guard (a stranded commit never completes), not a time limit.
            result = await asyncio.wait_for(future, 60)
            sequences.append(result.updates[0][0].sequence)
        return sequences

    assert asyncio.run(main()) == list(range(first + 1, first + 61))
    store.close()
    wait_for(lambda: committers() == 0)
