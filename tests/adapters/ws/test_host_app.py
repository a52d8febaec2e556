"""The way a host app mounts live views: `live_routes` built before the system runs.

The routes start the hub on the first request; the examples' ticker starts from the
host's startup hook. This is the wiring the lead's `create_app` uses.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live_examples import example_views, start_example_actors
from lightflow_actors.testing.live import WebSocketView

from ...live.live_server import serving

pytestmark = pytest.mark.anyio


async def test_live_routes_start_lazily_on_the_first_request() -> None:
    system = ActorSystem("host", seed=4)
    routes = live_routes(system, example_views(system))  # the system is not running yet
    await system.start()
    try:
        await start_example_actors(system, interval=3600.0)
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


async def test_mounted_in_the_operator_app() -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from starlette.routing import Mount

    from lightflow_actors.adapters.http import create_app

    from ...live.live_server import free_port

    system = ActorSystem("operator", seed=5)
    routes = [Mount("/live", routes=live_routes(system, example_views(system)))]
    app = create_app(system, routes=routes, on_startup=start_example_actors)
    await system.start()
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        base = f"http://127.0.0.1:{port}/live"
        for _ in range(200):
            try:
                view = await WebSocketView.open(base, "table")  # the ticker started on startup
                break
            except (OSError, httpx.HTTPError):
                await asyncio.sleep(0.02)
        assert view.html().count("<tr id=") == 1000
        await view.close()
    finally:
        stop.set()
        await server
        await system.shutdown()
