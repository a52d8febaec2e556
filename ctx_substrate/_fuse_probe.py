"""What the substrate knows about FUSE without loading libfuse: the probe, the error, the ask.

This is separate from `_fuse` because `mfusepy` loads libfuse (ctypes) when it is
imported and raises `OSError` where libfuse is not installed. Everything here is
importable on any machine, so the substrate, `lightflow serve`, the CLI and the tests can
ask whether a mount is possible, and fail with a clear reason, without importing `_fuse`;
`_fuse` (the mount itself) is imported only when a mount is actually started.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path

from lightflow_actors.kernel import Ask

from ._errors import SubstrateError

__all__ = [
    "FuseUnavailable",
    "MountPoint",
    "clean_stale_mount",
    "fuse_available",
    "libfuse_missing",
]

_DEVICE = "/dev/fuse"
logger = logging.getLogger(__name__)


class FuseUnavailable(SubstrateError):
    """FUSE cannot be used here (no /dev/fuse, no libfuse3, no permission to mount)."""


class MountPoint(Ask[str], frozen=True):
    """Ask a `FuseBackend` where it is mounted."""


def libfuse_missing(error: BaseException) -> str:
    """The reason to give when loading `mfusepy` (and with it libfuse) failed with `error`."""
    return f"libfuse is not installed (apt-get install fuse3): {error}"


def _libfuse_reason() -> str | None:
    try:
        importlib.import_module("mfusepy")  # loads libfuse; cached in sys.modules once loaded
    except (OSError, ImportError) as exc:
        return libfuse_missing(exc)
    return None


def fuse_available() -> str | None:
    """None when a FUSE mount can be attempted, else every reason it cannot ("; "-joined)."""
    reasons: list[str] = []
    device = os.path.exists(_DEVICE)
    if not device:
        reasons.append(f"{_DEVICE} is absent (no FUSE kernel module in this machine or container)")
    libfuse = _libfuse_reason()
    if libfuse is not None:
        reasons.append(libfuse)
    fusermount = shutil.which("fusermount3")
    if fusermount is None:
        reasons.append("fusermount3 is not installed (apt-get install fuse3)")
    if device and fusermount is not None and os.geteuid() != 0:
        # A non-root mount opens /dev/fuse itself, or goes through a setuid fusermount3.
        setuid = bool(os.stat(fusermount).st_mode & stat.S_ISUID)
        if not setuid and not os.access(_DEVICE, os.R_OK | os.W_OK):
            reasons.append(
                f"this user (uid {os.geteuid()}) cannot open {_DEVICE} and {fusermount} is "
                "not setuid root (run as root, or join the group that owns /dev/fuse)"
            )
    return "; ".join(reasons) or None


def clean_stale_mount(mountpoint: Path) -> bool:
    """Unmount `mountpoint` when it is a FUSE mount whose process died (kill -9, a crash):
    the kernel keeps such a mount, and every access to it fails with ENOTCONN ("Transport
    endpoint is not connected"), so a new mount there would fail too. True when one was
    cleaned; a live mount or a plain folder is left alone."""
    try:
        os.stat(mountpoint)
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            return False
    else:
        return False
    fusermount = shutil.which("fusermount3") or shutil.which("fusermount")
    if fusermount is None:
        raise FuseUnavailable(
            f"{mountpoint} is a stale FUSE mount (its process died) and fusermount3 is not "
            "installed to clean it (apt-get install fuse3), or unmount it: umount -l "
            f"{mountpoint}"
        )
    result = subprocess.run(
        [fusermount, "-u", "-z", str(mountpoint)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise FuseUnavailable(
            f"{mountpoint} is a stale FUSE mount (its process died) and "
            f"{fusermount} -u failed: {result.stderr.strip()}; unmount it by hand"
        )
    logger.warning("cleaned the stale FUSE mount at %s (left by a process that died)", mountpoint)
    return True
