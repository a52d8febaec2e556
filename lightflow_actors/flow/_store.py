"""The run store: one folder per run under `<state>/lightflow/runs/<run_id>/`.

Files (the LightFlow contract): `request.json`, `resolved_workflow.json`, `manifest.json`
(replaced atomically), `events.jsonl` and `trace.jsonl` (fsynced line by line), and
`outputs/<step>.json`. A run is built in a staging folder and renamed into `runs/` in one
step, so a half-created run is never visible and two creators of one id cannot both win.

The store is stateless between calls (each call opens what it needs), so the CLI and a
running server can share a state folder; every write takes an exclusive `flock` on the run
folder for the read-modify-write of the manifest.

Writes go through `commit(run_id, ops)`, a batch of `StoreOp`s applied in order. Two ways
to make them durable, one of them per store:

- direct (the default, the CLI's): each file is written durably on its own (temp, fsync,
  rename, fsync the folder; journal lines appended and fsynced);
- group commit (`group_commit=True`, the server's, ADR 0066): the batches of all runs
  waiting at the moment go into one frame of the write-ahead journal (`_journal.py`), one
  fsync for all of them, and only then into the run files; a batch returns once its frame
  is durable. One store per state folder group-commits at a time (`wal/group.lock`); any
  other falls back to direct writes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import msgspec
import platformdirs

from lightflow_actors.cortex import atomic_write, fsync_dir
from lightflow_actors.isa import JSONValue

from ._errors import (
    CorruptRun,
    InvalidRunId,
    RunExists,
    RunNotFound,
    StepNotFound,
    StepTransitionError,
)
from ._files import append_line, cut_torn_tail, last_line, read_lines, write_new_files
from ._journal import (
    JOURNAL_DIR,
    DropRun,
    NewRun,
    PutFile,
    PutManifest,
    WalOp,
    WriteAheadLog,
    WriteLine,
    replay_orphans,
)
from ._manifest import RunManifest
from ._records import RunEvent, TraceRecord
from ._resolved import STEP_ID, ResolvedWorkflow
from ._run_id import check_run_id

REQUEST = "request.json"
RESOLVED = "resolved_workflow.json"
MANIFEST = "manifest.json"
EVENTS = "events.jsonl"
TRACE = "trace.jsonl"
OUTPUTS = "outputs"

E = TypeVar("E", bound=RunEvent)
T = TypeVar("T")

_FINGERPRINT = re.compile(r"sha256:([0-9a-f]{64})")
_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(RunEvent)
_trace_decoder = msgspec.json.Decoder(TraceRecord)
logger = logging.getLogger("lightflow_actors.flow")

DEFAULT_CHECKPOINT_BYTES = 8 << 20


class RunRequest(msgspec.Struct, frozen=True):
    """What the run was created from (`request.json`)."""

    run_id: str
    workflow: str
    inputs: dict[str, JSONValue]
    created_at_ms: int
    preset: str | None = None
    model: str | None = None  # the run's model override (`run create --model`)
    tenant: str | None = None  # who the run works for (ADR 0104); None: the default tenant


class CachedOutput(msgspec.Struct, frozen=True):
    """A succeeded step output, found by its input fingerprint."""

    fingerprint: str
    run_id: str
    step: str
    output: str


class UpdateManifest(msgspec.Struct, frozen=True):
    """A manifest transition: `change(manifest) -> (manifest, event)`, applied under the
    run's lock to the manifest as it is; the event is appended to `events.jsonl`."""

    change: Callable[[RunManifest], tuple[RunManifest, RunEvent]]


class PutOutput(msgspec.Struct, frozen=True):
    """A step's output, stored as `outputs/<step>.json`."""

    step: str
    value: JSONValue


class AppendTrace(msgspec.Struct, frozen=True):
    record: TraceRecord


class IndexOutput(msgspec.Struct, frozen=True):
    """Index a succeeded output by its fingerprint in the output cache."""

    cached: CachedOutput


StoreOp = UpdateManifest | PutOutput | AppendTrace | IndexOutput


class _CreateRun(msgspec.Struct, frozen=True):
    """A new run's files (a batch of its own, group-committed: `RunStore.create`)."""

    files: dict[str, bytes]


class _DropRun(msgspec.Struct, frozen=True):
    """Remove the run folder (`RunStore.discard`)."""


