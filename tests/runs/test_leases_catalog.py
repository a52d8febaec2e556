"""Leases (one process drives a run, one serves a tree; released when the owner dies) and
the catalog cache (rescanned only when an asset file changed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from lightflow_actors.runs import CatalogCache, Lease, run_lease_path, tree_lease_path

from ._support import ASSETS


def hold(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from pathlib import Path\n"
            "from lightflow_actors.runs import Lease\n"
            f"lease = Lease.try_acquire(Path({str(path)!r}))\n"
            "print('held' if lease else 'busy', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_lease_is_exclusive_between_processes_and_dies_with_its_owner(tmp_path: Path) -> None:
    path = run_lease_path(tmp_path, "r-1")
    assert path == tmp_path / "hosting" / "r-1.lock"
    owner = hold(path)
    try:
        assert Lease.try_acquire(path) is None
        assert Lease.holder(path) == f"pid {owner.pid}"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
    lease = Lease.try_acquire(path)
    assert lease is not None and lease.held
    assert Lease.holder(path) == f"pid {os.getpid()}"
    lease.release()
    lease.release()
    assert not lease.held


def test_tree_leases_name_the_tree(tmp_path: Path) -> None:
    a = tree_lease_path(tmp_path, "/srv/ctx")
    assert a == tree_lease_path(tmp_path, "/srv/../srv/ctx")
    assert a != tree_lease_path(tmp_path, "/srv/other")


def test_the_catalog_is_rescanned_only_after_a_change(tmp_path: Path) -> None:
    root = tmp_path / "assets"
    shutil.copytree(ASSETS, root)
    cache = CatalogCache(root)
    first = cache.current()
    assert cache.current() is first
    source = (root / "workflows" / "greet.py").read_text()
    (root / "workflows" / "hello.py").write_text(source.replace('"id": "greet"', '"id": "hello"'))
    second = cache.current()
    assert second is not first and second.has("hello", "workflow")
    (root / "workflows" / "hello.py").unlink()
    assert not cache.current().has("hello", "workflow")
