"""Finding every inbox and the requests waiting in it (start-up recovery and polling).

Only real folders are walked: a symlinked folder is never followed, so a scan cannot be
lured out of the tree. A folder that cannot be listed now (EMFILE, EACCES, ...) is passed
by: the next rescan lists it again, and a scan never crashes the substrate.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["inboxes", "subdirs", "waiting_files"]


def subdirs(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    yield Path(entry.path)
    except OSError:  # gone, not a folder, no permission, out of descriptors: next scan
        return


def inboxes(root: Path) -> Iterator[Path]:
    """Every inbox folder: api formats and threads of every home, and every tool."""
    for home in subdirs(root / "home"):
        for fmt in subdirs(home / "api"):
            yield fmt / "inbox"
        for thread in subdirs(home / "thread"):
            yield thread / "inbox"
    for tool in subdirs(root / "tool"):
        yield tool / "invoke" / "inbox"


def waiting_files(inbox: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files in `inbox` whose names end in one of `suffixes`, in name order."""
    try:
        with os.scandir(inbox) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(suffixes))
    except OSError:  # gone, not a folder, no permission, out of descriptors: next scan
        return
    for name in names:
        yield inbox / name
