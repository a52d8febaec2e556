"""The route tables and model records a substrate publishes at start: written durably
when they change, left alone (no fsync) when a restart finds them as they would be
written (the CLI starts a substrate at every command)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import msgspec
import pytest

pytestmark = pytest.mark.anyio


async def test_unchanged_route_tables_are_not_written_again(
    start_ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await start_ctx(root=tmp_path / "tree")
    await first.system.shutdown()
    route = tmp_path / "tree" / "route" / "api.json"
    table = route.read_bytes()
    assert msgspec.json.decode(table)  # published
    synced: list[str] = []
    lock = threading.Lock()
    real = os.fsync

    def fsync(fd: int) -> None:
        with lock:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    again = await start_ctx(root=tmp_path / "tree")
    await again.system.shutdown()
    published = [p for p in synced if "/route" in p or "/model" in p]
    assert published == []
    assert route.read_bytes() == table
    route.write_bytes(b"")  # what a power loss may leave of it: written again
    synced.clear()
    third = await start_ctx(root=tmp_path / "tree")
    await third.system.shutdown()
    assert route.read_bytes() == table
    assert any(p.endswith("/route") or "/route/" in p for p in synced)
