"""`AssetEvaluator`: resolve a workflow in a child process, never in the caller's.

Resolving executes asset files (their `DEFINITION`s are Python). A file that loops
forever, allocates without bound, raises, or calls `os._exit` must not hang, kill or
poison the server, so each resolution runs `python -m lightflow_actors.flow._evaluator`
with a memory limit (`RLIMIT_AS`, set by the child on itself) and a time limit (a soft
alarm inside the child that names the line it interrupted, then a hard kill of its
process group from here). The child answers with one outcome frame; what went wrong
becomes an `AssetError` whose `failure` says how (specs/flow.md §Evaluation).

Outcomes are cached by the content hash of the catalog (every asset file's sha256) and
the request, so the process start is paid once per change of the files or the request.
Timeouts, memory and exits are not cached: they depend on the machine as much as on the
file. This isolates crashes and resource use; it is not a security sandbox (the child
may read and write what the server may).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import msgspec

from lightflow_actors.isa import JSONValue

from ._assets import AssetCatalog, AssetInfo, AssetProblem
from ._errors import (
    AssetDefinitionError,
    AssetError,
    AssetExited,
    AssetKindMismatch,
    AssetLoadError,
    AssetMemoryExceeded,
    AssetSyntaxError,
    AssetTimeout,
    Conflict,
    DuplicateAssetId,
    FlowError,
    Invalid,
    InvalidInputs,
    MalformedMetadata,
    MissingModel,
    NotFound,
    TemplateError,
    UnknownAsset,
    WorkflowError,
)
from ._resolved import ResolvedWorkflow

__all__ = [
    "AssetEvaluator",
    "EvaluationLimits",
    "EvaluationOutcome",
    "EvaluationRequest",
]

HARD_KILL_GRACE_S = 1.0
"""How long after the soft alarm the child's process group is killed: enough for the
child to report the line the alarm interrupted, short enough that a loop in C code (which
the alarm cannot interrupt) does not hold a worker thread much longer."""

STARTUP_ALLOWANCE_S = 60.0
"""How long the child may take to start (import, limit itself) before its time limit
starts counting; only a machine in trouble comes near it."""

MAX_OUTPUT_BYTES = 64 << 20
"""More than this on the outcome pipe is a misbehaving child (refused, not decoded)."""


class EvaluationLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one evaluation may use: wall time, address space, and how many run at once."""

    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    memory_bytes: Annotated[int, msgspec.Meta(ge=64 << 20)] = 512 << 20
    max_concurrent: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4


class EvaluationRequest(msgspec.Struct, frozen=True):
    """What the parent sends the child on stdin (msgpack)."""

    root: str
    assets: list[AssetInfo]
    problems: list[AssetProblem]
    workflow: str
    inputs: bytes
    preset: str | None
    timeout_s: float
    memory_bytes: int


class Ready(msgspec.Struct, frozen=True, tag="ready"):
    """The child started and limited itself; its time limit counts from here."""


class Loading(msgspec.Struct, frozen=True, tag="loading"):
    """The child is about to execute `path` (so a hard kill can still name the file)."""

    path: str


class Resolved(msgspec.Struct, frozen=True, tag="resolved"):
    """The resolution, and the sha256 of each file the child executed."""

    workflow: ResolvedWorkflow
    loaded: dict[str, str]


class AssetLocation(msgspec.Struct, frozen=True):
    path: str
    line: int
    problem: str


class Refusal(msgspec.Struct, frozen=True, tag="refused"):
    """A flow error raised in the child: its class name, message, and file if any."""

    error: str
    message: str
    asset: AssetLocation | None = None
    loaded: dict[str, str] = {}


EvaluationOutcome = Ready | Loading | Resolved | Refusal

_ERRORS: dict[str, type[FlowError]] = {
    cls.__name__: cls
    for cls in (
        Invalid,
        NotFound,
        Conflict,
        InvalidInputs,
        TemplateError,
        WorkflowError,
        MissingModel,
        UnknownAsset,
    )
}
_ASSET_ERRORS: dict[str, type[AssetError]] = {
    cls.__name__: cls
    for cls in (
        AssetError,
        AssetSyntaxError,
        MalformedMetadata,
        AssetKindMismatch,
        DuplicateAssetId,
        AssetLoadError,
        AssetDefinitionError,
        AssetTimeout,
        AssetMemoryExceeded,
        AssetExited,
    )
}
_NOT_CACHED = (AssetTimeout, AssetMemoryExceeded, AssetExited)

