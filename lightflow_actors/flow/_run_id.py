"""Run ids: the rule every id must pass before it touches the file system, and new ids.

A run id is one folder name under `runs/`: non-empty, not `.` or `..`, no `/` (the
LightFlow contract); we also refuse NUL and other control characters and ids longer than
200 UTF-8 bytes (file names stop at 255), so no id can escape or break the runs folder.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

from ._errors import InvalidRunId

MAX_RUN_ID_BYTES = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a valid run folder name, else raise InvalidRunId."""
    if not run_id:
        raise InvalidRunId("run id is empty; pass a non-empty id or omit it to get one")
    if run_id in (".", ".."):
        raise InvalidRunId(f"run id {run_id!r} is reserved; choose another id")
    if "/" in run_id:
        raise InvalidRunId(f"run id {run_id[:80]!r} contains '/'; a run id is one folder name")
    if _CONTROL.search(run_id):
        raise InvalidRunId(f"run id {run_id[:80]!r} contains a NUL or control character")
    try:
        size = len(run_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRunId("run id is not valid UTF-8 text (lone surrogate)") from None
    if size > MAX_RUN_ID_BYTES:
        raise InvalidRunId(f"run id is {size} bytes long; the limit is {MAX_RUN_ID_BYTES}")
    return run_id


def new_run_id(workflow: str, now_ms: int, rng: random.Random) -> str:
    """`<workflow>-<UTC yyyymmddThhmmss>-<6 hex>`, from the passed clock and RNG."""
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%S")
    slug = _SAFE.sub("-", workflow).strip("-.")[:64] or "run"
    return f"{slug}-{stamp}-{rng.getrandbits(24):06x}"
