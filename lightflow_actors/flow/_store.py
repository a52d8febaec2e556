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
  sync for all of them, and only then into the run files (manifests coalesced, by a
  flusher thread: ADR 0118); a batch returns once its frame is durable. Groups are
  pipelined (ADR 0124): the next one is prepared and written while one syncs. One store per
  state folder group-commits at a time (`wal/group.lock`); any other falls back to direct
  writes.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    Frame,
    NewRun,
    PutCopy,
    PutFile,
    PutManifest,
    Segment,
    WalOp,
    WriteAheadLog,
    WriteLine,
    apply_op,
    replay_orphans,
)
from ._manifest import TERMINAL, RunManifest
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


class PutCopies(msgspec.Struct, frozen=True):
    """Files outside the run folder, under the store's root, that the run's commit carries
    (a journaled exchange's CortexFS files, ADR 0122): written in order, whole (temporary
    file and rename), never fsynced; with group commit they are in the journal frame, so
    a crash after the frame is durable writes them again on replay. A power loss after
    the checkpoint may take one back or leave it empty (readers treat an empty answer as
    none, as ADR 0117 says of relaxed answers)."""

    files: tuple[tuple[str, bytes], ...]  # (absolute path, bytes)


StoreOp = UpdateManifest | PutOutput | AppendTrace | IndexOutput | PutCopies


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

    def flush(self) -> None:
        """Write every manifest a group-committing store still holds in memory (they are
        durable in its journal already) and release those runs; nothing to do otherwise."""
        if self._group is not None:
            self._group.flush()

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
                case PutCopies(files=files):
                    for path, data in files:
                        self._inside_root(path)
                        atomic_write(Path(path), data, sync_dir=False, sync_file=False)
        return result

    def _inside_root(self, path: str) -> str:
        """`path` relative to the store root; `ValueError` when it is not under it."""
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            relative = Path("..")
        if ".." in relative.parts or not relative.parts:
            raise ValueError(f"{path} is not under the store root {self.root}")
        return str(relative)

    def enqueue(self, run_id: str, ops: Sequence[StoreOp]) -> QueuedCommit | None:
        """Queue `ops` for the next group without waiting (a group-committing store only;
        None otherwise): batches are journaled and applied in the order they were queued,
        whichever thread commits them. `QueuedCommit.wait()` (a blocking call, on a
        worker thread) leads or waits for the group and returns what `commit` would."""
        group = self._group
        if group is None:
            return None
        return QueuedCommit(group, group.enqueue(run_id, tuple(ops)))

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

    def may_have_cached(self, fingerprint: str) -> bool:
        """Whether the output cache index may hold `fingerprint`: False means certainly
        not, from one `stat` of its entry (cheap enough for the loop, ADR 0117)."""
        path = self._cache_path(fingerprint)
        return path is not None and os.path.lexists(path)

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