_frames = msgspec.msgpack.Decoder(EvaluationOutcome)
_encoder = msgspec.msgpack.Encoder()


class AssetEvaluator:
    """Resolves workflows out of process, with limits, caching outcomes by content.

    >>> evaluator = AssetEvaluator(EvaluationLimits(timeout_s=5))
    >>> catalog = AssetCatalog.scan(root)
    >>> evaluator.resolve(catalog, "text-plan", b'{"topic": "tea"}')  # doctest: +SKIP

    Thread-safe: the runs host calls it from worker threads. `close()` kills the
    evaluations under way (a stopping server does not wait for them).
    """

    def __init__(self, limits: EvaluationLimits | None = None, cache_size: int = 256) -> None:
        self.limits = limits or EvaluationLimits()
        self._cache_size = cache_size
        self._cache: OrderedDict[str, ResolvedWorkflow | FlowError] = OrderedDict()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.limits.max_concurrent)
        self._children: set[subprocess.Popen[bytes]] = set()
        self._stopped: set[int] = set()  # pids killed by close()
        self.evaluations = 0  # child processes started (cache misses), for tests and bench

    def resolve(
        self,
        catalog: AssetCatalog,
        workflow: str,
        inputs: bytes | Mapping[str, JSONValue] = b"{}",
        preset: str | None = None,
    ) -> ResolvedWorkflow:
        """`resolve(catalog, workflow, inputs, preset)` evaluated in a child process."""
        catalog.info(workflow, "workflow")  # unknown: not_found at once, no process
        if preset is not None:
            catalog.info(preset, "preset")
        raw = bytes(inputs) if isinstance(inputs, bytes | bytearray | memoryview) else None
        if raw is None:
            raw = msgspec.json.encode(inputs)
        key = _cache_key(catalog.digest, workflow, raw, preset)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit, cacheable = self._evaluate(catalog, workflow, raw, preset)
            if cacheable:
                with self._lock:
                    self._cache[key] = hit
                    while len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        if isinstance(hit, FlowError):
            # A fresh copy per raise: a cached exception object must not collect tracebacks.
            raise _copy_error(hit)
        return hit

    def close(self) -> None:
        """Kill every evaluation under way; later ones still run (the CLI never closes)."""
        with self._lock:
            children = list(self._children)
            self._stopped.update(child.pid for child in children)
        for child in children:
            _kill_group(child)

    # -- one child ------------------------------------------------------------------------

    def _evaluate(
        self, catalog: AssetCatalog, workflow: str, inputs: bytes, preset: str | None
    ) -> tuple[ResolvedWorkflow | FlowError, bool]:
        request = EvaluationRequest(
            root=str(catalog.root),
            assets=catalog.list(),
            problems=catalog.problems,
            workflow=workflow,
            inputs=inputs,
            preset=preset,
            timeout_s=self.limits.timeout_s,
            memory_bytes=self.limits.memory_bytes,
        )
        with self._slots:
            output, returncode, timed_out, stopped = self._run_child(_encoder.encode(request))
        frames = _decode_frames(output)
        last_path = next((f.path for f in reversed(frames) if isinstance(f, Loading)), None)
        final = frames[-1] if frames and isinstance(frames[-1], Resolved | Refusal) else None
        if isinstance(final, Resolved):
            fresh = all(catalog.digests.get(p) == d for p, d in final.loaded.items())
            return final.workflow, fresh
        if isinstance(final, Refusal):
            error = _error_of(final)
            fresh = all(catalog.digests.get(p) == d for p, d in final.loaded.items())
            return error, fresh and not isinstance(error, _NOT_CACHED)
        where = Path(last_path) if last_path else _workflow_path(catalog, workflow)
        if stopped:
            return AssetExited(where, 1, "evaluation stopped: the server is shutting down"), False
        if timed_out and not any(isinstance(f, Ready) for f in frames):
            return AssetTimeout(
                where,
                1,
                f"the evaluator process did not start within {STARTUP_ALLOWANCE_S:g} s "
                "(is the machine overloaded?); try again",
            ), False
        if timed_out:
            return AssetTimeout(
                where,
                1,
                f"evaluating the asset took longer than {self.limits.timeout_s:g} s and was "
                "stopped (a loop at top level?); raise `evaluation.timeout_s` if it is slow",
            ), False
        if returncode is not None and returncode < 0:
            how = f"was killed by signal {signal.Signals(-returncode).name}"
            if -returncode == signal.SIGXCPU:
                return AssetTimeout(where, 1, f"evaluating the asset {how} (CPU time)"), False
        else:
            how = f"exited with status {returncode} before answering"
        return AssetExited(
            where,
            1,
            f"the evaluator process {how} (os._exit, a crash, or memory exhaustion in C code)",
        ), False

    def _run_child(self, request: bytes) -> tuple[bytes, int | None, bool, bool]:
        child = subprocess.Popen(
            _child_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_child_env(),
            start_new_session=True,  # its own process group: a kill reaches its children
        )
        with self._lock:
            self._children.add(child)
        self.evaluations += 1
        try:
            output, timed_out = self._collect(child, request)
            child.wait()
        finally:
            _kill_group(child)  # on a timeout, and any grandchildren it may have left
            with self._lock:
                self._children.discard(child)
                stopped = child.pid in self._stopped
                self._stopped.discard(child.pid)
        return output, child.returncode, timed_out, stopped

    def _collect(self, child: subprocess.Popen[bytes], request: bytes) -> tuple[bytes, bool]:
        """Write the request, then read the child's frames until it closes its end or its
        time is up (one `select` loop: no helper thread, which the deterministic
        scheduler would refuse; a request larger than the pipe is written as it drains).

        The time limit counts from the child's `Ready` frame (interpreter started and
        limited), so a slow start on a loaded machine does not eat the assets' time; the
        start itself gets `STARTUP_ALLOWANCE_S`. These are real-time waits on a real
        process, on a worker thread (like a socket timeout): not the actor loop's clock."""
        assert child.stdin is not None and child.stdout is not None
        out_fd, in_fd = child.stdout.fileno(), child.stdin.fileno()
        os.set_blocking(in_fd, False)
        pending: memoryview | None = memoryview(request)
        output = bytearray()
        deadline = time.monotonic() + STARTUP_ALLOWANCE_S
        ready = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(child)
                return bytes(output), True
            writers = [in_fd] if pending is not None else []
            readable, writable, _ = select.select([out_fd], writers, [], remaining)
            if writable and pending is not None:
                try:
                    pending = pending[os.write(in_fd, pending) :]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # the child is gone (broken pipe): read what it left
                    pending = memoryview(b"")
                if not pending:
                    with contextlib.suppress(OSError):
                        child.stdin.close()
                    pending = None
            if not readable:
                continue
            chunk = os.read(out_fd, 1 << 16)
            if not chunk:
                return bytes(output), False
            output += chunk
            if len(output) > MAX_OUTPUT_BYTES:
                _kill_group(child)
                return b"", False
            if not ready and any(isinstance(f, Ready) for f in _decode_frames(bytes(output))):
                ready = True
                deadline = time.monotonic() + self.limits.timeout_s + HARD_KILL_GRACE_S


