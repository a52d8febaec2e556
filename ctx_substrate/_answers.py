"""Writing the answer to a request and closing it, in a crash-safe order.

Order matters for exactly-once: fingerprint and route first, then the response or error
(the file a client waits for), then the claim is renamed to `.done`. A crash before the
answer leaves `<id>.claimed` without answer, which a restart serves again; a crash after it
leaves `<id>.claimed` with an answer, which a restart only closes. Nothing is answered twice.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lightflow_actors.cortex import (
    ErrorKind,
    ErrorRecord,
    RouteRecord,
    Suffix,
    atomic_write,
    encode_record,
    fingerprint,
)

from ._intake import Location

__all__ = ["answered", "close_claim", "write_error", "write_response"]


def _write(path: Path, data: bytes, *, last: bool) -> None:
    # Only the last file (the answer) fsyncs the folder: that one fsync makes the earlier
    # renames in the same folder durable too.
    try:
        atomic_write(path, data, sync_dir=last)
    except OSError as exc:
        # An id near NAME_MAX may fit as `.req.json` but not as `.fingerprint`; the error
        # file is then the only answer, which is still one answer.
        if exc.errno != 36:  # ENAMETOOLONG
            raise


def answered(loc: Location) -> bool:
    """True when a response or error already exists for this request."""
    return any(
        os.path.lexists(loc.file(loc.outbox, suffix)) for suffix in (Suffix.RESPONSE, Suffix.ERROR)
    )


def write_response(loc: Location, raw: bytes, route: RouteRecord | None, body: bytes) -> None:
    """Fingerprint, route (api and tool only), then `<id>.resp.json`."""
    _write(loc.file(loc.outbox, Suffix.FINGERPRINT), (fingerprint(raw) + "\n").encode(), last=False)
    if route is not None and loc.kind != "thread":
        _write(loc.file(loc.outbox, Suffix.ROUTE), encode_record(route), last=False)
    atomic_write(loc.file(loc.outbox, Suffix.RESPONSE), body)


def write_error(
    loc: Location,
    raw: bytes | None,
    route: RouteRecord | None,
    kind: ErrorKind,
    message: str,
) -> None:
    """Fingerprint (when the request was read), route (when routed), then `<id>.error`."""
    if raw is not None:
        _write(
            loc.file(loc.outbox, Suffix.FINGERPRINT), (fingerprint(raw) + "\n").encode(), last=False
        )
    if route is not None and loc.kind != "thread":
        _write(loc.file(loc.outbox, Suffix.ROUTE), encode_record(route), last=False)
    record = ErrorRecord(id=loc.raw_id, kind=kind, message=message)
    _write(loc.file(loc.outbox, Suffix.ERROR), encode_record(record) + b"\n", last=True)


def close_claim(loc: Location) -> None:
    """Rename `<id>.claimed` to `<id>.done`: answered, never served again.

    Not fsynced: if the rename is lost in a crash, the restart finds `.claimed` with an
    answer beside it and only closes it again.
    """
    with contextlib.suppress(FileNotFoundError):
        os.rename(loc.file(loc.inbox, Suffix.CLAIMED), loc.file(loc.inbox, Suffix.DONE))