class QueuedCommit:
    """A batch queued by `RunStore.enqueue`: `wait()` returns once it is durable and
    applied (or raises what its group raised)."""

    __slots__ = ("_batch", "_group")

    def __init__(self, group: _GroupCommit, batch: _Batch) -> None:
        self._group = group
        self._batch = batch

    def wait(self) -> CommitResult:
        return self._group.wait(self._batch)

    def future(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[CommitResult] | None:
        """A future of `loop` with what `wait` would return, completed from the thread
        that commits the batch (`call_soon_threadsafe`): the store's committer threads
        lead its group, so no thread waits for it (ADR 0124). None where the store cannot
        start a thread (the deterministic scheduler): then `wait` on a worker thread."""
        future: asyncio.Future[CommitResult] = loop.create_future()
        batch = self._batch

        def settle() -> None:
            if future.done():
                return
            if batch.error is not None:
                future.set_exception(batch.error)
            else:
                future.set_result(batch.result)

        def done() -> None:  # on the committing thread
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody left to tell
                loop.call_soon_threadsafe(settle)

        if not self._group.watch(batch, done):
            return None
        return future


class _Batch:
    """One `commit` call waiting for its group (filled in by the group's leader)."""

    __slots__ = ("callback", "done", "error", "ops", "result", "run_id", "waiting", "wake", "wal")

    def __init__(self, run_id: str, ops: tuple[_BatchOp, ...]) -> None:
        self.run_id = run_id
        self.ops = ops
        self.result = CommitResult()
        self.wal: list[WalOp] = []
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Event()  # set when done, or when its writer is to lead
        self.waiting = False  # its writer called `wait` (`enqueue` then `wait` later)
        self.callback: Callable[[], None] | None = None  # called once done (`watch`)


class _Staged:
    """A group between its two stages (ADR 0124): prepared and written to the journal by
    stage 1, synced, applied and answered by stage 2."""

    __slots__ = ("batches", "claimed", "ends", "epoch", "error", "frame", "pending", "used")

    def __init__(self, batches: list[_Batch], epoch: int) -> None:
        self.batches = batches
        self.epoch = epoch  # the failed syncs counted when it was staged
        self.used: dict[str, _Held] = {}
        self.pending: dict[str, RunManifest] = {}  # each run's newest manifest in it
        self.ends: dict[str, tuple[_Held, int]] = {}  # journal-file ends after it
        self.claimed: set[str] = set()  # runs it creates
        self.frame: Frame | None = None
        self.error: BaseException | None = None  # the whole group failed


MAX_DEFERRED_GROUPS = 64
"""A run's manifest waits at most this many groups before the flusher writes it."""

MAX_COMMITTERS = 2
"""Committer threads per store: one stages a group while the other syncs the one before."""

COMMITTER_IDLE_S = 2.0
"""A committer thread exits after this long without a group to lead."""

FLUSHER_IDLE_S = 2.0
"""The manifest flusher thread exits after this long without work (started again on
demand), so a store nobody closes leaves no thread behind for long."""


class _Dirty:
    """A manifest journaled (durable) but not yet in `manifest.json`."""

    __slots__ = ("manifest", "op", "segment")

    def __init__(self, op: PutManifest, manifest: RunManifest, segment: Segment) -> None:
        self.op = op
        self.manifest = manifest
        self.segment = segment  # the journal segment holding `op`


class _Held:
    """A run whose `flock` the group-committing store holds between groups.

    Held from the first group that writes it until its newest manifest is in place and no
    group is using it; meanwhile no direct writer (the CLI) can change the run, so the
    manifest and the journal lines' ends kept here are the truth. Fields other than `fd`,
    `relative` and `offsets` (the leader's alone) are guarded by `_GroupCommit._state`;
    `write` serializes the manifest's writers (the flusher, the leader for a settled run).
    """

    __slots__ = (
        "acked",
        "busy",
        "dirty",
        "fd",
        "fds",
        "groups",
        "head",
        "manifest",
        "offsets",
        "relative",
        "since",
        "unapplied",
        "write",
    )

    def __init__(self, fd: int, manifest: RunManifest, relative: str) -> None:
        self.fd = fd
        self.manifest = manifest  # the newest durable one (journaled; what readers get)
        # Pipelined groups (ADR 0124): the newest manifest and journal-file ends as the
        # groups staged so far leave them (ahead of `manifest` and `acked` while a staged
        # group waits for its sync); stage 1's alone, put back to the durable ones when a
        # sync fails.
        self.head = manifest
        self.relative = relative  # the run folder, relative to the store root
        self.offsets: dict[str, int] = {}  # where the next line of a journal file goes
        self.acked: dict[str, int] = {}  # the same, as of the newest durable group
        self.fds: dict[str, int] = {}  # its journal files, open, by relative path
        self.dirty: _Dirty | None = None
        self.since = 0  # the index of the oldest segment with a manifest not yet written
        self.groups = 0  # groups committed since it became dirty
        self.busy = 0  # groups (staged or syncing) using it
        self.unapplied = 0  # its ops journaled whose write into its files failed
        self.write = threading.Lock()

    def close(self) -> None:
        """Close its files and release its lock."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        os.close(self.fd)


class _GroupCommit:
    """Group commit for one store (ADR 0066, ADR 0118, ADR 0124): leader/follower,
    pipelined in two stages, and a manifest flusher thread.

    A writer queues its batch; if no group is being staged it leads: it takes every batch
    queued so far (its own and those that queued meanwhile), prepares them under their
    runs' locks from the runs' state as the groups before left it, and writes them as one
    journal frame (stage 1, `_stage`). It then waits for the previous group's stage 2 and
    hands the lead on (to the writer of the oldest batch still queued, or to one of the
    committer threads that lead batches nobody waits for, `watch`), so the next group is
    staged while this one syncs (one `fdatasync`), writes the journal lines and outputs
    into the run files and wakes its writers (stage 2, `_finish`, under `_syncing`, in
    staging order). So a run's batches are journaled and applied in the order they were
    queued. A failed sync fails its group and the one staged on top of it (`_doom_if_lost`).

    Manifests are a materialized view of the journal (ADR 0118): the leader does not write
    them (a rename costs more than the whole journal append). A run's newest manifest stays
    in memory, *dirty*, with the run's `flock` held, and a flusher thread writes it, one
    write for however many transitions came meanwhile: when the queue is found empty after
    a group, after `MAX_DEFERRED_GROUPS` groups, and before the journal segment holding it
    is checkpointed. The leader writes it itself, before acknowledging, when the run
    settles, so a settled run's `manifest.json` is right by the time anyone hears of it.
    While a run is held this store's readers get its manifest from memory, and a direct
    writer (the CLI) waits for the lock rather than read a stale file.

    Journal segments are checkpointed off the commit path too: when the current one passes
    `checkpoint_bytes` the leader starts another, and the flusher writes the manifests the
    old one holds, fsyncs every file its ops wrote, and deletes it.
    """

    def __init__(self, store: RunStore, lock_fd: int, checkpoint_bytes: int) -> None:
        self._store = store
        self._lock_fd = lock_fd
        self._checkpoint_bytes = checkpoint_bytes
        self._queue: list[_Batch] = []
        # Guards the queue, `_leading` and `_exclusive_waiting`.
        self._cond = threading.Condition(threading.Lock())
        self._leading = False  # a leader is staging a group (or recover/close runs)
        self._exclusive_waiting = 0
        # Held by the group in stage 2 (sync, apply, answer). Its leader takes it before
        # handing the lead on, so stage 2 runs in the order the groups were staged.
        self._syncing = threading.Lock()
        self._failed_syncs = 0  # a staged group that saw fewer is built on a lost one
        self._sync_error: BaseException | None = None
        self._creating: set[str] = set()  # runs created by a staged group
        # Threads leading groups of batches nobody waits for (`watch`), under `_cond`.
        self._committers = 0
        self._committers_stop = False
        self._wal: WriteAheadLog | None = None
        # Guards what the leader shares with the flusher: the held runs and their dirty
        # manifests, the flusher's work, `_manifests` and `_unapplied`.
        self._state = threading.Lock()
        self._work = threading.Condition(self._state)
        self._runs: dict[str, _Held] = {}
        # The manifest last written per run not held, with the (inode, mtime, size) it was
        # written with: a writer elsewhere (the CLI) changes the key, and it is read again.
        self._manifests: dict[str, tuple[tuple[int, int, int], RunManifest]] = {}
        # Ops journaled but not yet written to the run files (a write failed), with their
        # segment and run: written again before the next group applies anything; the run
        # stays held (its state in memory is the truth) until they are.
        self._unapplied: list[tuple[Segment, str, WalOp]] = []
        self._requests: set[str] = set()  # runs whose manifest the flusher is to write
        self._segments: list[Segment] = []  # old segments to checkpoint, oldest first
        self._checkpoint_now = False  # the flusher is to try the checkpoints
        self._flusher: threading.Thread | None = None
        self._inline = False  # no flusher thread could be started: the leader flushes
        self._stopping = False

    def deferred_manifest(self, run_id: str) -> RunManifest | None:
        """The run's newest manifest while this store holds the run (any thread)."""
        held = self._runs.get(run_id)
        return None if held is None else held.manifest

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
        return self.wait(self.enqueue(run_id, ops))

    def enqueue(self, run_id: str, ops: tuple[_BatchOp, ...]) -> _Batch:
        """Queue a batch for the next group (any thread, without waiting)."""
        batch = _Batch(run_id, ops)
        with self._cond:
            self._queue.append(batch)
            if self._committers and not self._leading:
                self._cond.notify_all()  # an idle committer leads it
        return batch

    def watch(self, batch: _Batch, callback: Callable[[], None]) -> bool:
        """Call `callback` (on the committing thread) once `batch` is done, and have a
        committer thread lead its group; False, and nothing registered, when no thread
        can be started."""
        with self._cond:
            if self._committers_stop:
                return False
            if not batch.done:
                batch.callback = callback
            if self._committers < MAX_COMMITTERS:
                committer = threading.Thread(
                    target=self._commit_loop, name="run-store-committer", daemon=True
                )
                try:
                    committer.start()
                except Exception:
                    logger.debug("no committer thread; waiting on a worker thread", exc_info=True)
                    batch.callback = None
                    return False
                self._committers += 1
            elif not self._leading:
                self._cond.notify_all()
            if batch.callback is not None:
                return True
        callback()  # done already
        return True

    def _commit_loop(self) -> None:
        """A committer thread: lead whenever batches are queued and nobody leads. It
        leaves the count under the same hold of `_cond` as it decides to go, so a `watch`
        never counts on a committer that is leaving."""
        leaving = False
        try:
            while True:
                with self._cond:
                    while self._leading or self._exclusive_waiting or not self._queue:
                        if self._committers_stop or (
                            not self._cond.wait(COMMITTER_IDLE_S) and not self._queue
                        ):
                            leaving = True
                            self._committers -= 1
                            return
                    self._leading = True
                self._lead()
        finally:
            if not leaving:  # `_lead` raised
                with self._cond:
                    self._committers -= 1

    def wait(self, batch: _Batch) -> CommitResult:
        """Lead or wait until `batch` (queued by `enqueue`) is committed. A batch whose
        writer has not called this yet is committed by whoever leads next, and is never
        handed the lead (`_hand_on`)."""
        with self._cond:
            batch.waiting = True
            lead = not batch.done and not self._leading
            if lead:
                self._leading = True
        if not lead and not batch.done:
            batch.wake.wait()  # answered, or handed the lead
        if not batch.done:
            self._lead()
        if batch.error is not None:
            raise batch.error
        return batch.result

    def _lead(self) -> None:
        """Commit every batch queued as one group, pipelined (ADR 0124): stage it (prepare,
        write its frame), wait for the previous group's stage 2, hand the lead on (the
        next group stages while this one syncs), then sync, apply and answer it."""
        with self._cond:
            group, self._queue = self._queue, []
        try:
            staged = self._stage(group)
            self._syncing.acquire()
        except BaseException:
            self._hand_on()
            raise
        try:
            try:
                self._doom_if_lost(staged)
            finally:
                self._hand_on()
            self._finish(staged)
        finally:
            self._syncing.release()

    def _hand_on(self) -> None:
        """Give up the lead: to the writer of the oldest batch still queued (one thread
        woken, not every waiting one), or to a caller of `_exclusive` waiting for it."""
        with self._cond:
            if not self._exclusive_waiting:
                # The oldest batch whose writer waits (one queued by `enqueue` may have
                # none yet: it rides with the next group).
                waiting = next((b for b in self._queue if b.waiting), None)
                if waiting is not None:
                    waiting.wake.set()  # `_leading` stays set: that writer leads
                    return
            self._leading = False
            self._cond.notify_all()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Run alone, as a leader would (no group is committed meanwhile)."""
        with self._cond:
            self._exclusive_waiting += 1
            while self._leading:
                self._cond.wait()
            self._exclusive_waiting -= 1
            self._leading = True
        try:
            with self._syncing:  # and no group in stage 2
                yield
        finally:
            self._hand_on()

    def recover(self, run_id: str) -> RunManifest:
        """The run's manifest, its journal repaired, after every journaled write of it."""
        with self._exclusive():
            self._retry_unapplied()
            self._flush(run_id, strict=True)
            self._release(run_id)
            with self._state:
                self._manifests.pop(run_id, None)
            fd = self._store._lock(run_id)
            try:
                return self._store._repair_events(run_id)
            finally:
                os.close(fd)

    def flush(self) -> None:
        """Write every held run's manifest now and release the runs."""
        with self._exclusive():
            self._retry_unapplied()
            for run_id in list(self._runs):
                self._flush(run_id, strict=True)
                self._release(run_id)

    def close(self) -> None:
        """Stop the flusher, write every manifest, checkpoint and delete the journal."""
        self._stop_committers()
        with self._exclusive():
            try:
                with self._cond:  # queued by `enqueue`, their writers never waited
                    leftover, self._queue = self._queue, []
                if leftover:
                    self._commit_group(leftover)
                self._stop_flusher()
                self._retry_unapplied()
                for run_id in list(self._runs):
                    self._flush(run_id, strict=True)
                self._checkpoint_segments(strict=True)
                if self._wal is not None:
                    self._wal.close()
                    self._wal = None
            finally:
                for run_id in list(self._runs):
                    self._release(run_id)
                os.close(self._lock_fd)

    def abandon(self) -> None:
        """What a `kill -9` leaves (tests): the flusher stopped, every fd closed (locks
        released), nothing written."""
        self._stop_committers()
        self._stop_flusher()
        with self._state:
            self._requests.clear()
            segments, self._segments = self._segments, []
        for segment in segments:
            os.close(segment.fd)
        wal, self._wal = self._wal, None
        if wal is not None:
            os.close(wal.current.fd)
        for held in self._runs.values():
            held.close()
        self._runs.clear()
        os.close(self._lock_fd)

    # -- the leader ----------------------------------------------------------------------

    def _commit_group(self, group: list[_Batch]) -> None:
        """Both stages of one group, one after the other (`close`: no group in flight)."""
        staged = self._stage(group)
        self._doom_if_lost(staged)
        self._finish(staged)

    def _stage(self, group: list[_Batch]) -> _Staged:
        """Stage 1: prepare every batch from the runs' state as the groups staged before
        left it, write the group's frame (not synced), and make its state the runs' head
        for the next group. A failure fails the whole group (`_Staged.error`)."""
        staged = _Staged(group, self._failed_syncs)
        try:
            for batch in group:
                self._prepare(batch, staged)
            frame = [op for batch in group for op in batch.wal]
            if frame:
                self._rotate_if_due()
                staged.frame = self._journal().write(frame)
                with self._state:
                    staged.frame.segment.inflight += 1
        except BaseException as exc:
            staged.error = exc
            for batch in group:
                batch.error = exc
            return staged
        for run_id, manifest in staged.pending.items():
            staged.used[run_id].head = manifest
        for relative, (held, end) in staged.ends.items():
            held.offsets[relative] = end
        if staged.claimed:
            with self._state:
                self._creating |= staged.claimed
        return staged

    def _doom_if_lost(self, staged: _Staged) -> None:
        """With the lead and `_syncing` held: a group staged on top of one whose sync
        failed is lost with it (its frame follows a wiped one, its state built on one
        never durable): wiped, failed, its runs put back to their durable state."""
        if staged.error is not None or staged.epoch == self._failed_syncs:
            return
        error = self._sync_error
        assert error is not None
        staged.error = error
        for batch in staged.batches:
            batch.error = error
        if staged.frame is not None:
            self._journal().wipe(staged.frame)
        self._put_back(staged)

    def _put_back(self, staged: _Staged) -> None:
        for held in staged.used.values():
            held.head = held.manifest
            held.offsets = dict(held.acked)

    def _finish(self, staged: _Staged) -> None:
        """Stage 2: sync the group's frame, write what failed before, write its ops into
        the run files, answer its writers."""
        group, used = staged.batches, staged.used
        try:
            if staged.error is None and staged.frame is not None:
                wal = self._journal()
                try:
                    wal.sync(staged.frame)
                except BaseException as exc:
                    wal.wipe(staged.frame)
                    self._sync_error = exc
                    self._failed_syncs += 1
                    staged.error = exc
                    for batch in group:
                        batch.error = exc
                    self._put_back(staged)
                    raise
                for relative, (held, end) in staged.ends.items():
                    held.acked[relative] = end
                try:
                    self._retry_unapplied()
                except OSError as exc:  # this group's writes wait behind them
                    segment = staged.frame.segment
                    for batch in group:
                        self._unwritten(batch.run_id, used.get(batch.run_id), segment, batch.wal)
                        batch.error = exc
                    raise
            if staged.error is None:
                for batch in group:
                    self._apply(batch, staged)
        except Exception:
            pass  # every batch of the group carries the error to its writer
        finally:
            try:
                with self._state:
                    self._creating -= staged.claimed
                    if staged.frame is not None:
                        staged.frame.segment.inflight -= 1
                self._end_group(used)
            finally:
                self._answer(group)

    def _answer(self, group: list[_Batch]) -> None:
        with self._cond:  # `watch` registers callbacks under it
            for batch in group:
                batch.done = True
            callbacks = [b.callback for b in group if b.callback is not None]
        for batch in group:
            batch.wake.set()
        for callback in callbacks:
            callback()

    def _end_group(self, used: dict[str, _Held]) -> None:
        """Release the runs this group left clean; ask the flusher for the manifests that
        are due (all of them when no batch waits and no other group is staged)."""
        with self._cond:
            idle = not self._queue and not self._leading
        clean: list[_Held] = []
        with self._state:
            for run_id, held in used.items():
                held.busy -= 1
                if (
                    not held.busy
                    and held.dirty is None
                    and not held.unapplied
                    and self._runs.get(run_id) is held
                ):
                    del self._runs[run_id]
                    clean.append(held)
            for run_id, held in self._runs.items():
                if held.dirty is not None:
                    held.groups += 1
                    if idle or held.groups >= MAX_DEFERRED_GROUPS:
                        self._requests.add(run_id)
            if self._segments:
                self._checkpoint_now = True
            if self._requests or self._checkpoint_now:
                self._wake()
        for held in clean:
            held.close()
        if self._inline:
            self._flusher_work()

    def _rotate_if_due(self) -> None:
        """Start the next journal segment when the current one is full or broken (stage
        1, before a frame is written); the old one is checkpointed off the commit path
        once the groups in it are applied."""
        wal = self._wal
        if wal is None or not wal.due:
            return
        try:
            old = wal.rotate()
        except OSError:
            if wal.current.broken:
                raise  # no frame can go there
            logger.exception("starting a new journal segment failed; retried after a group")
            return
        with self._state:
            self._segments.append(old)
            self._checkpoint_now = True
            self._wake()
        if self._inline:
            self._flusher_work()

    def _journal(self) -> WriteAheadLog:
        if self._wal is None:
            self._wal = WriteAheadLog(self._store.root, self._checkpoint_bytes)
        return self._wal

    def _retry_unapplied(self) -> None:
        """Write the ops whose write failed (stage 2 or alone), oldest first; raises if one
        still cannot be. Their runs are held meanwhile, and released once written."""
        with self._state:
            unapplied = list(self._unapplied)
        if not unapplied:
            return
        wal = self._journal()
        for segment, run_id, op in unapplied:
            held = self._runs.get(run_id)
            if held is not None and isinstance(op, PutManifest):
                with held.write:  # not at once with the flusher
                    wal.apply([op], replaying=True, segment=segment)
            else:
                wal.apply([op], replaying=True, segment=segment)
            with self._state:
                self._unapplied.pop(0)
                if held is not None:
                    held.unapplied -= 1
                    if not held.unapplied:
                        self._requests.add(run_id)  # released by the flusher if clean
                        self._wake()

    def _hold(self, run_id: str, used: dict[str, _Held]) -> _Held:
        """The run, held for this group (its lock taken unless this store holds it)."""
        held = used.get(run_id)
        if held is not None:
            return held
        with self._state:
            held = self._runs.get(run_id)
            if held is not None:
                held.busy += 1
        if held is None:
            store = self._store
            fd = store._lock(run_id)
            try:
                manifest = self._read_manifest(run_id)
                held = _Held(fd, manifest, self._relative(store.run_dir(run_id)))
            except BaseException:
                os.close(fd)
                raise
            held.busy = 1
            with self._state:
                self._runs[run_id] = held
        used[run_id] = held
        return held

    def _read_manifest(self, run_id: str) -> RunManifest:
        """The manifest of a run not held (its lock just taken): from the file, unless the
        file is the one this store last wrote."""
        store = self._store
        path = store.run_dir(run_id) / MANIFEST
        with self._state:
            cached = self._manifests.get(run_id)
        if cached is not None:
            try:
                key = _stat_key(path)
            except FileNotFoundError:
                raise _no_run(run_id) from None
            if key == cached[0]:
                return cached[1]
        manifest = store._repair_events(run_id)
        with self._state:
            self._manifests[run_id] = (_stat_key(path), manifest)
        return manifest

    def _prepare(self, batch: _Batch, staged: _Staged) -> None:
        """Turn the batch's ops into journal ops under its run's lock; an error stops the
        batch there (the ops before it are committed)."""
        store, run_id = self._store, batch.run_id
        pending, ends = staged.pending, staged.ends
        if isinstance(batch.ops[0], _CreateRun | _DropRun):
            self._prepare_run_op(batch, batch.ops[0], staged)
            return
        try:
            held = self._hold(run_id, staged.used)
            for index, op in enumerate(batch.ops):
                match op:
                    case UpdateManifest(change=change):
                        manifest = pending.get(run_id, held.head)
                        try:
                            manifest, event = change(manifest)
                        except StepTransitionError as error:
                            batch.result.refused, batch.result.refused_at = error, index
                            return
                        pending[run_id] = manifest
                        batch.wal.append(
                            PutManifest(
                                f"{held.relative}/{MANIFEST}",
                                manifest.sequence,
                                _encoder.encode(manifest),
                            )
                        )
                        batch.wal.append(self._line(held, EVENTS, _encoder.encode(event), ends))
                        batch.result.updates.append((manifest, event))
                    case PutOutput(step=step, value=value):
                        if not STEP_ID.fullmatch(step):
                            raise StepNotFound(f"{step!r} is not a step id")
                        relative = f"{held.relative}/{OUTPUTS}/{step}.json"
                        batch.wal.append(PutFile(relative, _encoder.encode(value)))
                    case AppendTrace(record=record):
                        batch.wal.append(self._line(held, TRACE, _encoder.encode(record), ends))
                    case IndexOutput(cached=cached):
                        entry = store._cache_path(cached.fingerprint)
                        if entry is not None:
                            store._cache.mkdir(parents=True, exist_ok=True)
                            data = _encoder.encode(cached)
                            batch.wal.append(PutFile(self._relative(entry), data))
                    case PutCopies(files=files):
                        for path, data in files:
                            batch.wal.append(PutCopy(store._inside_root(path), data))
        except Exception as exc:
            batch.error = exc

    def _prepare_run_op(self, batch: _Batch, op: _CreateRun | _DropRun, staged: _Staged) -> None:
        store, run_id, claimed = self._store, batch.run_id, staged.claimed
        try:
            folder = self._relative(store.run_dir(run_id))
            if isinstance(op, _DropRun):
                batch.wal.append(DropRun(folder))
            elif (
                run_id in claimed
                or run_id in staged.used
                or run_id in self._creating  # by a group still syncing
                or run_id in self._runs
                or store.run_dir(run_id).exists()
            ):
                batch.error = _taken(run_id)
            else:
                claimed.add(run_id)
                batch.wal.append(NewRun(folder, list(op.files.items()), [OUTPUTS]))
        except Exception as exc:
            batch.error = exc

    def _line(
        self, held: _Held, name: str, line: bytes, ends: dict[str, tuple[_Held, int]]
    ) -> WriteLine:
        """The journal op appending `line` to the run's file `name` (after the lines this
        group adds)."""
        relative = f"{held.relative}/{name}"
        entry = ends.get(relative)
        offset = entry[1] if entry is not None else held.offsets.get(relative)
        if offset is None:
            fd = held.fds.get(relative)
            if fd is None:
                fd = os.open(self._store.root / relative, os.O_RDWR | os.O_NOFOLLOW)
                held.fds[relative] = fd  # kept open while the run is held
            cut_torn_tail(fd)
            offset = os.lseek(fd, 0, os.SEEK_END)
        data = line + b"\n"
        ends[relative] = (held, offset + len(data))
        return WriteLine(relative, offset, data)

    def _apply(self, batch: _Batch, staged: _Staged) -> None:
        """Write the batch's ops into the run files, except its manifest (the newest of the
        batch), left dirty for the flusher unless the run settled. The ops are durable: a
        write that fails is written again before the next group's (the run stays held)."""
        used = staged.used
        manifests = [op for op in batch.wal if isinstance(op, PutManifest)]
        rest = [op for op in batch.wal if not isinstance(op, PutManifest)]
        if rest and isinstance(rest[0], NewRun | DropRun):
            self._apply_run_op(batch, rest[0], used)
            return
        wal = self._journal()
        assert staged.frame is not None
        segment = staged.frame.segment
        run_id = batch.run_id
        held = used.get(run_id)
        try:
            wal.apply(rest, fds=held.fds if held is not None else None, segment=segment)
        except OSError as exc:
            error: OSError | None = exc
        else:
            error = None
        if held is None or not manifests:
            if error is not None:
                self._unwritten(run_id, held, segment, batch.wal)
                batch.error = error
            return
        newest, manifest = manifests[-1], batch.result.updates[-1][0]
        with self._state:  # durable: what this store's readers get from now on
            held.manifest = manifest
        if error is not None:
            self._unwritten(run_id, held, segment, batch.wal)
            batch.error = error
            return
        if manifest.status in TERMINAL:
            # Settled: in place before the writer is answered (and no flush is left).
            with held.write:
                try:
                    wal.apply([newest], segment=segment)
                    key = _stat_key(self._store.root / newest.path)
                except OSError as exc:
                    self._unwritten(run_id, held, segment, [newest])
                    batch.error = exc
                    return
                with self._state:
                    held.dirty = None
                    self._manifests[run_id] = (key, manifest)
            return
        wal.note(newest, segment)  # written before this segment's checkpoint
        with self._state:
            if held.dirty is None:
                held.since, held.groups = segment.index, 0
            held.dirty = _Dirty(newest, manifest, segment)

    def _unwritten(
        self,
        run_id: str,
        held: _Held | None,
        segment: Segment,
        ops: list[WalOp],
    ) -> None:
        """Ops journaled whose write failed: written again before the next group's."""
        with self._state:
            self._unapplied.extend((segment, run_id, op) for op in ops)
            if held is not None:
                held.unapplied += len(ops)
                if any(isinstance(op, PutManifest) for op in ops):
                    held.dirty = None  # a newer one is among them: not the older one

    def _apply_run_op(self, batch: _Batch, op: NewRun | DropRun, used: dict[str, _Held]) -> None:
        """Create or remove a run folder; a creation that lost the race for its id (a
        direct writer took it meanwhile) is `RunExists`, and its journaled op, replayed,
        touches no readable file of the other run."""
        run_id = batch.run_id
        if isinstance(op, DropRun):
            used.pop(run_id, None)
            self._forget(run_id)  # its newest manifest: no longer to be written
        with self._state:
            self._manifests.pop(run_id, None)
        try:
            self._journal().apply([op])
        except FileExistsError:
            batch.error = _taken(run_id)
        except OSError as exc:
            batch.error = exc  # not retried: the caller is told it is not created

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._store.root))

    # -- held runs ------------------------------------------------------------------------

    def _release(self, run_id: str) -> None:
        """Release a run whose manifest is written (or never to be): its lock, its state."""
        with self._state:
            held = self._runs.get(run_id)
        if held is None:
            return
        with held.write:  # not while the flusher writes it
            with self._state:
                if self._runs.get(run_id) is not held:
                    return
                del self._runs[run_id]
            held.close()

    def _forget(self, run_id: str) -> None:
        """Release a run without writing its dirty manifest (its folder is going)."""
        with self._state:
            held = self._runs.get(run_id)
        if held is None:
            return
        with held.write:
            with self._state:
                if self._runs.get(run_id) is not held:
                    return  # released meanwhile (the flusher wrote it)
                del self._runs[run_id]
                held.dirty = None
            held.close()

    # -- the flusher ----------------------------------------------------------------------

    def _wake(self) -> None:
        """Hand the flusher its work (called holding `_state`)."""
        if self._stopping:
            return
        self._work.notify()
        if self._flusher is None and not self._inline:
            flusher = threading.Thread(
                target=self._flush_loop, name="run-store-flusher", daemon=True
            )
            try:
                flusher.start()
            except Exception:
                # No thread here (the deterministic scheduler refuses them; the process is
                # out of threads): the leader does the flusher's work after each group.
                logger.debug(
                    "no manifest flusher thread; the leader writes manifests", exc_info=True
                )
                self._inline = True
            else:
                self._flusher = flusher

    def _stop_committers(self) -> None:
        """No committer thread leads again (they exit); later `watch` calls say so."""
        with self._cond:
            self._committers_stop = True
            self._cond.notify_all()

    def _stop_flusher(self) -> None:
        with self._state:
            self._stopping = True
            flusher = self._flusher
            self._work.notify_all()
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()

    def _flush_loop(self) -> None:
        while True:
            with self._state:
                while not self._requests and not self._checkpoint_now:
                    if self._stopping or (
                        not self._work.wait(FLUSHER_IDLE_S)
                        and not (self._requests or self._checkpoint_now)
                    ):
                        self._flusher = None
                        return
            self._flusher_work()

    def _flusher_work(self) -> None:
        """Write the manifests asked for, then try the checkpoints if asked."""
        with self._state:
            runs, self._requests = self._requests, set()
            checkpoint, self._checkpoint_now = self._checkpoint_now, False
        for run_id in sorted(runs):
            self._flush(run_id, strict=False)
        if checkpoint:
            self._checkpoint_segments(strict=False)

    def _flush(self, run_id: str, *, strict: bool) -> None:
        """Write the run's dirty manifest (any thread); release the run if no group uses it
        and nothing newer came meanwhile. A failed write leaves it dirty (it is durable in
        the journal, the lock stays held) and is raised when `strict`, else logged."""
        with self._state:
            held = self._runs.get(run_id)
        if held is None:
            return
        with held.write:
            with self._state:
                dirty = held.dirty
            if dirty is not None:
                target = self._store.root / dirty.op.path
                try:
                    apply_op(target, dirty.op, replaying=False)
                    key = _stat_key(target)
                except OSError:
                    if strict:
                        raise
                    logger.exception("writing the manifest of run %r failed; retried later", run_id)
                    return
            release = False
            with self._state:
                if dirty is not None:
                    self._manifests[run_id] = (key, dirty.manifest)
                    if held.dirty is dirty:
                        held.dirty = None
                    elif held.dirty is not None:
                        held.since = held.dirty.segment.index
                if (
                    held.dirty is None
                    and not held.busy
                    and not held.unapplied
                    and self._runs.get(run_id) is held
                ):
                    del self._runs[run_id]
                    release = True
            if release:
                held.close()

    def _checkpoint_segments(self, *, strict: bool) -> None:
        """Checkpoint the old segments, oldest first: write the manifests they hold, fsync
        what their ops wrote, delete them. One that cannot be yet (a write failed) waits,
        and the ones after it with it."""
        wal = self._wal
        while wal is not None:
            with self._state:
                if not self._segments:
                    return
                segment = self._segments[0]
                runs = [r for r, h in self._runs.items() if h.dirty and h.since <= segment.index]
            for run_id in runs:
                self._flush(run_id, strict=strict)
            with self._state:
                waiting = any(
                    h.dirty is not None and h.since <= segment.index for h in self._runs.values()
                ) or any(s is segment for s, _, _ in self._unapplied)
                waiting = waiting or segment.inflight > 0  # a group not yet applied
                files, dirs = list(segment.files), list(segment.dirs)
            if waiting:
                if strict:
                    raise OSError(f"journal segment {segment.path} holds writes not applied")
                return
            try:
                wal.finish(segment, files, dirs)
            except OSError:
                if strict:
                    raise
                logger.exception("checkpoint of %s failed; it is retried later", segment.path)
                return
            with self._state:
                self._segments.pop(0)


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size
