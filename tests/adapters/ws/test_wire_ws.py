"""Over a real server: Hypercorn on 127.0.0.1, HTTP for pages, a wsproto WebSocket client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes, client_script
from lightflow_actors.live import WebSocketClient, WebSocketClientError
from lightflow_actors.live_examples import start_examples
from lightflow_actors.testing.live import WebSocketView

from ...live.live_server import serving

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def server() -> AsyncIterator[tuple[str, LiveRoutes, ActorSystem]]:
    async with ActorSystem("wire", seed=7) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        async with serving(routes.routes) as base:
            yield base, routes, system
        await routes.hub.stop()


async def test_the_first_get_is_the_full_page_without_javascript() -> None:
    async with server() as (base, _, _), httpx.AsyncClient() as http:
        page = await http.get(f"{base}/counter", params={"count": "12"})
        assert page.status_code == 200
        assert '<b id="count">12</b>' in page.text
        assert 'data-lf-socket="/live/socket"' in page.text
        assert '<script defer src="/live/static/lightflow-live.js">' in page.text
        table = await http.get(f"{base}/table")
        assert table.text.count("<tr id=") == 1000  # async mount asked the ticker
        missing = await http.get(f"{base}/nope")
        assert missing.status_code == 404 and "known views: account, chat, counter" in missing.text
        many = await http.get(f"{base}/counter", params={f"p{i}": "x" for i in range(100)})
        assert many.status_code == 400


async def test_the_client_script_is_served_with_an_etag() -> None:
    async with server() as (base, _, _), httpx.AsyncClient() as http:
        script = await http.get(f"{base}/static/lightflow-live.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert script.content == client_script()
        again = await http.get(
            f"{base}/static/lightflow-live.js",
            headers={"if-none-match": script.headers["etag"]},
        )
        assert again.status_code == 304


async def test_join_click_and_patch_over_a_real_websocket() -> None:
    async with server() as (base, _, _):
        view = await WebSocketView.open(base, "counter", {"count": "5"})
        assert '<b id="count">5</b>' in view.html()
        await view.push("inc", {"by": "2"})
        assert '<b id="count">7</b>' in view.html()
        assert view.client.patches[-1].root == {"0": "7"}
        await view.push("inc", {"by": "x"})
        assert view.client.errors[-1].path == "$.instruction.payload.by"  # type: ignore[union-attr]
        await view.close()


async def test_an_oversized_frame_is_closed_with_1009() -> None:
    async with server() as (base, _, _):
        view = await WebSocketView.open(base, "counter")
        data, _ = view.client.submit("inc", {"by": "1" * 200_000})
        await view.send_frame(data)
        while await view.ws.receive_text() is not None:
            pass
        assert view.ws.close_code == 1009


async def test_a_cross_site_origin_is_refused() -> None:
    async with server() as (base, _, _):
        url = httpx.URL(base)
        with pytest.raises(WebSocketClientError, match="403"):
            await WebSocketClient.connect(
                url.host, url.port or 80, "/live/socket", origin="http://evil.example"
            )
        same = await WebSocketClient.connect(
            url.host, url.port or 80, "/live/socket", origin=f"http://{url.host}:{url.port}"
        )
        await same.close()


async def test_a_killed_transport_closes_the_socket() -> None:
    async with server() as (base, routes, system):
        view = await WebSocketView.open(base, "counter")
        [transport] = await routes.hub.transports()
        system.kill(transport)
        while await view.ws.receive_text() is not None:
            pass
        assert view.ws.close_code == 1011
        for _ in range(200):  # its session stops with it (it monitors the transport)
            if not await routes.hub.sessions():
                break
            await asyncio.sleep(0.01)
        assert await routes.hub.sessions() == []
