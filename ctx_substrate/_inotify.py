"""A recursive inotify watch that tells a rename into a folder from a file created in it.

The ABI commits a request by renaming `<id>.tmp` to `<id>.req.json`; a file written in
place under its final name is not committed and must not be served (its reader could see
half of it). Only inotify itself keeps that difference (`IN_MOVED_TO` versus `IN_CREATE`):
watchfiles reports both as "added", which is why the substrate's watcher reads inotify
directly (Linux libc through ctypes; no other platform has inotify, and there the watcher
polls). Folders created later are watched as they appear.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Final

__all__ = ["Inotify", "InotifyEvent"]

IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000
IN_EXCL_UNLINK: Final = 0x04000000
IN_ISDIR: Final = 0x40000000

_WATCH_MASK = (
    IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (struct inotify_event)


class InotifyEvent:
    """One event: `path` (None for a queue overflow) and the inotify `mask`."""

    __slots__ = ("mask", "path")

    def __init__(self, path: Path | None, mask: int) -> None:
        self.path = path
        self.mask = mask

    @property
    def overflow(self) -> bool:
        return bool(self.mask & IN_Q_OVERFLOW)

    @property
    def is_dir(self) -> bool:
        return bool(self.mask & IN_ISDIR)

    @property
    def moved_in(self) -> bool:
        return bool(self.mask & IN_MOVED_TO)

    @property
    def created(self) -> bool:
        return bool(self.mask & IN_CREATE)

    @property
    def closed_after_write(self) -> bool:
        return bool(self.mask & IN_CLOSE_WRITE)


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc among them
    if not hasattr(libc, "inotify_init1"):
        raise OSError(errno.ENOSYS, "this libc has no inotify")
    return libc


class Inotify:
    """A non-blocking inotify descriptor watching `root` and every real folder under it.

    Raises `OSError` when inotify is unavailable (not Linux) or exhausted (ENOSPC: out of
    watches, EMFILE: out of instances); the caller falls back to polling.
    """

    def __init__(self, root: Path) -> None:
        self._libc = _libc()
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self.fd: int = fd
        self._folders: dict[int, Path] = {}
        try:
            self.watch_tree(root)
        except BaseException:
            self.close()
            raise

    def watch_tree(self, top: Path) -> None:
        """Watch `top` and every folder under it (symlinks are not followed)."""
        self._watch(top)
        for folder, dirs, _files in os.walk(top, followlinks=False):
            for name in dirs:
                path = Path(folder) / name
                if not path.is_symlink():
                    self._watch(path)

    def _watch(self, folder: Path) -> None:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _WATCH_MASK)
        if wd < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):  # gone, or replaced by a symlink
                return
            raise OSError(code, f"inotify_add_watch {folder}: {os.strerror(code)}")
        self._folders[wd] = folder

    def read(self) -> Iterator[InotifyEvent]:
        """Every event queued now (nothing when none is); never blocks."""
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                if mask & IN_Q_OVERFLOW:
                    yield InotifyEvent(None, mask)
                    continue
                if mask & IN_IGNORED:
                    self._folders.pop(wd, None)
                    continue
                folder = self._folders.get(wd)
                if folder is not None and name:
                    yield InotifyEvent(folder / os.fsdecode(name), mask)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
