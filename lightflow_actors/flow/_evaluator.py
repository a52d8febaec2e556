"""The evaluator's fork server: `python -m lightflow_actors.flow._evaluator <socket fd>`.

The server imports what resolution needs, then forks one child per request it receives
on its socket (see `_evaluation._ForkServer` for the protocol) and never runs asset code
itself, so every child starts clean. A child leads its own session, limits itself
(`RLIMIT_AS` to the request's memory, a real-time alarm at its timeout, a CPU-time limit a
little later, no core files), resolves the workflow, and writes length-prefixed frames on
the pipe it was given: `Ready` once limited, a `Loading` before each asset file it
executes, then one `Resolved` or `Refusal`.
Asset code sees stdout and stdin redirected (it cannot corrupt the frames by printing),
and `os._exit` raising instead of exiting, so the line that called it can be named.
Nothing here runs in a server: only this child executes asset files.

A child asked to stay (`EvaluationRequest.warm`, given a socket instead of a pipe) stays
as a *warm worker* when the files it executed left nothing a resolution could call
(ADR 0110, `_inert`): no class of theirs has a method, property or other descriptor (an
inputs struct's `__post_init__`, a validator), and no function of theirs is held anywhere
but as a top-level name of its own file. Resolving then runs library code only, on data.
It reads further requests for the same files on its socket (`<u64 length><msgpack
EvaluationRequest>`) and answers each with the same frames; a resolution that executes a
file (one changed meanwhile) or fails otherwise is answered and the worker exits. So no
asset code runs in a process that served another resolution.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import signal
import socket
import sys
import types
from pathlib import Path
from typing import NoReturn

import msgspec

from ._assets import AssetCatalog, AssetInfo
from ._definition import Definition
from ._errors import (
    AssetError,
    AssetExited,
    AssetLoadError,
    AssetMemoryExceeded,
    AssetTimeout,
    FlowError,
)
from ._evaluation import (
    AssetLocation,
    EvaluationOutcome,
    EvaluationRequest,
    Loading,
    Ready,
    Refusal,
    Resolved,
    encode_frame,
)
from ._resolve import resolve


class _OutOfTime(BaseException):
    """Raised by the alarm in whatever code runs (a BaseException: `except Exception` in
    an asset does not swallow it)."""


class _Exited(BaseException):
    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


class _ReportingCatalog(AssetCatalog):
    """Announces each file before executing it, so a hard kill still names it."""

    def __init__(self, request: EvaluationRequest, out: int) -> None:
        super().__init__(Path(request.root), request.assets, request.problems)
        self.problems = list(request.problems)  # as scanned by the parent, not re-derived
        self._out = out
        self.current: str | None = None
        self.loading = False  # a file is being executed (its own code may run)
        self.inert = False  # the executed files left nothing resolution calls (`_inert`)

    def _load_path(self, info: AssetInfo) -> Definition:
        self.current = info.path
        _write(self._out, Loading(info.path))
        self.loading = True
        try:
            return super()._load_path(info)
        finally:
            self.loading = False


def serve(sock: socket.socket) -> NoReturn:
    """Fork a child per request until the parent closes its end of the socket."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they exit
    while True:
        try:
            header, fds, _, _ = socket.recv_fds(sock, 8, 1)
        except OSError:
            os._exit(0)
        if len(header) < 8 or len(fds) != 1:
            os._exit(0)  # the parent is gone (or spoke nonsense): nothing left to serve
        size = int.from_bytes(header, "big")
        raw = bytearray()
        while len(raw) < size:
            chunk = sock.recv(min(size - len(raw), 1 << 20))
            if not chunk:
                os._exit(0)
            raw += chunk
        pid = os.fork()
        if pid == 0:
            sock.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its own subprocesses as usual
            os.setsid()  # its own process group: the parent's kill reaches all it starts
            try:
                evaluate(bytes(raw), fds[0])
            finally:
                os._exit(70)  # never back into this loop: only the server serves
        os.close(fds[0])
        sock.sendall(pid.to_bytes(8, "big"))


