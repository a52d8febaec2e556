"""Leases: which process drives a run, and which process serves the embedded `/ctx` tree.

A lease is a POSIX record lock (`lockf`) on a small file holding the owner's pid. The
kernel drops it when the owner dies, `kill -9` included, so a restarted server takes over
at once, and two processes (a server and a CLI `run create`, or two servers on one state
folder) never both drive a run or both serve one tree, which would answer or submit twice.
Record locks belong to the process: the same process may take a lease again (a restarted
host actor), another process may not.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

__all__ = ["Lease", "run_lease_path", "tree_lease_path"]


class Lease:
    """A held lease; `release()` (idempotent) gives it back."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: Path) -> Lease | None:
        """The lease at `path`, or None while another process holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    @staticmethod
    def holder(path: Path) -> str:
        """Who holds the lease at `path`, for error messages (`pid 1234`)."""
        with contextlib.suppress(OSError, ValueError):
            return f"pid {int(path.read_text().strip())}"
        return "another process"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # Closing drops the record lock; the file stays (unlinking would race with a
            # process that opened it and is about to lock it).
            os.close(fd)


def run_lease_path(state_dir: Path, run_id: str) -> Path:
    """`<state>/hosting/<run_id>.lock` (the run id is checked before it gets here)."""
    return state_dir / "hosting" / f"{run_id}.lock"


def tree_lease_path(state_dir: Path, ctx_root: str) -> Path:
    """The lease of the process serving the tree at `ctx_root` (one file per tree)."""
    digest = hashlib.sha256(os.path.abspath(ctx_root).encode()).hexdigest()[:16]
    return state_dir / "hosting" / f"ctx-{digest}.lock"
