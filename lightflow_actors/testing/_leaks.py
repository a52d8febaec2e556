"""The determinism self-check: run a seed twice, diff the traces, name the likely cause.

Same seed, same trace is the harness's promise; code under test can break it by reading
something the scheduler does not control. While a checked run executes, the usual
suspects are watched and every call from code outside the standard library and this
package is recorded with its call site:

- the wall clock: ``time.time``, ``time.time_ns``, ``time.monotonic``,
  ``time.monotonic_ns``, ``time.perf_counter``, ``time.perf_counter_ns`` (called through
  the module: ``datetime.now()`` reads the clock in C and shows only as a divergence);
- the global ``random`` module's functions (``random.random``, ``randint``, ``choice``,
  ...), ``os.urandom``, ``uuid.uuid1`` and ``uuid.uuid4``;
- real I/O the loop does not refuse: files opened, directories listed, sockets (through
  the interpreter's audit events).

A divergence is named by its first differing event; the recorded calls say why. With no
recorded call, the usual cause is iterating a ``set`` or ``dict`` keyed by objects hashed by
identity (their order follows memory addresses).
"""

from __future__ import annotations

import functools
import os
import random
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from ._trace import Trace, TraceEvent

_TIME_FUNCTIONS = (
    "time",
    "time_ns",
    "monotonic",
    "monotonic_ns",
    "perf_counter",
    "perf_counter_ns",
)
_RANDOM_FUNCTIONS = (
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "uniform",
    "getrandbits",
    "randbytes",
    "gauss",
)
_AUDIT_EVENTS = {
    "open": "real I/O: open",
    "os.listdir": "real I/O: os.listdir",
    "os.scandir": "real I/O: os.scandir",
    "socket.connect": "real I/O: socket.connect",
    "socket.bind": "real I/O: socket.bind",
    "socket.getaddrinfo": "real I/O: socket.getaddrinfo",
    "subprocess.Popen": "real I/O: subprocess.Popen",
}

_PACKAGE = str(Path(__file__).resolve().parent)
_STDLIB = tuple(
    str(Path(p).resolve())
    for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
)
_SKIP_PARTS = ("/site-packages/msgspec/", "/site-packages/hypothesis/", "/_pytest/", "/pluggy/")


class Source:
    """One source of nondeterminism a run used: what, where, and how often."""

    __slots__ = ("count", "what", "where")

    def __init__(self, what: str, where: str) -> None:
        self.what = what
        self.where = where
        self.count = 0

    def __str__(self) -> str:
        times = f" ({self.count} calls)" if self.count > 1 else ""
        return f"{self.what} at {self.where}{times}"


class _Watch:
    """What the watched runs recorded (the loop thread only)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.sources: dict[tuple[str, str], Source] = {}
        self.busy = False

    def record(self, what: str, frame: FrameType | None) -> None:
        if self.busy or threading.get_ident() != self.thread:
            return
        self.busy = True
        try:
            where = _user_site(frame)
            if where is None:
                return
            key = (what, where)
            source = self.sources.get(key)
            if source is None:
                source = self.sources[key] = Source(what, where)
            source.count += 1
        finally:
            self.busy = False


_current: _Watch | None = None
_audit_installed = False
_lock = threading.Lock()


@functools.lru_cache(maxsize=1024)
def _user_file(filename: str) -> str | None:
    """The resolved path of a call site's file, or None if it is not user code."""
    resolved = str(Path(filename).resolve())
    if resolved.startswith(_PACKAGE) or resolved.startswith(_STDLIB) or "<frozen" in filename:
        return None
    if any(part in resolved for part in _SKIP_PARTS):
        return None
    return resolved


def _shown(filename: str) -> str | None:
    """How a call site's file is shown (relative to the working directory when inside it),
    or None if it is not user code."""
    resolved = _user_file(filename)
    if resolved is None:
        return None
    try:
        return str(Path(resolved).relative_to(Path.cwd()))
    except ValueError:
        return resolved


