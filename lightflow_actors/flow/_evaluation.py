"""`AssetEvaluator`: resolve a workflow in a child process, never in the caller's.

Resolving executes asset files (their `DEFINITION`s are Python). A file that loops
forever, allocates without bound, raises, or calls `os._exit` must not hang, kill or
poison the server, so each resolution runs in a fresh child process with a memory limit
(`RLIMIT_AS`, set by the child on itself) and a time limit (a soft alarm inside the child
that names the line it interrupted, then a hard kill of its process group from here).
The children are forked by a fork server, `python -m lightflow_actors.flow._evaluator`
(started once, on the first resolution): it has imported the package and never runs asset
code, so each child starts clean in milliseconds instead of paying an interpreter start.
The child answers with one outcome frame; what went wrong becomes an `AssetError` whose
`failure` says how (specs/flow.md §1.1).

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
import socket
import subprocess
import sys
import threading
import time
import weakref
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
from ._resolved import ResolvedWorkflow, check_model_override

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
    warm_workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 4
    """Warm workers kept (ADR 0110): a child whose resolution ran no asset code but the
    files' own stays, and resolves the next requests of the same files, workflow, preset
    and model without a fork or executing a file again. 0: a fresh child every time."""


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
    model: str | None = None
    warm: bool = False  # may stay as a warm worker (its frames go to a socket)


class Ready(msgspec.Struct, frozen=True, tag="ready"):
    """The child started and limited itself; its time limit counts from here."""


class Loading(msgspec.Struct, frozen=True, tag="loading"):
    """The child is about to execute `path` (so a hard kill can still name the file)."""

    path: str


class Resolved(msgspec.Struct, frozen=True, tag="resolved"):
    """The resolution, and the sha256 of each file the child executed."""

    workflow: ResolvedWorkflow
    loaded: dict[str, str]
    warm: bool = False  # the child stays, waiting for the next request on its socket


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
    warm: bool = False


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
        self._children: set[int] = set()  # pids of the evaluations under way
        self._stopped: set[int] = set()  # pids killed by close()
        self._server: _ForkServer | None = None
        self._server_lock = threading.Lock()
        # Warm workers by (catalog digest, workflow, preset, model), least recently used
        # first (ADR 0110); each serves one request at a time.
        self._warm: OrderedDict[tuple[str, str, str, str], _WarmWorker] = OrderedDict()
        # Keys whose first child did not stay (its files define code resolution could
        # call): their resolutions always get a fresh child, no worker is tried again.
        self._cold: OrderedDict[tuple[str, str, str, str], None] = OrderedDict()
        # For tests and bench: cache misses (each resolved by a fresh child or a warm
        # worker), child processes started, and misses a warm worker resolved.
        self.evaluations = 0
        self.processes = 0
        self.warm_resolutions = 0

    def resolve(
        self,
        catalog: AssetCatalog,
        workflow: str,
        inputs: bytes | Mapping[str, JSONValue] = b"{}",
        preset: str | None = None,
        model: str | None = None,
    ) -> ResolvedWorkflow:
        """`resolve(catalog, workflow, inputs, preset, model)` evaluated in a child
        process."""
        catalog.info(workflow, "workflow")  # unknown: not_found at once, no process
        if preset is not None:
            catalog.info(preset, "preset")
        raw = bytes(inputs) if isinstance(inputs, bytes | bytearray | memoryview) else None
        if raw is None:
            raw = msgspec.json.encode(inputs)
        if model is not None:
            check_model_override(model)  # a bad name: invalid at once, no process
        key = _cache_key(catalog.digest, workflow, raw, preset, model)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit, cacheable = self._evaluate(catalog, workflow, raw, preset, model)
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
        """Kill every evaluation under way and the fork server; a later resolution starts
        a new one (the CLI never closes: the server exits when this process does)."""
        with self._lock:
            children = list(self._children)
            self._stopped.update(children)
            warm = list(self._warm.values())
            self._warm.clear()  # the same dict: the finalizer of `_fork` holds it
        for pid in children:
            _kill_group(pid)
        for worker in warm:
            worker.stop()
        with self._server_lock:
            if self._server is not None:
                self._server.stop()
                self._server = None

    # -- one child ------------------------------------------------------------------------

    def _evaluate(
        self,
        catalog: AssetCatalog,
        workflow: str,
        inputs: bytes,
        preset: str | None,
        model: str | None = None,
    ) -> tuple[ResolvedWorkflow | FlowError, bool]:
        warm_key = (catalog.digest, workflow, preset or "\0", model or "\0")
        request = EvaluationRequest(
            root=str(catalog.root),
            assets=catalog.list(),
            problems=catalog.problems,
            workflow=workflow,
            inputs=inputs,
            preset=preset,
            model=model,
            timeout_s=self.limits.timeout_s,
            memory_bytes=self.limits.memory_bytes,
            warm=self.limits.warm_workers > 0,
        )
        self.evaluations += 1
        with self._slots:
            answer = self._ask_warm(warm_key, request)
            if answer is None:
                answer = self._run_child(request, warm_key)
        output, timed_out, stopped = answer
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
        return AssetExited(
            where,
            1,
            "the evaluator process ended before answering (os._exit, a signal, the CPU-time "
            "limit, or memory exhausted in C code)",
        ), False

    def _run_child(
        self, request: EvaluationRequest, warm_key: tuple[str, str, str, str]
    ) -> tuple[bytes, bool, bool]:
        """A fresh child resolves `request`; one that answers `warm` is kept for `warm_key`
        (its socket stays open), unless a worker of that key is kept already."""
        with self._lock:
            stay = request.warm and warm_key not in self._warm and warm_key not in self._cold
        if not stay:
            request = msgspec.structs.replace(request, warm=False)
        pid, frames_fd = self._fork(_encoder.encode(request), socket_pair=stay)
        with self._lock:
            self._children.add(pid)
        self.processes += 1
        kept = False
        try:
            # Killed (with its process group) only while its pipe is open, so while it or
            # something it started still lives: the fork server reaps a child as soon as
            # it exits, and its pid may then be anybody's.
            output, timed_out = self._collect(pid, frames_fd)
            if stay and not timed_out:
                kept = self._keep_warm(warm_key, pid, frames_fd, output)
        finally:
            with self._lock:
                self._children.discard(pid)
                stopped = pid in self._stopped
                self._stopped.discard(pid)
            if not kept:
                os.close(frames_fd)
        return output, timed_out, stopped

    def _keep_warm(self, key: tuple[str, str, str, str], pid: int, fd: int, output: bytes) -> bool:
        """Keep the child as the warm worker of `key` if it said it stays."""
        frames = _decode_frames(output)
        final = frames[-1] if frames else None
        if not isinstance(final, Resolved | Refusal) or not final.warm:
            return False
        evicted: list[_WarmWorker] = []
        with self._lock:
            if pid in self._stopped or key in self._warm:
                return False
            self._warm[key] = _WarmWorker(pid, fd)
            while len(self._warm) > self.limits.warm_workers:
                evicted.append(self._warm.popitem(last=False)[1])
        for worker in evicted:
            worker.stop()
        return True

    def _ask_warm(
        self, key: tuple[str, str, str, str], request: EvaluationRequest
    ) -> tuple[bytes, bool, bool] | None:
        """Resolve `request` in the warm worker of `key`, if one is kept and idle; None
        when there is none (or it ended before answering: a fresh child then does it)."""
        with self._lock:
            worker = self._warm.get(key)
            if worker is None or worker.busy:
                return None
            worker.busy = True
            self._warm.move_to_end(key)
            self._children.add(worker.pid)
        raw = _encoder.encode(request)
        output, timed_out, answered, stays = b"", False, False, False
        try:
            try:
                os.write(worker.fd, len(raw).to_bytes(8, "big") + raw)
            except OSError:
                pass  # it ended meanwhile: a fresh child answers
            else:
                output, timed_out = self._collect(worker.pid, worker.fd)
                frames = _decode_frames(output)
                final = frames[-1] if frames else None
                answered = timed_out or isinstance(final, Resolved | Refusal)
                stays = isinstance(final, Resolved | Refusal) and final.warm
        finally:
            with self._lock:
                self._children.discard(worker.pid)
                stopped = worker.pid in self._stopped
                self._stopped.discard(worker.pid)
                worker.busy = False
                if not (answered and stays) and self._warm.get(key) is worker:
                    del self._warm[key]
        if not (answered and stays):
            worker.stop()
        if not answered and not stopped:
            if not worker.served:  # it never stayed: its files are not inert
                with self._lock:
                    self._cold[key] = None
                    while len(self._cold) > self._cache_size:
                        self._cold.popitem(last=False)
            return None
        worker.served += 1
        self.warm_resolutions += 1
        return output, timed_out, stopped

    def _fork(self, request: bytes, *, socket_pair: bool = False) -> tuple[int, int]:
        """A fresh evaluator child for `request`: its pid and the read end of its frames
        (with `socket_pair`, our end of a socket it also reads further requests from).

        The fork server is started on first use and again if it died (a second failure
        in a row is an error of the machine, raised as is)."""
        with self._server_lock:
            for attempt in (1, 2):
                if self._server is None:
                    self._server = _ForkServer.start()
                    # an evaluator dropped without `close` stops its warm workers (which the
                    # server forked: it reaps them) and then its server when collected (its
                    # socket closed, its process killed and reaped), never leaving them to
                    # the GC's warnings or to the end of the process; twice is harmless
                    weakref.finalize(self, _stop_server, self._server, self._warm, self._lock)
                try:
                    return self._server.fork(request, socket_pair=socket_pair)
                except OSError:
                    self._server.stop()
                    self._server = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _collect(self, pid: int, frames_fd: int) -> tuple[bytes, bool]:
        """Read the child's frames until its outcome frame (`Resolved` or `Refusal`), until
        it closes its end, or until its time is up.

        The time limit counts from the child's `Ready` frame (forked and limited), so a
        stalled start on a loaded machine does not eat the assets' time; the start itself
        gets `STARTUP_ALLOWANCE_S`. These are real-time waits on a real process, on a
        worker thread (like a socket timeout): not the actor loop's clock."""
        output = bytearray()
        deadline = time.monotonic() + STARTUP_ALLOWANCE_S
        ready = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(pid)
                return bytes(output), True
            readable, _, _ = select.select([frames_fd], [], [], remaining)
            if not readable:
                continue
            try:
                chunk = os.read(frames_fd, 1 << 16)
            except ConnectionResetError:  # a worker that exited with our request unread
                chunk = b""
            if not chunk:
                return bytes(output), False
            output += chunk
            if len(output) > MAX_OUTPUT_BYTES:
                _kill_group(pid)
                return b"", False
            frames = _decode_frames(bytes(output))
            if frames and isinstance(frames[-1], Resolved | Refusal):
                return bytes(output), False
            if not ready and any(isinstance(f, Ready) for f in frames):
                ready = True
                deadline = time.monotonic() + self.limits.timeout_s + HARD_KILL_GRACE_S


