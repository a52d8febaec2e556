"""The FUSE backend: the tree mounted at a mount point (mfusepy, libfuse3), served by actors.

The mount is a passthrough onto the substrate's backing folder with the ABI's rules
enforced at the file-system boundary:

- a rename to `<id>.req.json` inside an inbox is the commit: after the rename succeeds the
  FUSE thread tells the substrate actor `Committed(path)` (thread → loop through
  `call_soon_threadsafe`; the FUSE thread never waits on the loop, so no deadlock);
- creating `<id>.req.json` directly is refused (EPERM): the ABI commits by rename only;
- symlinks and hard links cannot be made (EPERM), existing ones are not followed;
- request files (in inboxes) cannot grow beyond the request size limit (EFBIG);
- `.` / `..` components never reach the backing folder.

Answers are written by the substrate into the backing folder and appear in the mount at
once (attribute and entry caches are off), so `ls`, `cat` and `cp` behave.

Importing this module loads libfuse (`mfusepy` does at import) and raises `OSError` where
it is missing; the substrate imports it only when a mount is started. What needs no
libfuse (`fuse_available`, `FuseUnavailable`, `MountPoint`) is in `_fuse_probe`.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import mfusepy

from lightflow_actors.cortex import Suffix
from lightflow_actors.kernel import Actor, ActorRef, Exit, handler

from ._fuse_probe import FuseUnavailable, MountPoint, clean_stale_mount, fuse_available
from ._watcher import Committed

__all__ = ["CtxOperations", "FuseBackend", "FuseMount"]

logger = logging.getLogger("ctx_substrate")

_STAT_FIELDS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size")
_TIME_FIELDS = ("st_atime", "st_mtime", "st_ctime")


def _in_inbox(parts: list[str]) -> bool:
    return len(parts) >= 2 and parts[-2] == "inbox"


def _error(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


class CtxOperations(mfusepy.Operations):  # type: ignore[misc]
    """Passthrough operations onto `backing`, with the ABI's commit and safety rules."""

    use_ns = True  # times in integer nanoseconds, both in getattr and utimens

    def __init__(
        self, backing: Path, on_commit: Callable[[str], None], max_request_bytes: int
    ) -> None:
        self._backing = str(backing)
        self._on_commit = on_commit
        self._limit = max_request_bytes
        self.ready = threading.Event()

    # -- paths ----------------------------------------------------------------------------
    def _parts(self, path: str) -> list[str]:
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise _error(errno.EACCES)
        return parts

    def _full(self, path: str) -> str:
        return os.path.join(self._backing, *self._parts(path))

    # -- lifecycle ------------------------------------------------------------------------
    def init(self, path: str) -> None:
        self.ready.set()

    # -- metadata -------------------------------------------------------------------------
    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
        try:
            st = (
                os.fstat(fh)
                if path is None and fh is not None
                else os.lstat(self._full(path or "/"))
            )
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        attrs = {name: getattr(st, name) for name in _STAT_FIELDS}
        for name in _TIME_FIELDS:
            attrs[name] = getattr(st, name + "_ns")
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        try:
            return [".", "..", *os.listdir(self._full(path))]
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None

    def readlink(self, path: str) -> str:
        raise _error(errno.EACCES)  # a symlink in the tree is never followed

    def statfs(self, path: str) -> dict[str, int]:
        sv = os.statvfs(self._backing)
        names = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                 "f_files", "f_flag", "f_frsize", "f_namemax")  # fmt: skip
        return {name: getattr(sv, name) for name in names}

    def access(self, path: str, amode: int) -> int:
        self._parts(path)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._full(path), mode, follow_symlinks=False)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        raise _error(errno.EPERM)

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        try:
            if times is None:
                os.utime(self._full(path), follow_symlinks=False)
            else:
                os.utime(self._full(path), ns=times, follow_symlinks=False)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        return 0

    # -- files ----------------------------------------------------------------------------
    def open(self, path: str, flags: int) -> int:
        try:
            return os.open(self._full(path), flags | os.O_NOFOLLOW)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None

    def create(self, path: str, mode: int, flags: int) -> int:
        parts = self._parts(path)
        if _in_inbox(parts) and parts[-1].endswith(Suffix.REQUEST):
            # Commit by rename only: write <id>.tmp, then rename it to <id>.req.json.
            raise _error(errno.EPERM)
        try:
            return os.open(self._full(path), flags | os.O_CREAT | os.O_NOFOLLOW, mode)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if offset + len(data) > self._limit and _in_inbox(self._parts(path)):
            raise _error(errno.EFBIG)
        return os.pwrite(fh, data, offset)

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        if path is not None and length > self._limit and _in_inbox(self._parts(path)):
            raise _error(errno.EFBIG)
        try:
            if fh is not None:
                os.ftruncate(fh, length)
            else:
                os.truncate(self._full(path or "/"), length)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        (os.fdatasync if datasync else os.fsync)(fh)
        return 0

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    # -- names ----------------------------------------------------------------------------
    def rename(self, old: str, new: str) -> int:
        target = self._full(new)
        try:
            os.rename(self._full(old), target)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        if target.endswith(Suffix.REQUEST) and _in_inbox(self._parts(new)):
            self._on_commit(target)
        return 0

    def unlink(self, path: str) -> int:
        try:
            os.unlink(self._full(path))
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        try:
            os.mkdir(self._full(path), mode)
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        return 0

    def rmdir(self, path: str) -> int:
        try:
            os.rmdir(self._full(path))
        except OSError as exc:
            raise _error(exc.errno or errno.EIO) from None
        return 0

    def symlink(self, target: str, source: str) -> int:
        raise _error(errno.EPERM)

    def link(self, target: str, source: str) -> int:
        raise _error(errno.EPERM)

    def mknod(self, path: str, mode: int, dev: int) -> int:
        if not stat.S_ISREG(mode):
            raise _error(errno.EPERM)  # no FIFOs or devices in the tree
        os.close(self.create(path, mode & 0o7777, os.O_WRONLY))
        return 0