def _user_site(frame: FrameType | None) -> str | None:
    """The call site in user code: the first frame outside the stdlib and this package.

    A call made on behalf of the stdlib itself (``logging`` stamping a record, ``asyncio``
    reading its clock) has no user frame before the stdlib's own and is not a leak.
    """
    if frame is None:
        return None
    shown = _shown(frame.f_code.co_filename)
    if shown is None:
        return None
    return f"{shown}:{frame.f_lineno} in {frame.f_code.co_qualname}"


def _wrap(what: str, fn: Callable[..., object]) -> Callable[..., object]:
    def watched(*args: object, **kwargs: object) -> object:
        watch = _current
        if watch is not None:
            watch.record(what, sys._getframe(1))
        return fn(*args, **kwargs)

    watched.__wrapped__ = fn  # type: ignore[attr-defined]
    watched.__name__ = getattr(fn, "__name__", what)
    return watched


def _audit(event: str, args: tuple[object, ...]) -> None:
    watch = _current
    if watch is None or event not in _AUDIT_EVENTS:
        return
    what = _AUDIT_EVENTS[event]
    if event == "open" and args:
        what = f"{what}({args[0]!r})"
    watch.record(what, sys._getframe(1))


@contextmanager
def watch_sources() -> Iterator[dict[tuple[str, str], Source]]:
    """Record the sources of nondeterminism used by code run on this thread meanwhile."""
    global _current, _audit_installed
    with _lock:
        if _current is not None:
            raise RuntimeError("determinism checks do not nest")
        watch = _Watch()
        saved: list[tuple[object, str, object]] = []
        for name in _TIME_FUNCTIONS:
            saved.append((time, name, getattr(time, name)))
        for name in _RANDOM_FUNCTIONS:
            if hasattr(random, name):
                saved.append((random, name, getattr(random, name)))
        saved.append((os, "urandom", os.urandom))
        saved.append((uuid, "uuid1", uuid.uuid1))
        saved.append((uuid, "uuid4", uuid.uuid4))
        for module, name, fn in saved:
            label = f"{getattr(module, '__name__', '?')}.{name}()"
            setattr(module, name, _wrap(label, fn))  # type: ignore[arg-type]
        if not _audit_installed:
            sys.addaudithook(_audit)  # cannot be removed; inert while no check runs
            _audit_installed = True
        _current = watch
    try:
        yield watch.sources
    finally:
        with _lock:
            _current = None
            for module, name, fn in saved:
                setattr(module, name, fn)


def first_divergence(a: Trace, b: Trace) -> tuple[int, TraceEvent | None, TraceEvent | None] | None:
    """The index of the first event that differs, and the two events (None past an end)."""
    ea, eb = a.events, b.events
    for index, (x, y) in enumerate(zip(ea, eb, strict=False)):
        if x != y:
            return index, x, y
    if len(ea) != len(eb):
        index = min(len(ea), len(eb))
        return index, ea[index] if index < len(ea) else None, eb[index] if index < len(eb) else None
    return None


def describe_event(event: TraceEvent | None) -> str:
    if event is None:
        return "(the trace ended)"
    text = f"step {event.step} t={event.t:g}s {event.kind} {event.actor}"
    if event.peer:
        text += f" <- {event.peer}"
    if event.message:
        text += f" {event.message}"
    if event.detail:
        text += f" ({event.detail})"
    return text


def likely_cause(sources: list[Source]) -> str:
    if sources:
        shown = "; ".join(str(s) for s in sources[:5])
        return (
            f"likely cause: {shown}. Take time from the loop (loop.time(), system.clock) and "
            "randomness from system.random; simulate I/O with an actor"
        )
    return (
        "likely cause: no wall clock, global random or real I/O call was seen, so look for "
        "iteration over a set or dict of objects hashed by identity (their order follows "
        "memory addresses: sort by a stable key), or state kept between runs (a module-level "
        "cache or counter)"
    )