class _ForkServer:
    """The fork server process and our end of its socket.

    Protocol (specs/flow.md §1.1): we send an 8-byte length with the write end of a fresh
    pipe attached (`SCM_RIGHTS`), then the request; it forks a child that writes its frames
    to that pipe, and answers the child's pid (8 bytes). Children are reaped by the server
    (SIGCHLD ignored); we only kill them (their own process group) and read their pipe."""

    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.process = process
        self.sock = sock

    @classmethod
    def start(cls) -> _ForkServer:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = subprocess.Popen(
                [*_child_argv(), str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=_child_env(),
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a Ctrl-C to the server's group is not its business
            )
        finally:
            theirs.close()
        return cls(process, ours)

    def fork(self, request: bytes, *, socket_pair: bool = False) -> tuple[int, int]:
        if socket_pair:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            read_end, write_end = ours.detach(), theirs.detach()
        else:
            read_end, write_end = os.pipe()
        try:
            socket.send_fds(self.sock, [len(request).to_bytes(8, "big")], [write_end])
            self.sock.sendall(request)
            pid = int.from_bytes(_receive_exactly(self.sock, 8), "big")
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return pid, read_end

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class _WarmWorker:
    """A warm worker (ADR 0110): its pid and our end of its socket."""

    __slots__ = ("busy", "fd", "pid", "served")

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd
        self.busy = False
        self.served = 0  # requests answered after the first (none: it may not have stayed)

    def stop(self) -> None:
        """Close its socket (it exits on the end of file) and kill its process group."""
        _kill_group(self.pid)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _stop_server(
    server: _ForkServer,
    warm: OrderedDict[tuple[str, str, str, str], _WarmWorker],
    lock: threading.Lock,
) -> None:
    """Stop the warm workers in `warm` (the evaluator's own dict, guarded by its `lock`),
    then `server`."""
    with lock:
        workers = list(warm.values())
        warm.clear()
    for worker in workers:
        worker.stop()
    server.stop()


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError("the evaluator's fork server closed its socket")
        data += chunk
    return bytes(data)


def _cache_key(
    digest: str, workflow: str, inputs: bytes, preset: str | None, model: str | None
) -> str:
    h = hashlib.sha256()
    named = ((preset or "\0").encode(), (model or "\0").encode())
    for part in (digest.encode(), workflow.encode(), *named, inputs):
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


def _kill_group(pid: int) -> None:
    """Kill an evaluator child and whatever it started (it leads its own process group,
    once it has called `setsid`: until then, only the child itself exists to kill)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


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
