"""From a committed file path to a checked request: where it is, whose it is, what it says.

The watcher (or the FUSE rename hook) reports a path; `locate` says which inbox it is in,
`read_request` reads it with every safety check of the ABI: the folder chain contains no
symlink and stays in the tree, the file is a regular file (not a symlink, FIFO, device)
with no other link, it is not larger than the limit, and the body decodes as the target
expects. Every refusal is a `RequestRefused` with its `ErrorKind`; `decode_body` lets no
other exception out, whatever the bytes (tests/ctx_substrate/test_decoders.py).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import msgspec

from lightflow_actors.cortex import (
    API_FORMATS,
    DECODE_ERRORS,
    MAX_SEGMENT_BYTES,
    Suffix,
    TargetKind,
    decode_failure_kind,
    is_segment_id,
)
from lightflow_actors.tenants import DEFAULT_TENANT, TenantIdError, check_tenant

from ._errors import RequestRefused

__all__ = ["Location", "decode_body", "locate", "read_request", "read_tenant", "stays_in_tree"]

logger = logging.getLogger("ctx_substrate")


class Location(msgspec.Struct, frozen=True):
    """Where a request file sits. `name` is the format, tool or thread; `uid` is None for tools.

    `raw_id` is the file name without `.req.json` and is not yet checked: a hostile name is
    still located so that its refusal can be written beside it.
    """

    kind: TargetKind
    name: str
    uid: str | None
    inbox: Path
    outbox: Path
    raw_id: str

    def file(self, folder: Path, suffix: str) -> Path:
        return folder / (self.raw_id + suffix)


def locate(root: Path, path: Path, suffix: str = Suffix.REQUEST) -> Location | None:
    """The inbox position of `path` (a `*<suffix>` file), or None when it is not in an inbox.

    Shapes (relative to `root`):
      home/<uid>/api/<format>/inbox/<id>.req.json      answers in .../<format>/outbox
      tool/<tool>/invoke/inbox/<id>.req.json           answers in .../invoke/outbox
      home/<uid>/thread/<thread>/inbox/<id>.req.json   answers in the inbox itself
    """
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if not parts or not parts[-1].endswith(suffix):
        return None
    raw_id = parts[-1][: -len(suffix)]
    folder = path.parent
    if len(parts) == 6 and parts[0] == "home" and parts[2] == "api" and parts[4] == "inbox":
        return Location("api", parts[3], parts[1], folder, folder.parent / "outbox", raw_id)
    if len(parts) == 5 and parts[0] == "tool" and parts[2:4] == ("invoke", "inbox"):
        return Location("tool", parts[1], None, folder, folder.parent / "outbox", raw_id)
    if len(parts) == 6 and parts[0] == "home" and parts[2] == "thread" and parts[4] == "inbox":
        return Location("thread", parts[3], parts[1], folder, folder, raw_id)
    return None


def stays_in_tree(root: Path, folder: Path) -> bool:
    """True when `folder` resolves to itself under the resolved root: no symlink, no `..`."""
    real_root = os.path.realpath(root)
    try:
        rel = folder.relative_to(root)
    except ValueError:
        return False
    if ".." in rel.parts:
        return False
    return os.path.realpath(folder) == os.path.join(real_root, *rel.parts)


def check_location(root: Path, loc: Location) -> None:
    """Refuse what the ABI forbids about the position itself (names, ids, escapes)."""
    if loc.kind == "api" and loc.name not in API_FORMATS:
        raise RequestRefused(
            "unknown_format", f"{loc.name!r} is not an API format; use one of {API_FORMATS}"
        )
    if not is_segment_id(loc.name) or (loc.uid is not None and not is_segment_id(loc.uid)):
        raise RequestRefused("invalid_id", f"folder name {loc.name!r} is not a valid id")
    if not is_segment_id(loc.raw_id):
        if _only_too_long(loc.raw_id):
            # Committed under a name that fits, but `<id>.fingerprint` or a temporary name
            # might not: refused up front, answered with `<id>.error` (always shorter than
            # `<id>.req.json`, so it fits wherever the request did).
            size = len(loc.raw_id.encode())
            raise RequestRefused(
                "name_too_long",
                f"request id is {size} bytes; at most {MAX_SEGMENT_BYTES} UTF-8 bytes, so "
                "every answer name fits under NAME_MAX; commit it again with a shorter id",
            )
        raise RequestRefused(
            "invalid_id", f"request id {loc.raw_id!r} is not a single path segment"
        )


def _only_too_long(value: str) -> bool:
    """True when the only fault of `value` as an id is its length."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (
        size > MAX_SEGMENT_BYTES
        and "/" not in value
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    )


