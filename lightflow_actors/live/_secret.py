"""The key that signs session tokens, kept in a file so tokens survive a restart.

A page carries a token (HMAC of its session id); after a server restart the browser
rejoins with it, so the key must be the one the page was served with. By default it
lives in ``$XDG_STATE_HOME/lightflow/live/secret.key`` (``~/.local/state`` when unset):
32 bytes from the operating system's CSPRNG, created once with mode 0600 in a 0700
folder. A key file anyone else may read is refused (as ssh refuses a readable private
key): whoever reads it can forge tokens. Two processes starting at once agree on one
key: the file appears by an atomic ``link`` of a complete temporary file, and the
loser reads the winner's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

import platformdirs

from ._errors import SecretFileError

KEY_BYTES: Final = 32
_MAX_KEY_FILE: Final = 1024


def default_secret_path() -> Path:
    """``$XDG_STATE_HOME/lightflow/live/secret.key`` (read at each call: tests move it)."""
    return platformdirs.user_state_path("lightflow") / "live" / "secret.key"


def load_or_create_secret(path: Path) -> bytes:
    """The key in `path`, creating it (0600) when missing; `SecretFileError` if unusable."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(KEY_BYTES))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise SecretFileError(
            f"cannot open the live token key {path}: {error.strerror}; it must be a regular "
            "file (not a symlink) readable by this user"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise SecretFileError(f"the live token key {path} is not a regular file; remove it")
    with os.fdopen(fd, "rb") as file:
        if info.st_mode & 0o077:
            raise SecretFileError(
                f"the live token key {path} may be read by other users (mode "
                f"{stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        if info.st_size > _MAX_KEY_FILE:
            raise SecretFileError(
                f"the live token key {path} holds {info.st_size} bytes (at most "
                f"{_MAX_KEY_FILE}); remove it to make a new one (open pages will reload)"
            )
        key = file.read(_MAX_KEY_FILE + 1)
    if len(key) < KEY_BYTES:
        raise SecretFileError(
            f"the live token key {path} holds {len(key)} bytes, fewer than {KEY_BYTES}; "
            "remove it to make a new one (open pages will reload)"
        )
    return key