def evaluate(raw: bytes, out: int) -> NoReturn:
    """Resolve the request in `raw` in this (forked) process, writing frames to `out`;
    then, a warm worker, the next requests read from `out` while each stays warm."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # print() in an asset goes where stderr goes, never into the frames
    request = msgspec.msgpack.decode(raw, type=EvaluationRequest)
    _limit(request)
    catalog = _ReportingCatalog(request, out)
    real_exit = os._exit
    os._exit = _refuse_exit  # type: ignore[assignment]
    paths = {info.path for info in request.assets}
    outcome = _resolve_one(request, catalog, paths, first=True)
    _write(out, outcome)
    # Checked after answering (it walks every object: too slow for the answer to wait);
    # a worker that may not stay exits, and the parent, finding it gone at its next
    # request, starts a fresh child for that one and no worker for these files again.
    while outcome.warm and (catalog.inert or _inert(paths)):
        catalog.inert = True
        raw_next = _read_request(out)
        if raw_next is None:
            break  # the parent closed its end: no more requests
        try:
            request = msgspec.msgpack.decode(raw_next, type=EvaluationRequest)
        except msgspec.DecodeError:
            break
        _limit_cpu(request)
        outcome = _resolve_one(request, catalog, paths, first=False)
        _write(out, outcome)
    real_exit(0)  # no interpreter teardown: nothing an asset registered (atexit) runs


def _resolve_one(
    request: EvaluationRequest, catalog: _ReportingCatalog, paths: set[str], *, first: bool
) -> Resolved | Refusal:
    """One resolution with its time limit; its outcome says whether this process may
    serve another (`warm`): it was asked to, and no asset code ran but the files' own."""
    out = catalog._out
    loaded_before = dict(catalog.loaded_files)
    outcome: Resolved | Refusal
    _write(out, Ready())  # the parent's hard deadline counts from here
    try:
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, request.timeout_s)
        try:
            resolved = resolve(
                catalog, request.workflow, request.inputs, request.preset, request.model
            )
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        outcome = Resolved(resolved, catalog.loaded_files)
    except AssetError as exc:
        return _refusal(exc, catalog)
    except FlowError as exc:
        outcome = Refusal(type(exc).__name__, str(exc), None, catalog.loaded_files)
    except _OutOfTime as exc:
        path, line = _blame(exc, paths, catalog, request)
        error: AssetError = AssetTimeout(
            path,
            line,
            f"evaluating the asset took longer than {request.timeout_s:g} s and was stopped "
            "here (a loop at top level?); raise `evaluation.timeout_s` if it is only slow",
        )
        return _refusal(error, catalog)
    except _Exited as exc:
        path, line = _blame(exc, paths, catalog, request)
        error = AssetExited(path, line, f"the asset called os._exit({exc.code!r})")
        return _refusal(error, catalog)
    except MemoryError as exc:
        path, line = _blame(exc, paths, catalog, request)
        error = AssetMemoryExceeded(
            path,
            line,
            f"evaluating the asset needed more than {request.memory_bytes >> 20} MiB "
            "(`evaluation.memory_mb`)",
        )
        return _refusal(error, catalog)
    except BaseException as exc:  # a DEFINITION that breaks resolve() in an unforeseen way
        if _asset_frame(exc, paths) is None:  # nothing of an asset file on the stack
            message = f"resolving workflow {request.workflow!r} failed: {exc!r}"
            return Refusal("Invalid", message, None, catalog.loaded_files)
        path, line = _blame(exc, paths, catalog, request)
        error = AssetLoadError(path, line, f"resolving the workflow failed: {exc!r}")
        return _refusal(error, catalog)
    # Stay only if no file was executed again since the first (whose files `_inert` then
    # checks): this process is then as loading the files left it, for the next
    # resolution of the same files.
    if request.warm and (first or catalog.loaded_files == loaded_before):
        return msgspec.structs.replace(outcome, warm=True)
    return outcome