def read_request(path: Path, limit: int) -> bytes:
    """Read a claimed request file: regular file, no symlink, at most `limit` bytes."""
    try:
        info = os.lstat(path)
    except FileNotFoundError as exc:
        raise RequestRefused("malformed", "the request file vanished before it was read") from exc
    if stat.S_ISLNK(info.st_mode):
        raise RequestRefused("path_escape", "the request is a symlink; commit a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise RequestRefused("malformed", "the request is not a regular file")
    if info.st_nlink > 1:
        raise RequestRefused("hard_link", _HARD_LINK)
    if info.st_size > limit:
        raise RequestRefused("too_large", f"{info.st_size} bytes exceeds the {limit}-byte limit")
    # O_NOFOLLOW closes the window between lstat and open; O_NONBLOCK keeps a FIFO swapped in
    # meanwhile from blocking the substrate.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise RequestRefused("malformed", "the request is not a regular file")
        if opened.st_nlink > 1:
            raise RequestRefused("hard_link", _HARD_LINK)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise RequestRefused("too_large", f"the request grew past the {limit}-byte limit")
    return b"".join(chunks)


_TENANT_BYTES = 64


def read_tenant(loc: Location) -> str:
    """The tenant a request is served for: its `<id>.tenant` file (written by the client
    before the commit, ADR 0104), else `DEFAULT_TENANT`.

    The file only decides whose queue and budget the request counts against, never
    whether it is served: a missing, unreadable, oversized or non-regular file, or one
    that names no tenant id, serves the request as the default tenant's (the last with a
    warning). Never raises.
    """
    path = loc.file(loc.inbox, Suffix.TENANT)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return DEFAULT_TENANT
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return DEFAULT_TENANT
        data = os.read(fd, _TENANT_BYTES + 1)
    except OSError:
        return DEFAULT_TENANT
    finally:
        os.close(fd)
    try:
        return check_tenant(data.decode("ascii").strip(), str(path))
    except (UnicodeDecodeError, TenantIdError):
        shown = data[:_TENANT_BYTES].decode("ascii", "backslashreplace")
        logger.warning("%s names no tenant id (%r); served as %r", path, shown, DEFAULT_TENANT)
        return DEFAULT_TENANT


_HARD_LINK = (
    "the request file has another hard link (it may be a file outside the tree); "
    "commit a file of its own: write <id>.tmp, then rename it"
)

_OBJECT = msgspec.json.Decoder(dict[str, object])


def decode_body(kind: TargetKind, raw: bytes) -> dict[str, object]:
    """Decode a request body once: a JSON object, for every kind.

    Raises `RequestRefused` and nothing else: `malformed` (not JSON, not an object),
    `too_deep` (nesting past msgspec's limit) or `invalid_utf8`. A tool's body is the tool's
    own typed input (a workflow step's `input` struct); the provider the tool is routed to
    decides how to run it, and refuses an input it cannot use with `malformed` (see
    specs/cortexfs-abi.md §Committing a request).
    """
    try:
        return _OBJECT.decode(raw)
    except DECODE_ERRORS as exc:
        if isinstance(exc, RecursionError):
            problem = "nests deeper than the decoder's limit; flatten it"
        elif isinstance(exc, UnicodeDecodeError):
            problem = f"is not UTF-8 ({exc.reason} at byte {exc.start}); encode it as UTF-8"
        else:
            problem = f"is not a JSON object: {exc}"
        failure = decode_failure_kind(exc)
        raise RequestRefused(failure, f"the {kind} request body {problem}") from exc
