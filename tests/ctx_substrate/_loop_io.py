"""Which fsyncs and renames happen on the loop's thread (they should not, ADR 0119)."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest


def watch_loop_io(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, every `os.fsync` and `os.replace` done on this (the loop's) thread is
    listed in the returned list; `monkeypatch.undo()` stops watching."""
    loop_thread = threading.get_ident()
    on_loop: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        if threading.get_ident() == loop_thread:
            on_loop.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    def replace(src: Any, dst: Any, **dir_fds: Any) -> None:
        if threading.get_ident() == loop_thread:
            on_loop.append(f"replace {src} -> {dst}")
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return on_loop