_DATA = (type, types.MemberDescriptorType, types.GetSetDescriptorType)


def _inert(paths: set[str]) -> bool:
    """Whether the asset files executed here left nothing resolving a workflow could call:
    no class they defined has a method, property or other descriptor in its own namespace
    (a struct's fields are slots: data; a `__post_init__` or validator is code that
    converting inputs would run), and every function they defined is held only as a
    top-level name of its own file (never called by resolution, which reads data)."""
    modules = {m.__name__: m for m in list(sys.modules.values()) if _is_asset_module(m, paths)}
    namespaces = {id(vars(m)) for m in modules.values()}
    functions = []
    for obj in gc.get_objects():
        if isinstance(obj, type) and obj.__module__ in modules:
            for value in vars(obj).values():
                if isinstance(value, _DATA):
                    continue
                if callable(value) or hasattr(type(value), "__get__"):
                    return False
        elif isinstance(obj, types.FunctionType) and obj.__code__.co_filename in paths:
            functions.append(obj)
    if not functions:
        return True
    found = [id(f) for f in functions]
    holders = gc.get_referrers(*functions)
    # The list just built holds them too, and so does the frame building it.
    return all(id(r) in namespaces for r in holders if r is not functions and id(r) not in found)


def _is_asset_module(module: object, paths: set[str]) -> bool:
    return isinstance(module, types.ModuleType) and getattr(module, "__file__", None) in paths


def _read_request(fd: int) -> bytes | None:
    """The next request on a warm worker's socket (`<u64 length><msgpack>`), or None when
    the parent closed it."""
    header = _read_exactly(fd, 8)
    if header is None:
        return None
    return _read_exactly(fd, int.from_bytes(header, "big"))


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _limit(request: EvaluationRequest) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _lower(resource.RLIMIT_AS, request.memory_bytes)
    cpu = math.ceil(request.timeout_s) + 2
    if request.warm:
        _limit_cpu(request)  # a worker that may stay: its hard limit must allow the next
    else:
        _lower(resource.RLIMIT_CPU, cpu, cpu + 1)


def _limit_cpu(request: EvaluationRequest) -> None:
    """This request's CPU time on top of what the process used so far (soft limit only:
    a warm worker serves several requests, each with its own allowance)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    soft = used + math.ceil(request.timeout_s) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _lower(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit (never above what this process may already use)."""
    _, current_hard = resource.getrlimit(which)
    ceiling = current_hard if current_hard != resource.RLIM_INFINITY else None
    new_hard = hard if hard is not None else soft
    if ceiling is not None:
        soft, new_hard = min(soft, ceiling), min(new_hard, ceiling)
    resource.setrlimit(which, (soft, new_hard))


def _alarm(signum: int, frame: types.FrameType | None) -> None:
    raise _OutOfTime()


def _refuse_exit(code: object = 0) -> NoReturn:
    raise _Exited(code)


def _blame(
    exc: BaseException, paths: set[str], catalog: _ReportingCatalog, request: EvaluationRequest
) -> tuple[Path, int]:
    """The deepest traceback frame in an asset file; else the file being executed (line
    1); else the workflow's own file."""
    found = _asset_frame(exc, paths)
    if found is not None:
        return Path(found[0]), found[1]
    if catalog.current is not None:
        return Path(catalog.current), 1
    for info in request.assets:
        if info.id == request.workflow:
            return Path(info.path), 1
    return Path(request.root), 1


def _asset_frame(exc: BaseException, paths: set[str]) -> tuple[str, int] | None:
    """The deepest traceback frame in an asset file, if any."""
    found: tuple[str, int] | None = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in paths:
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _refusal(error: AssetError, catalog: AssetCatalog) -> Refusal:
    where = AssetLocation(str(error.path), error.line, error.problem)
    return Refusal(type(error).__name__, str(error), where, catalog.loaded_files)


def _write(fd: int, frame: EvaluationOutcome) -> None:
    data = memoryview(encode_frame(frame))
    while data:
        written = os.write(fd, data)
        data = data[written:]


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
