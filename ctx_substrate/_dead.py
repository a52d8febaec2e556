"""Quarantine: moving a poison request out of its inbox into the dead-letter folder.

A request refused for what the file *is* (its bytes, its name, how it arrived) would be
refused the same way every time it is read, and before this existed one that crashed the
decoder crashed the substrate again at every restart. After its `<id>.error` is written it
is moved to `dead/` beside the inbox with a `DeadLetter` record (lightflow_actors.cortex),
so no rescan or restart ever reads it again. Refusals about the *request* (no route,
denied, unknown format) and provider outcomes are ordinary answers: closed as `.done`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import Final, Literal

import msgspec

from lightflow_actors.cortex import (
    DeadLetter,
    ErrorKind,
    atomic_write,
    dead_folder,
    fingerprint,
    safe_text,
)

from ._intake import Location

__all__ = ["QUARANTINED", "quarantine"]

QUARANTINED: Final[frozenset[ErrorKind]] = frozenset(
    {
        "invalid_id",
        "name_too_long",
        "path_escape",
        "hard_link",
        "not_renamed",
        "too_large",
        "malformed",
        "too_deep",
        "invalid_utf8",
        "internal",
    }
)
"""The refusal kinds whose request file is a dead letter (refused for what the file is)."""


def _key(loc: Location, ts_ms: int, folder: Path) -> str:
    digest = hashlib.sha256(os.fsencode(loc.raw_id)).hexdigest()[:12]
    key, n = f"{ts_ms}-{digest}", 0
    while os.path.lexists(folder / f"{key}.json") or os.path.lexists(folder / f"{key}.req"):
        n += 1
        key = f"{ts_ms}-{digest}-{n}"
    return key


def quarantine(
    loc: Location,
    claimed: Path,
    *,
    error: ErrorKind,
    message: str,
    ts_ms: int,
    found_as: Literal["committed", "claimed", "written"],
    raw: bytes | None,
) -> DeadLetter:
    """Move `claimed` into `dead/` beside its inbox and write its record; returns the record.

    A hard link is removed instead of kept: its content belongs to another file. Raises
    `OSError` when the folder cannot be made or the move fails; the caller then closes the
    claim (`.done`) so the file is at least never served again.
    """
    folder = dead_folder(loc.inbox)
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o755)
    if not stat.S_ISDIR(os.lstat(folder).st_mode):  # a symlink planted as `dead`: not followed
        raise NotADirectoryError(f"{folder} is not a real folder; not moving {claimed} into it")
    size: int | None
    try:
        size = os.lstat(claimed).st_size
    except OSError:
        size = None
    key = _key(loc, ts_ms, folder)
    moved: str | None
    if error == "hard_link":
        os.unlink(claimed)
        moved = None
    else:
        moved = f"{key}.req"
        os.rename(claimed, folder / moved)
    letter = DeadLetter(
        id=safe_text(loc.raw_id),
        kind=loc.kind,
        target=safe_text(loc.name),
        uid=None if loc.uid is None else safe_text(loc.uid),
        error=error,
        message=safe_text(message),
        ts_ms=ts_ms,
        found_as=found_as,
        file=moved,
        size=size,
        fingerprint=None if raw is None else fingerprint(raw),
    )
    atomic_write(folder / f"{key}.json", msgspec.json.encode(letter) + b"\n")
    return letter
