"""Pipelined commits (ADR 0117): with a group-committing store, the run actor commits a
step's request while the writes before it (its `submitted`) are still being made durable,
and acknowledges nothing (an ask's view, the run's end) before they are; a conflict on a
fresh commit (the request of an attempt whose `submitted` a crash took back) is observed,
not retried as a new attempt."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from lightflow_actors.cortex import Commit, CommitFailed, RequestCommitted
from lightflow_actors.flow import CachedOutput, RunStore, _journal
from lightflow_actors.flow import RequestCommitted as CommittedRecord
from lightflow_actors.flow._run_actor import GetRun, RunActor
from lightflow_actors.flow._store import AppendTrace
from lightflow_actors.kernel import ActorSystem, handler

from ._fakes import FakeCortex, ok
from .test_group_commit import create
from .test_run_actor import simulate


class Gate:
    """Holds every journal frame (the group's fsync) until `release`; counts frames."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.waiting = 0
        self.durable = 0
        self._lock = threading.Lock()
        real = _journal.WriteAheadLog.sync

        def sync(wal: _journal.WriteAheadLog, frame: _journal.Frame) -> None:
            with self._lock:
                self.waiting += 1
            self.open.wait()
            real(wal, frame)
            with self._lock:
                self.durable += 1

        monkeypatch.setattr(_journal.WriteAheadLog, "sync", sync)

    def release(self) -> None:
        self.open.set()


async def until(condition: object, *, rounds: int = 5000) -> None:
    """Yield to the loop (and the worker threads) until `condition()` holds."""
    for _ in range(rounds):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition never held")


def test_a_request_is_committed_before_its_submitted_is_durable_and_asks_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    gate = Gate(monkeypatch)
    seen: dict[str, object] = {}

    async def main() -> None:
        async with ActorSystem("pipelined") as system:
            fake = FakeCortex(ok, delay=0.01)
            cortex = system.spawn(lambda: fake)
            run = await system.start_actor(lambda: RunActor(store, "r", cortex))
            # The first requests went out while the frame holding their `submitted` waits.
            await until(lambda: fake.commits and gate.waiting >= 1)
            assert gate.durable == 0
            ask = asyncio.ensure_future(run.ask(GetRun(), timeout=None))
            await until(lambda: len(fake.answers) >= 1)
            await asyncio.sleep(0.05)
            assert not ask.done()  # nothing it would show is durable yet
            seen["commits_before"] = list(fake.commits)
            gate.release()
            view = await ask
            on_disk = {s.id: s.status for s in store.manifest("r").steps}
            for step in view.steps:
                if step.status in ("submitted", "succeeded"):
                    assert on_disk[step.id] in ("submitted", "succeeded"), (step, on_disk)
                if step.status == "succeeded":
                    assert on_disk[step.id] == "succeeded", (step, on_disk)
            await system.wait_exit(run)
            seen["fake"] = fake

    asyncio.run(main())
    assert seen["commits_before"]
    manifest = RunStore(tmp_path).manifest("r")
    assert manifest.status == "succeeded"
    assert all(s.attempts == 1 for s in manifest.steps)
    fake = seen["fake"]
    assert isinstance(fake, FakeCortex) and len(fake.commits) == len(manifest.steps)
    store.close()


class _Committed(FakeCortex):
    """Every request of `steps` was committed (and answered) before this run started: a
    commit of it is a `conflict`, and its answer is there to observe."""

    def __init__(self, steps: set[str]) -> None:
        super().__init__(ok, delay=0.01)
        self.steps = steps
        self.conflicts: list[str] = []

    @handler
    def commit(self, msg: Commit) -> RequestCommitted | CommitFailed:
        step = msg.id.split("-1-")[0]
        if step in self.steps and msg.id not in self.commits:
            self.commits.append(msg.id)
            self.answers[msg.id] = ok(msg, len(self.commits))
            self.conflicts.append(msg.id)
            return CommitFailed(
                msg.kind, msg.name, msg.id, "FileExistsError: committed", "conflict"
            )
        return super().commit(msg)


def test_a_conflict_on_a_fresh_commit_observes_that_attempts_answer(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path)
    fake = _Committed({"plan", "plan-size"})

    async def body(system: ActorSystem) -> None:
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(lambda: RunActor(store, "r", cortex))
        await system.wait_exit(run)

    simulate(body)
    manifest = store.manifest("r")
    assert manifest.status == "succeeded"
    assert len(fake.conflicts) == 2
    # Observed, not failed and retried: every step took one attempt, one request id.
    assert all(s.attempts == 1 for s in manifest.steps), manifest.steps
    assert len(fake.commits) == len(set(fake.commits)) == len(manifest.steps)


def test_queued_batches_are_committed_in_the_order_they_were_queued(tmp_path: Path) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    queued = [store.enqueue("r", [AppendTrace(_trace(n))]) for n in range(1, 6)]
    assert all(q is not None for q in queued)
    last = queued[-1]
    assert last is not None
    last.wait()  # leads the group: every batch queued before it is in it
    for q in queued:
        assert q is not None and q.wait().refused is None
    assert [t.seq for t in store.trace("r")] == [1, 2, 3, 4, 5]
    assert RunStore(tmp_path / "other").enqueue("r", []) is None  # direct: no queue
    store.close()


def _trace(seq: int) -> CommittedRecord:
    return CommittedRecord(seq, 1, "draft", 1, f"q{seq}", "p", "f")


def test_a_checkpoint_leaves_the_output_cache_index_unsynced_and_a_torn_entry_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    store.write_output("r", "plan", {"text": "x"})
    fingerprint = "sha256:" + "b" * 64
    store.remember_output(CachedOutput(fingerprint, "r", "plan", "outputs/plan.json"))
    synced: list[str] = []
    real = _journal.sync_all

    def sync_all(files: Iterable[str], dirs: Iterable[str]) -> None:
        files, dirs = list(files), list(dirs)
        synced.extend(files + dirs)
        real(files, dirs)

    monkeypatch.setattr(_journal, "sync_all", sync_all)
    store.close()  # the checkpoint
    assert any(name.endswith("outputs/plan.json") for name in synced)
    assert not any("/cache" in name for name in synced), synced
    # What a power loss may leave of an unsynced entry: empty, or half written.
    entry = tmp_path / "cache" / f"{'b' * 64}.json"
    for torn in (b"", entry.read_bytes()[:7]):
        entry.write_bytes(torn)
        assert RunStore(tmp_path).cached_output(fingerprint) is None


def test_a_batch_whose_writer_never_waits_rides_with_the_next_group_or_the_close(
    tmp_path: Path,
) -> None:
    """A pipelined batch is queued on the loop and waited for on a worker thread; if that
    thread never runs (the loop stopped first), the batch is never handed the lead (no
    group would ever be committed again): the next writer's group carries it, or the
    store's close commits it."""
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    assert store.enqueue("r", [AppendTrace(_trace(1))]) is not None  # nobody waits for it
    store.commit("r", [AppendTrace(_trace(2))])  # leads: both in its group
    assert [t.seq for t in store.trace("r")] == [1, 2]
    assert store.enqueue("r", [AppendTrace(_trace(3))]) is not None
    store.close()  # commits what is still queued
    assert [t.seq for t in RunStore(tmp_path).trace("r")] == [1, 2, 3]


def test_a_runs_last_writes_are_queued_and_waited_for_not_committed_on_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A durable flush (the run's end, its `succeeded` and the run's last event) queues its
    writes behind the pipelined ones and waits for all of them (ADR 0132): no worker thread
    leads a group of its own, and the run still ends only once everything is durable."""
    create(tmp_path, "r")
    store = RunStore(tmp_path, group_commit=True)
    on_worker: list[int] = []
    real = RunActor._write_in_order

    def counted(actor: RunActor, writes: list[object]) -> object:
        on_worker.append(len(writes))
        return real(actor, writes)  # type: ignore[arg-type]

    monkeypatch.setattr(RunActor, "_write_in_order", counted)
    gate = Gate(monkeypatch)
    ended: list[str] = []

    async def main() -> None:
        async with ActorSystem("queued-end") as system:
            cortex = system.spawn(lambda: FakeCortex(ok))
            run = await system.start_actor(lambda: RunActor(store, "r", cortex))
            # Every step answered; the run waits for its frames before it may end.
            await until(lambda: gate.waiting >= 1)
            await asyncio.sleep(0.05)
            ended.append("alive" if run.alive else "ended")  # nothing is durable yet
            gate.release()
            await system.wait_exit(run)

    asyncio.run(main())
    assert ended == ["alive"]
    assert on_worker == []  # before: the run's closing flush, on a worker thread
    manifest = RunStore(tmp_path).manifest("r")
    assert manifest.status == "succeeded"
    assert all(s.status == "succeeded" for s in manifest.steps)
    store.close()