def _cache_key(digest: str, workflow: str, inputs: bytes, preset: str | None) -> str:
    h = hashlib.sha256()
    for part in (digest.encode(), workflow.encode(), (preset or "\0").encode(), inputs):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _child_argv() -> list[str]:
    # -P: the current directory is not put on sys.path (a stray `msgspec.py` there must
    # not shadow the real one); the package is found through PYTHONPATH below.
    return [sys.executable, "-P", "-m", "lightflow_actors.flow._evaluator"]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.pop("PYTHONSTARTUP", None)
    return env


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.kill()


def _decode_frames(output: bytes) -> list[EvaluationOutcome]:
    """The complete frames (4-byte big-endian length, then msgpack) in `output`."""
    frames: list[EvaluationOutcome] = []
    at = 0
    while at + 4 <= len(output):
        size = int.from_bytes(output[at : at + 4], "big")
        body = output[at + 4 : at + 4 + size]
        if len(body) < size:
            break
        try:
            frames.append(_frames.decode(body))
        except msgspec.DecodeError:
            break
        at += 4 + size
    return frames


def encode_frame(frame: EvaluationOutcome) -> bytes:
    body = _encoder.encode(frame)
    return len(body).to_bytes(4, "big") + body


def _error_of(refusal: Refusal) -> FlowError:
    if refusal.asset is not None:
        cls = _ASSET_ERRORS.get(refusal.error, AssetLoadError)
        a = refusal.asset
        return cls(Path(a.path), a.line, a.problem)
    return _ERRORS.get(refusal.error, Invalid)(refusal.message)


def _copy_error(error: FlowError) -> FlowError:
    if isinstance(error, AssetError):
        return type(error)(error.path, error.line, error.problem)
    return type(error)(str(error))


def _workflow_path(catalog: AssetCatalog, workflow: str) -> Path:
    try:
        return Path(catalog.info(workflow).path)
    except NotFound:
        return catalog.root
