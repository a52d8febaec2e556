"""Tracebacks as the observer shows them: each frame's file relative to the import root
that holds it (``lightflow_actors/kernel/_cell.py``, not the checkout's or the virtual
environment's absolute path).

A module's path under its ``sys.path`` entry is what an operator needs to find the code
(it names the package and the file), and it is the same on every machine running the
same code; the absolute prefix says only where this machine keeps it (a home directory,
a worktree, a virtual environment). The JSON tree (``GET /system/tree``) keeps the
traceback as the supervisor noted it; only the page shortens it. A file under no import
root (a script run by path, a frame of ``<string>``) is shown as it is.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Sequence

_FRAME = re.compile(r'^(?P<head>\s*File ")(?P<path>[^"\n]+)(?P<tail>", line \d+)', re.M)


def import_roots(path: Sequence[str] | None = None) -> tuple[str, ...]:
    """The absolute directories of ``path`` (``sys.path`` by default), longest first,
    each ending with the separator."""
    return _roots(tuple(sys.path if path is None else path))


@functools.lru_cache(maxsize=4)
def _roots(entries: tuple[str, ...]) -> tuple[str, ...]:
    roots = {os.path.join(os.path.abspath(e), "") for e in entries if e and os.path.isabs(e)}
    roots.discard(os.sep)  # "/" would make every path relative to nothing useful
    return tuple(sorted(roots, key=len, reverse=True))


def readable_traceback(text: str, roots: Sequence[str] | None = None) -> str:
    """``text`` with each ``File "..."`` line's path made relative to the longest import
    root holding it (``roots``: `import_roots()` by default); every other line as it is."""
    found = import_roots() if roots is None else tuple(roots)

    def shorten(match: re.Match[str]) -> str:
        path = match["path"]
        for root in found:
            if path.startswith(root) and len(path) > len(root):
                return f"{match['head']}{path[len(root) :]}{match['tail']}"
        return match[0]

    return _FRAME.sub(shorten, text)
