"""Dead letters: requests the substrate refused for what the file *is*, moved out of the inbox.

A request whose bytes, name or kind of file cannot be served (not JSON, nested too deep,
not UTF-8, written in place, a hard link, an id too long for its answer names, ...) is
answered with `<id>.error` and then moved into the `dead/` folder beside its inbox, with a
record saying why and when (specs/cortexfs-abi.md §Dead letters). It is never served again,
so a poison request cannot crash the substrate on every restart.

    home/<uid>/api/<format>/dead/<key>.req     the request bytes, as committed
    home/<uid>/api/<format>/dead/<key>.json    its `DeadLetter` record

`<key>` is `<ts_ms>-<12 hex of the id>` (a fixed 26-byte name: it fits whatever the id's
length). `list_dead_letters` reads every record of a tree for operators; a record that
does not decode is listed by path, never raised.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Final, Literal

import msgspec

from ._layout import TargetKind
from ._wire import DECODE_ERRORS, ErrorKind, safe_text

__all__ = [
    "DEAD_FOLDER",
    "DeadLetter",
    "DeadLetterEntry",
    "DeadLetters",
    "dead_folder",
    "decode_dead_letter",
    "list_dead_letters",
]

DEAD_FOLDER: Final = "dead"
RECORD_SUFFIX: Final = ".json"
_RECORD_LIMIT = 1 << 16
_LIST_LIMIT = 1000


class DeadLetter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`dead/<key>.json`: why a request was quarantined, and where its bytes are."""

    id: str  # the request id (file name without suffix; bytes that are not UTF-8 replaced)
    kind: TargetKind  # api | tool | thread
    target: str  # the format, tool or thread
    uid: str | None  # None for tools
    error: ErrorKind  # the kind written to `<id>.error`
    message: str
    ts_ms: int  # when it was quarantined (unix ms, the substrate's system clock)
    found_as: Literal["committed", "claimed", "written"]  # new, left claimed, written in place
    file: str | None  # the request moved beside this record (`<key>.req`); None: removed
    size: int | None = None  # bytes of the request file, when it could be examined
    fingerprint: str | None = None  # `sha256:<hex>` of the bytes, when they were read


class DeadLetterEntry(msgspec.Struct, frozen=True):
    """One listed dead letter: the folder it is in (relative to the tree) and its record."""

    folder: str
    record: str  # the record's file name in `folder`
    letter: DeadLetter


class DeadLetters(msgspec.Struct, frozen=True):
    """Every dead letter of a tree, newest first (at most 1000; `truncated` says more exist)."""

    letters: list[DeadLetterEntry]
    unreadable: list[str]  # record files (relative paths) that are not a `DeadLetter`
    truncated: bool = False


def dead_folder(inbox: Path) -> Path:
    """The dead-letter folder of an inbox: `dead/` beside it (threads: beside `inbox/`)."""
    return inbox.parent / DEAD_FOLDER


_DECODER = msgspec.json.Decoder(DeadLetter)


def decode_dead_letter(data: bytes) -> DeadLetter:
    """Decode a record; raises one of `DECODE_ERRORS`."""
    return _DECODER.decode(data)


def _dirs(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)
    except OSError:
        return


def _dead_folders(root: Path) -> Iterator[Path]:
    for home in _dirs(root / "home"):
        for fmt in _dirs(home / "api"):
            yield fmt / DEAD_FOLDER
        for thread in _dirs(home / "thread"):
            yield thread / DEAD_FOLDER
    for tool in _dirs(root / "tool"):
        yield tool / "invoke" / DEAD_FOLDER


def _read_record(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _RECORD_LIMIT + 1)
    finally:
        os.close(fd)
    return data if len(data) <= _RECORD_LIMIT else None


def list_dead_letters(root: Path) -> DeadLetters:
    """Every dead letter under `root`, newest first. Never raises for what it finds on disk:
    an unreadable record is listed in `unreadable`, a symlinked folder is not followed."""
    found: list[DeadLetterEntry] = []
    unreadable: list[str] = []
    for folder in _dead_folders(root):
        if folder.is_symlink():
            continue
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith(RECORD_SUFFIX))
        except OSError:
            continue
        relative = safe_text(folder.relative_to(root).as_posix())
        for name in names:
            data = _read_record(folder / name)
            try:
                letter = decode_dead_letter(data if data is not None else b"")
            except DECODE_ERRORS:
                unreadable.append(f"{relative}/{safe_text(name)}")
                continue
            found.append(DeadLetterEntry(relative, safe_text(name), letter))
    found.sort(key=lambda e: (e.letter.ts_ms, e.record), reverse=True)
    return DeadLetters(found[:_LIST_LIMIT], unreadable, truncated=len(found) > _LIST_LIMIT)