_BatchOp = StoreOp | _CreateRun | _DropRun


class CommitResult(msgspec.Struct):
    """What a `commit` did: the `(manifest, event)` of each transition carried out, and
    where it stopped when a transition was refused (`refused_at` indexes the ops; the ops
    before it are committed, none after it)."""

    updates: list[tuple[RunManifest, RunEvent]] = msgspec.field(default_factory=list)
    refused: StepTransitionError | None = None
    refused_at: int | None = None


def _no_run(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run {run_id!r}; `lightflow run list` shows the runs")


def _taken(run_id: str) -> RunExists:
    return RunExists(f"run {run_id!r} already exists; choose another id")


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/lightflow` (fallback `~/.local/state/lightflow`).

    An absolute `XDG_STATE_HOME` in `environ` wins; otherwise (absent, or relative, which the
    XDG spec calls invalid) the process environment decides.
    """
    home = (environ or {}).get("XDG_STATE_HOME", "")
    if os.path.isabs(home):
        return Path(home) / "lightflow"
    return platformdirs.user_state_path("lightflow")


class RunStore:
    """Runs under `root/runs/` (root defaults to `default_state_dir()`)."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        group_commit: bool = False,
        checkpoint_bytes: int = DEFAULT_CHECKPOINT_BYTES,
    ) -> None:
        self.root = root if root is not None else default_state_dir()
        self.runs = self.root / "runs"
        self._staging = self.root / "staging"
        self._cache = self.root / "cache"
        # Journals left by a process that died are replayed before anything reads a run.
        if os.path.isdir(self.root / JOURNAL_DIR):
            replay_orphans(self.root)
        self._group: _GroupCommit | None = None
        if group_commit:
            self._group = _GroupCommit.open(self, checkpoint_bytes)

    @property
    def group_commit(self) -> bool:
        """Whether this store group-commits (it may have fallen back to direct writes)."""
        return self._group is not None

    def close(self) -> None:
        """Checkpoint and release the write-ahead journal (a group-committing store);
        later writes are direct. Safe to call twice."""
        group, self._group = self._group, None
        if group is not None:
            group.close()

    def run_dir(self, run_id: str) -> Path:
        return self.runs / check_run_id(run_id)

    # -- creation ---------------------------------------------------------------

    def create(
        self, request: RunRequest, resolved: ResolvedWorkflow, manifest: RunManifest
    ) -> None:
        """Write a new run atomically; RunExists if the id is taken.

        Group-committing, the run's files go into the write-ahead journal like any write
        (ADR 0110): one journal fsync, shared with the group, instead of one per file and
        two folder fsyncs; the folder is written, without fsync, once the frame is durable.
        """
        final = self.run_dir(request.run_id)
        if final.exists():
            raise _taken(request.run_id)
        created = manifest.last_event
        files = {
            REQUEST: _encoder.encode(request),
            RESOLVED: _encoder.encode(resolved),
            MANIFEST: _encoder.encode(manifest),
            EVENTS: _encoder.encode(created) + b"\n" if created else b"",
            TRACE: b"",
        }
        if self._group is not None:
            result = self._group.commit(request.run_id, (_CreateRun(files),))
            if result.refused is not None:  # never: a creation has no transition
                raise result.refused
            return
        self.runs.mkdir(parents=True, exist_ok=True)
        self._staging.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="run-", dir=self._staging))
        try:
            (staging / OUTPUTS).mkdir()
            write_new_files(staging, files)
            try:
                # rename(2) refuses a non-empty target: of two creators one wins.
                os.rename(staging, final)
            except OSError as exc:
                if final.exists():
                    raise _taken(request.run_id) from None
                raise exc
            fsync_dir(self.runs)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def discard(self, run_id: str) -> None:
        """Remove a run folder this store created (a run its cluster refused), journaled
        when group-committing, so a replay does not bring back the creation alone."""
        if self._group is not None:
            self._group.commit(run_id, (_DropRun(),))
        else:
            shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- reading ----------------------------------------------------------------

    def exists(self, run_id: str) -> bool:
        return (self.run_dir(run_id) / MANIFEST).is_file()

    def list_ids(self) -> list[str]:
        """Ids of the complete runs (folders holding a manifest), sorted."""
        if not self.runs.is_dir():
            return []
        return sorted(
            entry.name
            for entry in os.scandir(self.runs)
            if entry.is_dir(follow_symlinks=False)
            and os.path.isfile(os.path.join(entry.path, MANIFEST))
        )

    def manifest(self, run_id: str) -> RunManifest:
        group = self._group
        if group is not None:
            deferred = group.deferred_manifest(run_id)
            if deferred is not None:
                return deferred
        return self._read(run_id, MANIFEST, RunManifest)

    def request(self, run_id: str) -> RunRequest:
        return self._read(run_id, REQUEST, RunRequest)

    def resolved(self, run_id: str) -> ResolvedWorkflow:
        return self._read(run_id, RESOLVED, ResolvedWorkflow)

    def events(self, run_id: str) -> list[RunEvent]:
        return [
            self._decode_line(_event_decoder, run_id, EVENTS, line)
            for line in self._lines(run_id, EVENTS)
        ]

    def trace(self, run_id: str) -> list[TraceRecord]:
        return [
            self._decode_line(_trace_decoder, run_id, TRACE, line)
            for line in self._lines(run_id, TRACE)
        ]

    def events_raw(self, run_id: str) -> list[bytes]:
        """Complete event lines as stored (for NDJSON responses without re-encoding)."""
        return self._lines(run_id, EVENTS)

    def trace_raw(self, run_id: str) -> list[bytes]:
        return self._lines(run_id, TRACE)

    def output(self, run_id: str, step_id: str) -> JSONValue:
        if not STEP_ID.fullmatch(step_id):
            raise StepNotFound(f"{step_id!r} is not a step id")
        path = self.run_dir(run_id) / OUTPUTS / f"{step_id}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RunNotFound(f"run {run_id!r} has no output for step {step_id!r}") from None
        try:
            value: JSONValue = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptRun(f"{path}: {exc}") from None
        return value

    def _read(self, run_id: str, name: str, type_: type[T]) -> T:
        path = self.run_dir(run_id) / name
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise _no_run(run_id) from None
        try:
            return msgspec.json.decode(data, type=type_)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptRun(f"{path} is not a valid {name}: {exc}") from None

    def _lines(self, run_id: str, name: str) -> list[bytes]:
        path = self.run_dir(run_id) / name
        try:
            return read_lines(path)
        except (FileNotFoundError, NotADirectoryError):
            raise _no_run(run_id) from None

    @staticmethod
    def _decode_line(decoder: msgspec.json.Decoder[T], run_id: str, name: str, line: bytes) -> T:
        try:
            return decoder.decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptRun(f"run {run_id!r} {name} holds an invalid line: {exc}") from None

    # -- writing ----------------------------------------------------------------------------

    def commit(self, run_id: str, ops: Sequence[StoreOp]) -> CommitResult:
        """Carry out `ops` on run `run_id` in order, durably, stopping at a refused
        transition (`CommitResult.refused`). Any other error is raised after the ops
        before it are committed."""
        if self._group is not None:
            return self._group.commit(run_id, tuple(ops))
        result = CommitResult()
        for index, op in enumerate(ops):
            match op:
                case UpdateManifest(change=change):
                    try:
                        result.updates.append(self._update_direct(run_id, change))
                    except StepTransitionError as error:
                        result.refused, result.refused_at = error, index
                        return result
                case PutOutput(step=step, value=value):
                    atomic_write(self._output_path(run_id, step), _encoder.encode(value))
                case AppendTrace(record=record):
                    append_line(self._trace_path(run_id), _encoder.encode(record))
                case IndexOutput(cached=cached):
                    self._index_output(cached)
        return result

    def update(
        self, run_id: str, change: Callable[[RunManifest], tuple[RunManifest, E]]
    ) -> tuple[RunManifest, E]:
        """Apply a manifest transition under the run's lock: write the manifest (holding
        the event as `last_event`), then append the event."""
        result = self.commit(run_id, [UpdateManifest(change)])
        if result.refused is not None:
            raise result.refused
        manifest, event = result.updates[0]
        return manifest, event  # type: ignore[return-value]

    def _update_direct(
        self, run_id: str, change: Callable[[RunManifest], tuple[RunManifest, RunEvent]]
    ) -> tuple[RunManifest, RunEvent]:
        with self._locked(run_id):
            self._repair_events(run_id)
            manifest, event = change(self.manifest(run_id))
            directory = self.run_dir(run_id)
            atomic_write(directory / MANIFEST, _encoder.encode(manifest))
            append_line(directory / EVENTS, _encoder.encode(event))
            return manifest, event

    def append_trace(self, run_id: str, record: TraceRecord) -> None:
        self.commit(run_id, [AppendTrace(record)])

    def next_trace_seq(self, run_id: str) -> int:
        return len(self._lines(run_id, TRACE)) + 1

    def write_output(self, run_id: str, step_id: str, value: JSONValue) -> str:
        """Store a step output atomically; returns its path relative to the run folder."""
        self.commit(run_id, [PutOutput(step_id, value)])
        return f"{OUTPUTS}/{step_id}.json"

    def _output_path(self, run_id: str, step_id: str) -> Path:
        if not STEP_ID.fullmatch(step_id):
            raise StepNotFound(f"{step_id!r} is not a step id")
        return self.run_dir(run_id) / OUTPUTS / f"{step_id}.json"

    def _trace_path(self, run_id: str) -> Path:
        path = self.run_dir(run_id) / TRACE
        if not path.is_file():
            raise _no_run(run_id)
        return path

    def recover(self, run_id: str) -> RunManifest:
        """Make the journal agree with the manifest after a crash; returns the manifest."""
        if self._group is not None:
            return self._group.recover(run_id)
        with self._locked(run_id):
            return self._repair_events(run_id)

    def _repair_events(self, run_id: str) -> RunManifest:
        manifest = self.manifest(run_id)
        tail = last_line(self.run_dir(run_id) / EVENTS)
        last_seq = 0
        if tail is not None:
            last_seq = self._decode_line(_event_decoder, run_id, EVENTS, tail).seq
        if last_seq == manifest.sequence - 1 and manifest.last_event is not None:
            # Crashed after the manifest write, before the event append: finish it.
            append_line(self.run_dir(run_id) / EVENTS, _encoder.encode(manifest.last_event))
        elif last_seq != manifest.sequence:
            raise CorruptRun(
                f"run {run_id!r}: events.jsonl ends at seq {last_seq} but the manifest is at "
                f"{manifest.sequence}; the run folder was changed outside lightflow"
            )
        return manifest

    @contextmanager
    def _locked(self, run_id: str) -> Iterator[None]:
        fd = self._lock(run_id)
        try:
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _lock(self, run_id: str) -> int:
        """An fd of the run folder holding its exclusive `flock` (closing releases it)."""
        try:
            fd = os.open(self.run_dir(run_id), os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise _no_run(run_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # -- output cache -------------------------------------------------------------

    def remember_output(self, cached: CachedOutput) -> None:
        """Index a succeeded output by its fingerprint for later runs to reuse."""
        self.commit(cached.run_id, [IndexOutput(cached)])

    def _index_output(self, cached: CachedOutput) -> None:
        path = self._cache_path(cached.fingerprint)
        if path is None:
            return
        self._cache.mkdir(parents=True, exist_ok=True)
        # Runs with equal steps cache one fingerprint at the same time: each writer needs
        # its own temporary file, or one renames the other's away (FileNotFoundError).
        tmp = f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        atomic_write(path, _encoder.encode(cached), tmp_name=tmp)

    def cached_output(self, fingerprint: str) -> CachedOutput | None:
        """A previous output with this fingerprint whose file still exists, if any."""
        path = self._cache_path(fingerprint)
        if path is None:
            return None
        try:
            cached = msgspec.json.decode(path.read_bytes(), type=CachedOutput)
        except (OSError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        if cached.output != f"{OUTPUTS}/{cached.step}.json" or not STEP_ID.fullmatch(cached.step):
            return None
        try:
            source = self.run_dir(cached.run_id) / cached.output
        except InvalidRunId:
            return None
        if cached.fingerprint != fingerprint or not source.is_file():
            return None
        return cached

    def _cache_path(self, fingerprint: str) -> Path | None:
        match = _FINGERPRINT.fullmatch(fingerprint)
        return self._cache / f"{match.group(1)}.json" if match else None


class _Batch:
    """One `commit` call waiting for its group (filled in by the group's leader)."""

    __slots__ = ("done", "error", "ops", "result", "run_id", "wal")

    def __init__(self, run_id: str, ops: tuple[_BatchOp, ...]) -> None:
        self.run_id = run_id
        self.ops = ops
        self.result = CommitResult()
        self.wal: list[WalOp] = []
        self.error: BaseException | None = None
        self.done = False


MAX_DEFERRED_GROUPS = 64
"""A run's manifest waits at most this many groups before it is renamed into place."""


class _Deferred:
    """A run's newest manifest, durable in the journal, not yet in `manifest.json`; `fd`
    holds the run's `flock` until it is."""

    __slots__ = ("fd", "groups", "manifest", "op")

    def __init__(self, op: PutManifest, manifest: RunManifest, fd: int, groups: int) -> None:
        self.op = op
        self.manifest = manifest
        self.fd = fd
        self.groups = groups


class _GroupCommit:
    """Group commit for one store (ADR 0066): leader/follower, no thread of its own.

    A writer queues its batch; if no group is being committed it leads: it takes every
    batch queued so far (its own and those that queued while the previous group was
    fsyncing), prepares them under their runs' locks, commits them as one journal frame
    (one fsync), writes the run files and wakes every waiting writer; the others wait for
    that wake-up, and one whose batch is still queued leads the next group. One group at a
    time, so a run's batches are journaled and applied in the order they were queued.

    Under load (batches already queued for the next group) a run's `manifest.json` is not
    replaced at every transition, since a rename costs far more than the journal append:
    the newest manifest is *deferred* (it is durable in the journal) and written when the
    queue is found empty, after `MAX_DEFERRED_GROUPS` groups, before a checkpoint, on
    `recover` and on `close`. While deferred, the run's `flock` stays held, so a direct
    writer (the CLI) waits for the manifest instead of reading a stale one, and this
    store's readers get the deferred manifest from memory.
    """

    def __init__(self, store: RunStore, lock_fd: int, checkpoint_bytes: int) -> None:
        self._store = store
        self._lock_fd = lock_fd
        self._checkpoint_bytes = checkpoint_bytes
        self._queue: list[_Batch] = []
        # Guards the queue and `_leading`; waiters are woken after every group.
        self._cond = threading.Condition(threading.Lock())
        self._leading = False  # a leader is committing a group (or recover/close runs)
        self._wal: WriteAheadLog | None = None
        # The manifest last written per run, with the (inode, mtime, size) it was written
        # with: a writer elsewhere (the CLI) changes the key, and the file is read again.
        self._manifests: dict[str, tuple[tuple[int, int, int], RunManifest]] = {}
        # Ops journaled but not yet written to the run files (a write failed): written
        # again before the next group, which fails if they still cannot be.
        self._unapplied: list[WalOp] = []
        # Manifests journaled but not yet renamed into place, per run (see above).
        self._deferred: dict[str, _Deferred] = {}

    def deferred_manifest(self, run_id: str) -> RunManifest | None:
        """The run's newest manifest while it is not yet in `manifest.json` (any thread)."""
        deferred = self._deferred.get(run_id)
        return None if deferred is None else deferred.manifest

    @classmethod
    def open(cls, store: RunStore, checkpoint_bytes: int) -> _GroupCommit | None:
        folder = store.root / JOURNAL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "group.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            logger.warning(
                "another store group-commits in %s; this one writes each file durably", folder
            )
            return None
        return cls(store, fd, checkpoint_bytes)

    def commit(self, run_id: str, ops: tuple[_BatchOp, ...]) -> CommitResult:
        batch = _Batch(run_id, ops)
        with self._cond:
            self._queue.append(batch)
            while not batch.done:
                if self._leading:
                    self._cond.wait()  # woken when the group in progress is done
                    continue
                # Lead: take everything queued so far (this batch among it).
                self._leading = True
                group, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._commit_group(group)
                finally:
                    self._cond.acquire()
                    self._leading = False
                    self._cond.notify_all()
        if batch.error is not None:
            raise batch.error
        return batch.result

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Run alone, as a leader would (no group is committed meanwhile)."""
        with self._cond:
            while self._leading:
                self._cond.wait()
            self._leading = True
        try:
            yield
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()

    def recover(self, run_id: str) -> RunManifest:
        """The run's manifest, its journal repaired, after every journaled write of it."""
        with self._exclusive():
            self._retry_unapplied()
            self._flush(run_id)
            self._manifests.pop(run_id, None)
            fd = self._store._lock(run_id)
            try:
                return self._store._repair_events(run_id)
            finally:
                os.close(fd)

    def close(self) -> None:
        with self._exclusive():
            try:
                self._retry_unapplied()
                self._flush_all()
                if self._wal is not None:
                    self._wal.close()
                    self._wal = None
            finally:
                os.close(self._lock_fd)

    # -- the leader ----------------------------------------------------------------------

    def _commit_group(self, group: list[_Batch]) -> None:
        locks: dict[str, int] = {}
        try:
            try:
                self._retry_unapplied()
                pending: dict[str, RunManifest] = {}
                sizes: dict[str, int] = {}
                for batch in group:
                    self._prepare(batch, locks, pending, sizes)
                frame = [op for batch in group for op in batch.wal]
                if frame:
                    self._journal().commit(frame)
            except BaseException as exc:
                for batch in group:
                    batch.error = exc
                    self._manifests.pop(batch.run_id, None)
                raise
            for batch in group:
                self._apply(batch, locks)
        except Exception:
            pass  # every batch of the group carries the error to its writer
        finally:
            for run_id, fd in locks.items():
                if run_id not in self._deferred:
                    os.close(fd)
            self._flush_due()
            for batch in group:
                batch.done = True
        wal = self._wal
        if wal is not None and wal.due:
            try:
                self._flush_all()
                wal.checkpoint()
            except OSError:
                logger.exception("checkpoint of %s failed; it is retried later", wal.path)

    def _flush_due(self) -> None:
        """Write the deferred manifests that are due: all of them when no batch waits."""
        if not self._deferred:
            return
        with self._cond:
            idle = not self._queue
        for run_id, deferred in list(self._deferred.items()):
            deferred.groups += 1
            if idle or deferred.groups >= MAX_DEFERRED_GROUPS:
                self._flush(run_id)

    def _flush_all(self) -> None:
        for run_id in list(self._deferred):
            self._flush(run_id)

    def _flush(self, run_id: str) -> None:
        """Rename the run's deferred manifest into place and release its lock."""
        deferred = self._deferred.get(run_id)
        if deferred is None:
            return
        del self._deferred[run_id]
        try:
            self._journal().apply([deferred.op])
            self._manifests[run_id] = (
                _stat_key(self._store.root / deferred.op.path),
                deferred.manifest,
            )
        except OSError:
            # Written before the next group (unless the run moved on by then); the lock
            # is not held for it meanwhile.
            logger.exception("writing the manifest of run %r failed; retried later", run_id)
            self._unapplied.append(deferred.op)
            self._manifests.pop(run_id, None)
        finally:
            os.close(deferred.fd)

    def _journal(self) -> WriteAheadLog:
        if self._wal is None:
            self._wal = WriteAheadLog(self._store.root, self._checkpoint_bytes)
        return self._wal

    def _retry_unapplied(self) -> None:
        if self._unapplied:
            self._journal().apply(self._unapplied, replaying=True)
            self._unapplied = []

    def _apply(self, batch: _Batch, locks: dict[str, int]) -> None:
        """Write the batch's ops into the run files; its manifest (the newest of the batch)
        is deferred, and written at once by `_flush_due` unless more batches wait."""
        manifests = [op for op in batch.wal if isinstance(op, PutManifest)]
        rest = [op for op in batch.wal if not isinstance(op, PutManifest)]
        if rest and isinstance(rest[0], NewRun | DropRun):
            self._apply_run_op(batch, rest[0])
            return
        try:
            self._journal().apply(rest)
        except OSError as exc:
            # Written again before the next group, manifest included: an older deferred
            # manifest must not be written after it.
            self._unapplied.extend(batch.wal)
            self._manifests.pop(batch.run_id, None)
            self._deferred.pop(batch.run_id, None)
            batch.error = exc
            return
        if manifests:
            run_id = batch.run_id
            before = self._deferred.get(run_id)
            manifest = batch.result.updates[-1][0]
            groups = before.groups if before is not None else 0
            self._deferred[run_id] = _Deferred(manifests[-1], manifest, locks[run_id], groups)

    def _apply_run_op(self, batch: _Batch, op: NewRun | DropRun) -> None:
        """Create or remove a run folder; a creation that lost the race for its id (a
        direct writer took it meanwhile) is `RunExists`, and its journaled op, replayed,
        touches no readable file of the other run."""
        self._manifests.pop(batch.run_id, None)
        try:
            self._journal().apply([op])
        except FileExistsError:
            batch.error = _taken(batch.run_id)
        except OSError as exc:
            batch.error = exc  # not retried: the caller is told it is not created

    def _prepare(
        self,
        batch: _Batch,
        locks: dict[str, int],
        pending: dict[str, RunManifest],
        sizes: dict[str, int],
    ) -> None:
        """Turn the batch's ops into journal ops under its run's lock; an error stops the
        batch there (the ops before it are committed)."""
        store, run_id = self._store, batch.run_id
        if isinstance(batch.ops[0], _CreateRun | _DropRun):
            self._prepare_run_op(batch, batch.ops[0], locks)
            return
        try:
            if run_id not in locks:
                deferred = self._deferred.get(run_id)
                locks[run_id] = deferred.fd if deferred is not None else store._lock(run_id)
            for index, op in enumerate(batch.ops):
                match op:
                    case UpdateManifest(change=change):
                        manifest = self._current(run_id, pending)
                        try:
                            manifest, event = change(manifest)
                        except StepTransitionError as error:
                            batch.result.refused, batch.result.refused_at = error, index
                            return
                        pending[run_id] = manifest
                        directory = store.run_dir(run_id)
                        self._manifests[run_id] = ((0, 0, 0), manifest)
                        batch.wal.append(
                            PutManifest(
                                self._relative(directory / MANIFEST),
                                manifest.sequence,
                                _encoder.encode(manifest),
                            )
                        )
                        batch.wal.append(
                            self._line(directory / EVENTS, _encoder.encode(event), sizes)
                        )
                        batch.result.updates.append((manifest, event))
                    case PutOutput(step=step, value=value):
                        path = store._output_path(run_id, step)
                        batch.wal.append(PutFile(self._relative(path), _encoder.encode(value)))
                    case AppendTrace(record=record):
                        path = store._trace_path(run_id)
                        batch.wal.append(self._line(path, _encoder.encode(record), sizes))
                    case IndexOutput(cached=cached):
                        entry = store._cache_path(cached.fingerprint)
                        if entry is not None:
                            store._cache.mkdir(parents=True, exist_ok=True)
                            data = _encoder.encode(cached)
                            batch.wal.append(PutFile(self._relative(entry), data))
        except Exception as exc:
            batch.error = exc

    def _prepare_run_op(
        self, batch: _Batch, op: _CreateRun | _DropRun, locks: dict[str, int]
    ) -> None:
        store, run_id = self._store, batch.run_id
        try:
            folder = self._relative(store.run_dir(run_id))
            if isinstance(op, _DropRun):
                if run_id in self._deferred:  # its newest manifest: no longer to be written
                    os.close(self._deferred.pop(run_id).fd)
                    locks.pop(run_id, None)
                batch.wal.append(DropRun(folder))
            elif store.run_dir(run_id).exists() or run_id in locks:
                batch.error = _taken(run_id)
            else:
                batch.wal.append(NewRun(folder, list(op.files.items()), [OUTPUTS]))
        except Exception as exc:
            batch.error = exc

    def _current(self, run_id: str, pending: dict[str, RunManifest]) -> RunManifest:
        """The run's manifest as this group leaves it so far."""
        if run_id in pending:
            return pending[run_id]
        deferred = self._deferred.get(run_id)
        if deferred is not None:
            return deferred.manifest
        store = self._store
        path = store.run_dir(run_id) / MANIFEST
        cached = self._manifests.get(run_id)
        if cached is not None:
            try:
                key = _stat_key(path)
            except FileNotFoundError:
                raise _no_run(run_id) from None
            if key == cached[0]:
                return cached[1]
        manifest = store._repair_events(run_id)
        self._manifests[run_id] = (_stat_key(path), manifest)
        return manifest

    def _line(self, path: Path, line: bytes, sizes: dict[str, int]) -> WriteLine:
        """The journal op appending `line` to `path` (after the lines this group adds)."""
        key = str(path)
        offset = sizes.get(key)
        if offset is None:
            fd = os.open(path, os.O_RDWR)
            try:
                cut_torn_tail(fd)
                offset = os.lseek(fd, 0, os.SEEK_END)
            finally:
                os.close(fd)
        data = line + b"\n"
        sizes[key] = offset + len(data)
        return WriteLine(self._relative(path), offset, data)

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._store.root))


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size
