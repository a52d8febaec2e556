"""Durable file primitives of the run store: new files at once, fsynced JSON-lines journals.

Whole-file replacement is the ABI's `atomic_write` (temp file, fsync, rename, fsync the
folder: a reader sees the old file or the new one, never a mix), and folder fsync its
`fsync_dir`; the store uses those, there is one of each. `append_line` fsyncs each line; a
crash can still leave a torn last line, which `read_lines` ignores and the next
`append_line` cuts off before writing, so a torn line never glues onto a new one.
"""

from __future__ import annotations

import os
from pathlib import Path

from lightflow_actors.cortex import fsync_dir

MAX_LINE_BYTES = 16 << 20


def write_new_files(folder: Path, files: dict[str, bytes]) -> None:
    """Create the files in `folder` and make them durable, folder entry included.

    All files are written before the first fsync, so the file system can write them back
    together; an empty file needs no fsync (the folder fsync records it)."""
    fds: list[int] = []
    try:
        for name, data in files.items():
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            fds.append(fd)
            _write_all(fd, data)
        for fd, data in zip(fds, files.values(), strict=True):
            if data:
                os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    fsync_dir(folder)


def append_line(path: Path, line: bytes) -> None:
    """Append one JSON line (no newline inside `line`) and fsync it."""
    if b"\n" in line:
        raise ValueError("a journal line must not contain a newline")
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        cut_torn_tail(fd)
        _write_all(fd, line + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def cut_torn_tail(fd: int) -> None:
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return
    os.lseek(fd, size - 1, os.SEEK_SET)
    if os.read(fd, 1) == b"\n":
        return
    # The previous writer died mid-line: drop everything after the last newline.
    keep = 0
    pos = size
    while pos > 0:
        start = max(0, pos - 65536)
        os.lseek(fd, start, os.SEEK_SET)
        chunk = os.read(fd, pos - start)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            keep = start + idx + 1
            break
        pos = start
    os.ftruncate(fd, keep)


def read_lines(path: Path) -> list[bytes]:
    """The complete lines of a journal; a torn (unterminated) last line is ignored."""
    data = path.read_bytes()
    end = data.rfind(b"\n")
    if end < 0:
        return []
    return [line for line in data[:end].split(b"\n") if line]


def last_line(path: Path, window: int = 65536) -> bytes | None:
    """The last complete line of a journal (reads only its tail), or None."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = size
        while start > 0:
            start = max(0, start - window)
            f.seek(start)
            data = f.read(size - start)
            end = data.rfind(b"\n")
            if end < 0:
                continue
            begin = data.rfind(b"\n", 0, end) + 1
            if begin > 0 or start == 0:
                return data[begin:end] or None
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
