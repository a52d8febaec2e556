"""The append-only audit log `/ctx/audit/events.jsonl`.

One JSON object per line: every request seen, every refusal, every policy decision, every
answer written and every provider crash/restart. Each line is appended with a single
`write` on an `O_APPEND` descriptor, so concurrent writers never interleave within a line,
and fsynced before `append` returns. `append(..., sync=False)` defers the fsync to the next
synced append (group commit): the substrate uses it for the records that precede an answer
(claim, policy decision), whose answer record then makes them durable with one fsync.

The substrate appends from its I/O lanes' worker threads (ADR 0119; its provider hosts'
lines too), its job and hook runners from theirs (ADR 0128): a lock keeps each line's
write, the fsync and `close` apart, so no line is written to a descriptor that was closed
(and perhaps reused) meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from lightflow_actors.cortex import DECODE_ERRORS, ErrorKind, safe_text

from ._errors import AuditError

__all__ = ["AuditEvent", "AuditEventName", "AuditLog", "iter_audit", "read_audit"]

logger = logging.getLogger("ctx_substrate")

AuditEventName = Literal[
    "substrate.started",
    "substrate.stopped",
    "request.claimed",  # a committed request was taken for serving
    "request.resumed",  # a request left claimed by a previous run is served again
    "request.refused",  # refused before dispatch (id, path, size, format, body)
    "request.duplicate",  # an id committed again after it was answered; left unanswered
    "request.quarantined",  # refused for what the file is; moved to the dead-letter folder
    "request.retry",  # reading it or writing its answer failed (disk full, ...); retried later
    "policy.decision",
    "response.written",
    "error.written",
    "provider.crashed",
    "provider.restarted",
    "provider.gave_up",  # restart intensity exceeded; the provider stays down
    "job.started",
    "job.finished",
    "hook.fired",
]


class AuditEvent(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One audit line. `ts_ms` (unix ms) is stamped by `AuditLog.append`."""

    event: AuditEventName
    ts_ms: int = 0
    kind: str | None = None  # api | tool | thread | job | hook
    target: str | None = None  # format, tool, thread, job or hook name
    uid: str | None = None
    id: str | None = None  # request id (raw name for refused ones)
    provider: str | None = None
    allowed: bool | None = None
    reason: str | None = None
    error: ErrorKind | None = None


class AuditLog:
    """Appends `AuditEvent`s durably to one file.

    >>> import tempfile, pathlib
    >>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "events.jsonl", wall_ms=lambda: 7)
    >>> log.append(AuditEvent("substrate.started"))
    >>> [e.ts_ms for e in read_audit(log.path)]
    [7]
    >>> log.close()
    """

    def __init__(self, path: Path, wall_ms: Callable[[], int], *, durable: bool = True) -> None:
        self.path = path
        self._wall_ms = wall_ms
        self._durable = durable
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644
        )
        self._unsynced = False
        self._lock = threading.Lock()
        self.dropped = 0  # lines that could not be written (see `append`)

    def append(self, event: AuditEvent, *, sync: bool = True) -> None:
        """Append one line. A write that fails (disk full, quota, EIO) is logged and counted
        in `dropped`, never raised: losing an audit line must not stop serving requests."""
        stamped = msgspec.structs.replace(event, ts_ms=self._wall_ms())
        try:
            line = msgspec.json.encode(stamped)
        except UnicodeEncodeError:  # a file name that was not UTF-8 (lone surrogates)
            line = msgspec.json.encode(_encodable(stamped))
        with self._lock:
            if self._fd is None:
                raise RuntimeError(f"audit log {self.path} is closed; create a new AuditLog")
            try:
                os.write(self._fd, line + b"\n")
            except OSError as exc:
                self._drop(exc)
                return
            self._unsynced = True
            if sync:
                self._sync()

    def sync(self) -> None:
        """fsync every line appended so far (no-op when not durable or nothing is pending)."""
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        if self._fd is not None and self._unsynced and self._durable:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._drop(exc)
        self._unsynced = False

    def _drop(self, exc: OSError) -> None:
        self.dropped += 1
        logger.error("audit log %s: cannot append (%s); line dropped", self.path, exc)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                self._sync()
                os.close(self._fd)
                self._fd = None


def read_audit(path: Path) -> list[AuditEvent]:
    """Every event in an audit file, in order (decoding each line with the schema)."""
    return list(iter_audit(path))


def iter_audit(path: Path) -> Iterator[AuditEvent]:
    """Each event in order; a line that is not an `AuditEvent` raises `AuditError` (only)."""
    decoder = msgspec.json.Decoder(AuditEvent)
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield decoder.decode(line)
                except DECODE_ERRORS as exc:
                    raise AuditError(str(path), number, f"{type(exc).__name__}: {exc}") from exc


def _encodable(event: AuditEvent) -> AuditEvent:
    fields = {
        name: safe_text(value)
        for name in event.__struct_fields__
        if isinstance(value := getattr(event, name), str)
    }
    return msgspec.structs.replace(event, **fields)
