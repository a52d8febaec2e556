"""`CatalogCache`: the asset catalog, rescanned only when an asset file changed.

Scanning parses every asset file (never executes it; definitions are evaluated in a
child process by the `AssetEvaluator`). Keeping one `AssetCatalog` while no file changed
keeps it cheap for a long-running server, and an edited, added or removed file is seen at
the next call. A file that cannot be read is one of the catalog's `problems`: the other
assets stay usable, and the listing names it with its file and line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from lightflow_actors.flow import FOLDERS, AssetCatalog

__all__ = ["CatalogCache"]

Signature = tuple[tuple[str, int, int], ...]


class CatalogCache:
    """The catalog of one assets folder and its overlays; `current()` is safe to call from
    threads."""

    def __init__(self, root: Path, overlays: Sequence[Path] = ()) -> None:
        self.root = root
        self.overlays = tuple(overlays)
        self._lock = threading.Lock()
        self._signature: Signature | None = None
        self._catalog: AssetCatalog | None = None

    def current(self) -> AssetCatalog:
        """The catalog as the files are now (unreadable files are its `problems`)."""
        signature = self._signature_now()
        with self._lock:
            if self._catalog is not None and signature == self._signature:
                return self._catalog
            catalog = AssetCatalog.scan(self.root, self.overlays)
            self._catalog, self._signature = catalog, signature
            return catalog

    def _signature_now(self) -> Signature:
        entries: list[tuple[str, int, int]] = []
        for folder, root in ((f, r) for r in (self.root, *self.overlays) for f in FOLDERS):
            directory = root / folder
            try:
                scan = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in scan:
                if entry.name.endswith(".py"):
                    try:
                        st = entry.stat()
                    except OSError:
                        continue
                    entries.append((entry.path, st.st_mtime_ns, st.st_size))
        return tuple(sorted(entries))
