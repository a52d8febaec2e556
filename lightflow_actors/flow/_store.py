"""The run store: one folder per run under `<state>/lightflow/runs/<run_id>/`.

Files (the LightFlow contract): `request.json`, `resolved_workflow.json`, `manifest.json`
(replaced atomically), `events.jsonl` and `trace.jsonl` (fsynced line by line), and
`outputs/<step>.json`. A run is built in a staging folder and renamed into `runs/` in one
step, so a half-created run is never visible and two creators of one id cannot both win.

The store is stateless between calls (each call opens what it needs), so the CLI and a
running server can share a state folder; `update` takes an exclusive `flock` on the run
folder for the read-modify-write of the manifest.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import msgspec
import platformdirs

from lightflow_actors.cortex import atomic_write, fsync_dir
from lightflow_actors.isa import JSONValue

from ._errors import CorruptRun, InvalidRunId, RunExists, RunNotFound, StepNotFound
from ._files import append_line, last_line, read_lines, write_new_files
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


class RunRequest(msgspec.Struct, frozen=True):
    """What the run was created from (`request.json`)."""

    run_id: str
    workflow: str
    inputs: dict[str, JSONValue]
    created_at_ms: int
    preset: str | None = None


class CachedOutput(msgspec.Struct, frozen=True):
    """A succeeded step output, found by its input fingerprint."""

    fingerprint: str
    run_id: str
    step: str
    output: str


def _no_run(run_id: str) -> RunNotFound:
    return RunNotFound(f"no run {run_id!r}; `lightflow run list` shows the runs")


def _taken(run_id: str) -> RunExists:
    return RunExists(f"run {run_id!r} already exists; choose another id")


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/lightflow` (fallback `~/.local/state/lightflow`)."""
    return platformdirs.user_state_path("lightflow")


class RunStore:
    """Runs under `root/runs/` (root defaults to `default_state_dir()`)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else default_state_dir()
        self.runs = self.root / "runs"
        self._staging = self.root / "staging"
        self._cache = self.root / "cache"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / check_run_id(run_id)

    # -- creation ---------------------------------------------------------------

    def create(
        self, request: RunRequest, resolved: ResolvedWorkflow, manifest: RunManifest
    ) -> None:
        """Write a new run atomically; RunExists if the id is taken."""
        final = self.run_dir(request.run_id)
        if final.exists():
            raise _taken(request.run_id)
        self.runs.mkdir(parents=True, exist_ok=True)
        self._staging.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="run-", dir=self._staging))
        try:
            created = manifest.last_event
            (staging / OUTPUTS).mkdir()
            write_new_files(
                staging,
                {
                    REQUEST: _encoder.encode(request),
                    RESOLVED: _encoder.encode(resolved),
                    MANIFEST: _encoder.encode(manifest),
                    EVENTS: _encoder.encode(created) + b"\n" if created else b"",
                    TRACE: b"",
                },
            )
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

    # -- writing ----------------------------------------------------------------

    def update(
        self, run_id: str, change: Callable[[RunManifest], tuple[RunManifest, E]]
    ) -> tuple[RunManifest, E]:
        """Apply a manifest transition under the run's lock: write the manifest (holding
        the event as `last_event`), then append the event."""
        with self._locked(run_id):
            self._repair_events(run_id)
            manifest, event = change(self.manifest(run_id))
            directory = self.run_dir(run_id)
            atomic_write(directory / MANIFEST, _encoder.encode(manifest))
            append_line(directory / EVENTS, _encoder.encode(event))
            return manifest, event

    def append_trace(self, run_id: str, record: TraceRecord) -> None:
        path = self.run_dir(run_id) / TRACE
        if not path.is_file():
            raise _no_run(run_id)
        append_line(path, _encoder.encode(record))

    def next_trace_seq(self, run_id: str) -> int:
        return len(self._lines(run_id, TRACE)) + 1

    def write_output(self, run_id: str, step_id: str, value: JSONValue) -> str:
        """Store a step output atomically; returns its path relative to the run folder."""
        if not STEP_ID.fullmatch(step_id):
            raise StepNotFound(f"{step_id!r} is not a step id")
        relative = f"{OUTPUTS}/{step_id}.json"
        atomic_write(self.run_dir(run_id) / relative, _encoder.encode(value))
        return relative

    def recover(self, run_id: str) -> RunManifest:
        """Make the journal agree with the manifest after a crash; returns the manifest."""
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
        try:
            fd = os.open(self.run_dir(run_id), os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise _no_run(run_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # -- output cache -------------------------------------------------------------

    def remember_output(self, cached: CachedOutput) -> None:
        """Index a succeeded output by its fingerprint for later runs to reuse."""
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
