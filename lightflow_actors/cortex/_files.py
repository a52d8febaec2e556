"""Crash-safe file operations of the ABI: atomic writes and commit-by-rename.

A reader of a CortexFS tree never sees half a file: every file is written under a temporary
name, flushed with fsync, renamed into place, and the folder is fsynced so the rename itself
survives a crash. A request becomes visible to the substrate only at the rename to
`<id>.req.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from ._errors import RequestConflictError
from ._layout import CtxLayout, Suffix

__all__ = [
    "atomic_write",
    "commit_request",
    "fsync_dir",
    "prepare_request",
    "publish_request",
    "temp_name",
    "write_tmp_request",
]


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, creations) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _fsync_folder_fd(fd)
    finally:
        os.close(fd)


def _fsync_folder_fd(fd: int) -> None:
    # Some file systems (FUSE passthroughs among them) refuse fsync on folders; the
    # rename has still happened, only its durability is the file system's business.
    with contextlib.suppress(OSError):
        os.fsync(fd)


def _write_all(
    path: Path | str, data: bytes, dir_fd: int | None = None, *, sync: bool = True
) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o644, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    """The temporary name `atomic_write` uses for `name`: `.lf-<16 hex>.tmp`, 21 bytes.

    Short and fixed-length so it fits under NAME_MAX whatever the target's length (a
    `.<name>.tmp` of a 245-byte name does not, and the answer was then never written);
    derived from the name so two targets in one folder never share a temporary file.
    """
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f".lf-{digest}.tmp"


def atomic_write(
    path: Path,
    data: bytes,
    *,
    tmp_name: str | None = None,
    sync_dir: bool = True,
    sync_file: bool = True,
) -> None:
    """Write `data` to `path` atomically: temporary file, fsync, rename, fsync folder.

    The temporary file is `temp_name(path.name)` beside the target unless `tmp_name` is
    given; it never ends in `.req.json`, so writing answers never looks like a commit.
    `sync_dir=False` skips the folder fsync when a later `atomic_write` in the same folder
    will do it (one folder fsync makes every rename done in that folder before it durable).
    `sync_file=False` skips the file's fsync too: readers still never see half a file
    (the rename is atomic), but after a power loss the file may be empty or absent; only
    for files whose loss a caller tolerates (ADR 0100).
    """
    tmp = path.with_name(tmp_name if tmp_name is not None else temp_name(path.name))
    try:
        _write_all(tmp, data, sync=sync_file)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def write_tmp_request(inbox: Path, request_id: str, body: bytes) -> Path:
    """Write (and fsync) `<id>.tmp` in `inbox` without committing it; returns its path."""
    tmp = CtxLayout.file(inbox, request_id, Suffix.TMP)
    _write_all(tmp, body)
    return tmp


def commit_request(
    inbox: Path,
    request_id: str,
    body: bytes,
    *,
    at_most_once: bool = False,
    tenant: str | None = None,
    sync_folder: bool = True,
) -> Path:
    """Commit a request: write `<id>.tmp`, fsync, rename to `<id>.req.json`, fsync folder.
    With `at_most_once`, an empty `<id>.once` is created first (made durable by the same
    folder fsync): a restart that finds the request in flight answers it `interrupted`
    instead of calling the provider again. With `tenant`, `<id>.tenant` (the tenant id) is
    written first the same way: the substrate serves the request as that tenant's (no
    file: the default tenant). Neither is fsynced on its own: lost in a crash, the
    request is only served as the default tenant's, or sent again, as without them.

    `sync_folder=False` leaves the rename's durability to the committer's own journal
    (the in-process shortcut, ADR 0100: the run journal says the step was submitted, and a
    resumed run commits the same id again); the file itself is still fsynced, so a name
    that survives a crash never names half a request. Not allowed with `at_most_once`,
    whose marker needs the folder fsync.

    Refuses (with `RequestConflictError`) an id that is already committed, being served or
    answered in this inbox, so one id is never answered twice. Returns the committed path.

    The same as `prepare_request`, then `publish_request` (a committer that must act right
    after the rename, on its loop, does the first on a worker thread: ADR 0110).
    """
    if at_most_once and not sync_folder:
        raise ValueError("an at-most-once commit needs its folder fsynced (its .once marker)")
    prepare_request(inbox, request_id, body, at_most_once=at_most_once, tenant=tenant)
    return publish_request(inbox, request_id, sync_folder=sync_folder)


def prepare_request(
    inbox: Path,
    request_id: str,
    body: bytes,
    *,
    at_most_once: bool = False,
    tenant: str | None = None,
) -> None:
    """Everything of `commit_request` before the rename: the conflict check, the `.once`
    and `.tenant` markers, `<id>.tmp` written and fsynced. Nothing is committed yet."""
    # Every step works relative to the inbox opened once: the path is resolved one time,
    # not seven (each resolution of a FUSE path is a round trip per folder when the mount
    # caches nothing), and all steps act on the same folder even if a path component is
    # replaced meanwhile.
    tmp = CtxLayout.file(inbox, request_id, Suffix.TMP)
    inbox_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _refuse_taken(inbox, request_id, inbox_fd)
        if at_most_once:
            once = CtxLayout.file(inbox, request_id, Suffix.ONCE).name
            os.close(os.open(once, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=inbox_fd))
        if tenant is not None:
            named = CtxLayout.file(inbox, request_id, Suffix.TENANT).name
            fd = os.open(named, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=inbox_fd)
            try:
                os.write(fd, tenant.encode("ascii"))
            finally:
                os.close(fd)
        _write_all(tmp.name, body, dir_fd=inbox_fd)
    finally:
        os.close(inbox_fd)


def publish_request(inbox: Path, request_id: str, *, sync_folder: bool = True) -> Path:
    """Commit a request `prepare_request` wrote: check the id again, rename `<id>.tmp` to
    `<id>.req.json`, fsync the folder (unless `sync_folder=False`, see `commit_request`).
    Returns the committed path; `RequestConflictError` (and the temporary file removed)
    when the id was taken meanwhile."""
    target = CtxLayout.file(inbox, request_id, Suffix.REQUEST)
    tmp = CtxLayout.file(inbox, request_id, Suffix.TMP)
    inbox_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            _refuse_taken(inbox, request_id, inbox_fd)
            os.rename(tmp.name, target.name, src_dir_fd=inbox_fd, dst_dir_fd=inbox_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp.name, dir_fd=inbox_fd)
            raise
        if sync_folder:
            _fsync_folder_fd(inbox_fd)
    finally:
        os.close(inbox_fd)
    return target


def _refuse_taken(inbox: Path, request_id: str, inbox_fd: int) -> None:
    for suffix in (Suffix.REQUEST, Suffix.CLAIMED, Suffix.DONE):
        existing = CtxLayout.file(inbox, request_id, suffix)
        if _lexists(existing.name, inbox_fd):
            raise RequestConflictError(str(existing))


def _lexists(name: str, dir_fd: int) -> bool:
    """`os.path.lexists` relative to a folder descriptor."""
    try:
        os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True
