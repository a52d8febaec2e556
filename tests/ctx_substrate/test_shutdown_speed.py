"""The substrate's actors stop promptly at shutdown (none is killed after the timeout).

Each test used to wait `default_stop_timeout` (5 s) at teardown: the root's shutdown
terminated the `Substrate`, whose linked `DirectoryWatcher` then got the link's exit signal
before its async `on_stop` task had started, and the kernel stranded it (fixed in the
kernel: tests/kernel/test_shutdown_signals.py). The substrate's linked helpers also trap
exits and stop on their parent's `Exit`, so a link signal never cancels their `on_stop`
(the FUSE unmount always runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Never

import pytest

from ctx_substrate._fuse_probe import fuse_available
from lightflow_actors import KILLED, SHUTDOWN, Actor, ActorSystem, LifecycleEvent
from lightflow_actors.adapters.cortex import CortexClient
from lightflow_actors.cortex import CtxLayout


class ClientOwner(Actor[Never]):
    """A plain actor with a linked `CortexClient` listening with inotify."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def on_start(self) -> None:
        self.spawn(lambda: CortexClient(CtxLayout(str(self._root), "1000")), link=True)


def record_exits(system: ActorSystem) -> dict[str, str | None]:
    """`{actor class: exit reason}` of every actor that exits from now on."""
    exits: dict[str, str | None] = {}

    def listen(event: LifecycleEvent) -> None:
        if event.kind == "exited":
            exits[event.actor_kind] = event.reason

    system.subscribe(listen)
    return exits


@pytest.mark.anyio
async def test_a_linked_cortex_client_stops_at_shutdown(tmp_path: Path) -> None:
    system = ActorSystem(default_stop_timeout=0.5)
    await system.start()
    await system.start_actor(lambda: ClientOwner(tmp_path))
    await asyncio.sleep(0.05)  # its watchfiles listener is running
    exits = record_exits(system)
    await system.shutdown()
    assert exits.get("CortexClient") == SHUTDOWN, f"killed at shutdown: {exits}"


@pytest.mark.anyio
async def test_substrate_shutdown_kills_nothing(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    """Every substrate actor stops with `shutdown` (inotify and poll watchers, FUSE)."""
    setups: list[dict[str, object]] = [{"watch": "inotify"}, {"watch": "poll"}]
    if fuse_available() is None:
        setups.append({"backend": "fuse"})
    for n, setup in enumerate(setups):
        ctx = await start_ctx(root=tmp_path / f"ctx{n}", **setup)
        exits = record_exits(ctx.system)
        await ctx.system.shutdown()
        assert "DirectoryWatcher" in exits, exits
        assert KILLED not in exits.values(), f"{setup}: killed at shutdown: {exits}"
        if setup.get("backend") == "fuse":
            assert exits["FuseBackend"] == SHUTDOWN  # so its on_stop unmounted (test_fuse.py)
