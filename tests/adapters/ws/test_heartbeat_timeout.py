"""A browser that never answers the server's pings is timed out (1001), on virtual time so a
loaded machine never races the 0.05 s timeout against the mount."""

from __future__ import annotations

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live import LiveConfig
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.testing.live import live_test


@pytest.mark.deterministic(seeds=3, strategy="random")
async def test_a_silent_browser_times_out(sim_system: ActorSystem) -> None:
    config = LiveConfig(heartbeat_interval=0.01, heartbeat_timeout=0.05)
    async with live_test({"counter": counter}, config=config, system=sim_system) as live:
        view = await live.mount("counter")
        await live.system.wait_exit(view.transport)
        assert view.socket.close_code == 1001
        assert any(b'"ping"' in f for f in view.socket.frames)
