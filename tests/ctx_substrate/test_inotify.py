"""The substrate's inotify reader tells a rename into a folder from a creation in it, and
follows folders created later (watchfiles reports both as "added")."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ctx_substrate._inotify import Inotify, InotifyEvent

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux only")


def drain(watch: Inotify) -> list[InotifyEvent]:
    events = list(watch.read())
    for event in events:
        if event.is_dir and event.created and event.path is not None:
            watch.watch_tree(event.path)
    return events


def test_rename_and_creation_are_told_apart(tmp_path: Path) -> None:
    watch = Inotify(tmp_path)
    try:
        inbox = tmp_path / "home" / "inbox"
        (tmp_path / "home").mkdir()
        drain(watch)  # `home` is watched from now on
        inbox.mkdir()
        drain(watch)
        (inbox / "a.tmp").write_bytes(b"{}")
        os.rename(inbox / "a.tmp", inbox / "a.req.json")
        (inbox / "b.req.json").write_bytes(b"{}")
        os.link(inbox / "b.req.json", inbox / "c.req.json")
        events = drain(watch)
        moved = {e.path.name for e in events if e.path is not None and e.moved_in}
        created = {e.path.name for e in events if e.path is not None and e.created}
        assert moved == {"a.req.json"}
        assert created == {"a.tmp", "b.req.json", "c.req.json"}
        assert list(watch.read()) == []  # never blocks when nothing is queued
    finally:
        watch.close()


def test_symlinked_folders_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to(outside)
    watch = Inotify(tree)
    try:
        (outside / "x.req.json").write_bytes(b"{}")
        assert list(watch.read()) == []
    finally:
        watch.close()
