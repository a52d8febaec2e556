"""The way a host app mounts live views: `live_routes` built before the system runs.

The routes start the hub on the first request; the examples' ticker starts from the
host's startup hook. This is the wiring the lead's `create_app` uses.
"""

from __future__ import annotations

import httpx
import pytest
from live_server import serving

from examples.live.app import example_views, start_ticker
from lightflow_actors import ActorSystem
from lightflow_actors.live import live_routes
from lightflow_actors.testing.live import WebSocketView

pytestmark = pytest.mark.anyio


async def test_live_routes_start_lazily_on_the_first_request() -> None:
    system = ActorSystem("host", seed=4)
    routes = live_routes(system, example_views(system))  # the system is not running yet
    await system.start()
    try:
        await start_ticker(system, interval=3600.0)
        async with serving(routes) as base:
            async with httpx.AsyncClient() as http:
                page = await http.get(f"{base}/table")
            assert page.text.count("<tr id=") == 1000
            view = await WebSocketView.open(base, "counter")
            await view.push("inc", {"by": 3})
            assert '<b id="count">3</b>' in view.html()
            await view.close()
    finally:
        await system.shutdown()