class FuseMount:
    """Runs the FUSE loop of one mount in a daemon thread; `start`/`stop` block (use a thread)."""

    def __init__(self, operations: CtxOperations, mountpoint: Path) -> None:
        self._ops = operations
        self._mountpoint = mountpoint
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self, ready_timeout_s: float = 10.0) -> None:
        reason = fuse_available()
        if reason is not None:
            raise FuseUnavailable(f"cannot mount {self._mountpoint}: {reason}")
        clean_stale_mount(self._mountpoint)  # left by a mount whose process was killed
        self._mountpoint.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(
            target=self._run, name=f"fuse:{self._mountpoint}", daemon=True
        )
        self._thread.start()
        self._ops.ready.wait(ready_timeout_s)
        if self._failure is not None or not self._ops.ready.is_set():
            raise FuseUnavailable(
                f"cannot mount {self._mountpoint}: {self._failure or 'libfuse did not start'}; "
                "check /dev/fuse and that this user may mount (root, or fuse group)"
            )

    def _run(self) -> None:
        try:
            mfusepy.FUSE(
                self._ops,
                str(self._mountpoint),
                foreground=True,
                fsname="lightflow-ctx",
                entry_timeout=0,
                attr_timeout=0,
                negative_timeout=0,
            )
        except BaseException as exc:  # reported by start(); the thread must not die noisily
            self._failure = exc
            self._ops.ready.set()

    def stop(self) -> None:
        if self._thread is None:
            return
        result = subprocess.run(
            ["fusermount3", "-u", "-z", str(self._mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            logger.warning("fusermount3 -u %s: %s", self._mountpoint, result.stderr.strip())
        self._thread.join(10.0)
        self._thread = None


class FuseBackend(Actor[MountPoint | Exit]):
    """Owns one FUSE mount for the substrate: mounts in `on_start`, unmounts in `on_stop`.

    Commits seen by the FUSE thread are told to `target` as `Committed(path)` (backing paths).
    It traps exits so that the unmount always runs: the substrate's exit arrives as an
    `Exit` message and stops it through `on_stop`, and a link signal cannot cancel an
    `on_stop` already under way (a non-trapping actor's would be, leaving the mount up).
    """

    trap_exit = True

    def __init__(
        self, backing: Path, mountpoint: Path, target: ActorRef[Committed], max_request_bytes: int
    ) -> None:
        self._backing = backing
        self._mountpoint = mountpoint
        self._target = target
        self._limit = max_request_bytes
        self._mount: FuseMount | None = None

    async def on_start(self) -> None:
        loop, target = self.system.loop, self._target

        def on_commit(path: str) -> None:
            loop.call_soon_threadsafe(target.tell, Committed(path))

        mount = FuseMount(CtxOperations(self._backing, on_commit, self._limit), self._mountpoint)
        await self.run_blocking(mount.start)
        self._mount = mount

    async def on_stop(self, reason: object) -> None:
        if self._mount is not None:
            await self.run_blocking(self._mount.stop)
            self._mount = None

    @handler
    def exited(self, msg: Exit) -> None:
        self.stop(msg.reason)  # the substrate (our only link) exited: unmount

    @handler
    def mount_point(self, msg: MountPoint) -> str:
        return str(self._mountpoint)
