"""Creating the folders of a CortexFS tree so clients find every inbox they may commit to."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lightflow_actors.cortex import API_FORMATS, CtxLayout

__all__ = ["ensure_tree"]


def ensure_tree(
    layout: CtxLayout, *, tools: Iterable[str] = (), threads: Iterable[str] = ()
) -> list[Path]:
    """Create (idempotently) the folders of `layout`'s home and of the named tools/threads."""
    folders: list[Path] = [
        layout.audit_log.parent,
        layout.model_dir,
        layout.route_dir,
        layout.root_path / "chan",
        layout.root_path / "tool",
        layout.home / "job",
        layout.home / "hook",
        layout.home / "thread",
    ]
    for fmt in API_FORMATS:
        folders += [layout.api_inbox(fmt), layout.api_outbox(fmt)]
    for tool in tools:
        folders += [layout.tool_inbox(tool), layout.tool_outbox(tool)]
    for thread in threads:
        folders.append(layout.thread_inbox(thread))
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders
