"""Id rules of the CortexFS ABI (DESIGN.md §8).

Request, tool, thread and uid ids are *single path segments*; channel, job and hook ids
follow the stricter `[A-Za-z0-9.-]{1,64}`. Both refuse `.` and `..`.
"""

from __future__ import annotations

import re

from ._errors import InvalidIdError

__all__ = [
    "MAX_SEGMENT_BYTES",
    "check_segment_id",
    "check_short_id",
    "is_segment_id",
    "is_short_id",
]

# The longest suffix the ABI appends is ".fingerprint" (12 bytes); 200 leaves room for it and
# for a temporary-name prefix under the usual 255-byte NAME_MAX.
MAX_SEGMENT_BYTES = 200

_SHORT_ID = re.compile(r"[A-Za-z0-9.-]{1,64}\Z")
# Control characters are refused too: they are legal in file names, but break the line-based
# tools (ls, audit JSONL readers) an operator uses to inspect the tree.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _segment_problem(value: str) -> str | None:
    if not value:
        return "it is empty"
    if value in (".", ".."):
        return "`.` and `..` are not ids"
    if "/" in value:
        return "it contains `/`; an id is a single path segment"
    if _CONTROL.search(value):
        return "it contains a control character (NUL, newline, ...)"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not encodable as UTF-8 (lone surrogate)"
    if size > MAX_SEGMENT_BYTES:
        return f"it is {size} bytes long; at most {MAX_SEGMENT_BYTES} UTF-8 bytes"
    return None


def is_segment_id(value: str) -> bool:
    """True when `value` is a single path segment usable as a request/tool/thread id."""
    return _segment_problem(value) is None


def check_segment_id(kind: str, value: str) -> str:
    """Return `value` when it is a valid single-segment id, else raise `InvalidIdError`.

    >>> check_segment_id("request", "step-1")
    'step-1'
    """
    problem = _segment_problem(value)
    if problem is not None:
        raise InvalidIdError(kind, value, problem)
    return value


def is_short_id(value: str) -> bool:
    """True when `value` matches `[A-Za-z0-9.-]{1,64}` and is not `.`/`..`."""
    return _SHORT_ID.match(value) is not None and value not in (".", "..")


def check_short_id(kind: str, value: str) -> str:
    """Return `value` when it is a valid channel/job/hook id, else raise `InvalidIdError`."""
    if not is_short_id(value):
        raise InvalidIdError(kind, value, "must match [A-Za-z0-9.-]{1,64} and not be `.` or `..`")
    return value
