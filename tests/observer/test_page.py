"""GET /observer in the operator app: a static snapshot first, the live session's wiring,
lazy start, and a hub that comes back after an operator killed it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import start_demo
from lightflow_actors.observer import OBSERVER_NAME

Operator = Callable[..., Any]  # the `operator` fixture of conftest.py
pytestmark = pytest.mark.anyio

FEED = f"{OBSERVER_NAME}.feed"


async def test_the_page_is_a_server_rendered_snapshot_wired_to_its_socket(
    operator: Operator,
) -> None:
    async with ActorSystem("paged") as system:
        await start_demo(system)
        async with operator(system, token="t0ken") as (_, client):
            assert system.whereis(FEED) is None  # nothing runs until someone looks
            page = await client.get("/observer", params={"actor": "3", "q": "work"})
            assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
            html = page.text
            assert system.whereis(FEED) is not None
            assert 'data-lf-socket="/observer/socket"' in html
            assert 'src="/observer/static/lightflow-live.js"' in html
            assert 'href="observer.css"' in html and 'data-lf-view="observer"' in html
            labels = re.findall(r'data-label="([^"]*)"', html)
            assert labels == ["worker-1", "worker-2", "worker-3"]
            # No JavaScript yet: a snapshot, no token form, no buttons, never the token.
            assert "static snapshot" in html and 'id="token-form"' not in html
            assert "t0ken" not in html
            script = await client.get("/observer/static/lightflow-live.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
            again = await client.get(
                "/observer/static/lightflow-live.js",
                headers={"If-None-Match": script.headers["etag"]},
            )
            assert again.status_code == 304
            assert (await client.get("/observer.js")).status_code == 404
            assert (await client.get("/observer.css")).status_code == 200
            too_many = {f"p{i}": "x" for i in range(65)}
            assert (await client.get("/observer", params=too_many)).status_code == 400
        # The app stopped the observer's hub with its gateway; the host's tree stays.
        assert system.whereis(OBSERVER_NAME) is None and system.whereis(FEED) is None
        assert system.whereis("demo") is not None


async def test_a_killed_observer_hub_is_started_again_by_the_next_request(
    operator: Operator,
) -> None:
    async with operator() as (app, client):
        assert (await client.get("/observer")).status_code == 200
        hub = app.system.whereis(OBSERVER_NAME)
        assert hub is not None
        app.system.kill(hub)
        await app.system.wait_exit(hub)
        page = await client.get("/observer")
        assert page.status_code == 200 and "Supervision tree" in page.text
        again = app.system.whereis(OBSERVER_NAME)
        assert again is not None and again.id != hub.id
        assert app.system.whereis(FEED) is not None


async def test_a_draining_server_serves_no_observer(operator: Operator) -> None:
    async with operator() as (app, client):
        assert (await client.get("/observer")).status_code == 200
        await app.drain()
        assert app.system.whereis(OBSERVER_NAME) is None
        closed = await client.get("/observer")
        assert closed.status_code == 503 and "stopping" in closed.json()["error"]
