"""Writing the answer to a request and closing it, in a crash-safe order.

Order matters for exactly-once: fingerprint and route first, then the response or error
(the file a client waits for), then the claim is renamed to `.done`. A crash before the
answer leaves `<id>.claimed` without answer, which a restart serves again; a crash after it
leaves `<id>.claimed` with an answer, which a restart only closes. Nothing is answered twice.

An answer is JSON, never empty: a zero-length response or error file is one a power loss
emptied (a relaxed answer is not fsynced, ADR 0117), and counts as no answer (`answered`),
so a restart serves its claim again.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from lightflow_actors.cortex import (
    ErrorKind,
    ErrorRecord,
    JournaledFile,
    RouteRecord,
    Suffix,
    atomic_write,
    encode_record,
    fingerprint,
    safe_text,
)

from ._intake import Location

__all__ = [
    "answer_files",
    "answered",
    "close_claim",
    "error_record",
    "write_error",
    "write_response",
]


def _write_beside(path: Path, data: bytes, *, relaxed: bool = False) -> None:
    """Fingerprint and route: their folder is fsynced with the answer's (unless relaxed:
    then neither is the file, ADR 0100)."""
    try:
        atomic_write(path, data, sync_dir=False, sync_file=not relaxed)
    except OSError as exc:
        # Ids are at most 200 bytes (longer ones are refused `name_too_long`), so this only
        # happens on a file system whose NAME_MAX is under 212: the answer, which is shorter
        # than `<id>.req.json`, is then still written, and it is what a client waits for.
        if exc.errno != errno.ENAMETOOLONG:
            raise


def answered(loc: Location) -> bool:
    """True when a response or error already exists for this request (a zero-length one,
    emptied by a power loss, does not count: see the module docstring)."""
    return any(
        _not_torn(loc.file(loc.outbox, suffix)) for suffix in (Suffix.RESPONSE, Suffix.ERROR)
    )


def _not_torn(path: Path) -> bool:
    try:
        return os.lstat(path).st_size > 0
    except FileNotFoundError:
        return False


def write_response(
    loc: Location,
    raw: bytes,
    route: RouteRecord | None,
    body: bytes,
    *,
    relaxed: bool = False,
) -> None:
    """Fingerprint, route (api and tool only), then `<id>.resp.json`.

    `relaxed` (a request handed off by its in-process committer, ADR 0100 and 0117): no
    fsync at all. The committer's run journal records the step's outcome; a power loss
    may empty or take back any of these files, and then the request is served again (a
    zero-length answer is no answer, `answered`).
    """
    beside = _fingerprint_record(raw)
    _write_beside(loc.file(loc.outbox, Suffix.FINGERPRINT), beside, relaxed=relaxed)
    if route is not None and loc.kind != "thread":
        _write_beside(loc.file(loc.outbox, Suffix.ROUTE), encode_record(route), relaxed=relaxed)
    response = loc.file(loc.outbox, Suffix.RESPONSE)
    atomic_write(response, body, sync_dir=not relaxed, sync_file=not relaxed)


def _fingerprint_record(raw: bytes) -> bytes:
    return (fingerprint(raw) + "\n").encode()


def write_error(
    loc: Location,
    raw: bytes | None,
    route: RouteRecord | None,
    kind: ErrorKind,
    message: str,
    *,
    relaxed: bool = False,
) -> None:
    """Fingerprint (when the request was read), route (when routed), then `<id>.error`;
    `relaxed` as for `write_response`."""
    if raw is not None:
        fingerprint_file = loc.file(loc.outbox, Suffix.FINGERPRINT)
        _write_beside(fingerprint_file, _fingerprint_record(raw), relaxed=relaxed)
    if route is not None and loc.kind != "thread":
        _write_beside(loc.file(loc.outbox, Suffix.ROUTE), encode_record(route), relaxed=relaxed)
    error_file = loc.file(loc.outbox, Suffix.ERROR)
    data = encode_record(error_record(loc, kind, message)) + b"\n"
    atomic_write(error_file, data, sync_dir=not relaxed, sync_file=not relaxed)


def close_claim(loc: Location) -> None:
    """Rename `<id>.claimed` to `<id>.done`: answered, never served again.

    Not fsynced: if the rename is lost in a crash, the restart finds `.claimed` with an
    answer beside it and only closes it again.
    """
    with contextlib.suppress(FileNotFoundError):
        os.rename(loc.file(loc.inbox, Suffix.CLAIMED), loc.file(loc.inbox, Suffix.DONE))


def error_record(loc: Location, kind: ErrorKind, message: str) -> ErrorRecord:
    """What `<id>.error` holds for this refusal or failure."""
    return ErrorRecord(id=safe_text(loc.raw_id), kind=kind, message=safe_text(message))


def answer_files(
    loc: Location, raw: bytes, route: RouteRecord | None, answer: bytes | ErrorRecord
) -> tuple[JournaledFile, ...]:
    """The files of an exchange served in memory (ADR 0122), in the order and with the
    bytes `write_response` / `write_error` and `close_claim` give them: fingerprint, route
    (api and tool), the response (`answer` bytes) or error, then the request itself as
    `<id>.done` (closed: nothing serves it again). The committer writes them."""
    files = [JournaledFile(str(loc.file(loc.outbox, Suffix.FINGERPRINT)), _fingerprint_record(raw))]
    if route is not None and loc.kind != "thread":
        files.append(JournaledFile(str(loc.file(loc.outbox, Suffix.ROUTE)), encode_record(route)))
    if isinstance(answer, ErrorRecord):
        files.append(
            JournaledFile(str(loc.file(loc.outbox, Suffix.ERROR)), encode_record(answer) + b"\n")
        )
    else:
        files.append(JournaledFile(str(loc.file(loc.outbox, Suffix.RESPONSE)), answer))
    files.append(JournaledFile(str(loc.file(loc.inbox, Suffix.DONE)), raw))
    return tuple(files)
