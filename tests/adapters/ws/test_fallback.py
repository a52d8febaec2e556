"""The HTTP transports over a real server: SSE and long-polling (specs/live-wire.md §17).

The same frames as the WebSocket: a join, a click and its patch, error frames, the
close codes; the connection is bound to the browser that opened it (cookie sid, Origin);
a lost poll answer is answered again; the limits refuse with a typed answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import FallbackConfig, LiveRoutes
from lightflow_actors.isa import ErrorFrame
from lightflow_actors.live import HttpTransport, HttpTransportView, LiveConfig, LiveHub
from lightflow_actors.live_examples import start_examples
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.tenants import Budgets, TenantLedger, TenantsConfig

from ...live.live_server import serving

pytestmark = pytest.mark.anyio

TRANSPORTS: list[HttpTransport] = ["sse", "poll"]


@asynccontextmanager
async def server(
    fallback: FallbackConfig | None = None,
) -> AsyncIterator[tuple[str, LiveRoutes, ActorSystem]]:
    async with ActorSystem("fallback", seed=7) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        if fallback is not None:
            routes = LiveRoutes(routes.hub, fallback=fallback)
        async with serving(routes.routes) as base:
            yield base, routes, system
        await routes.hub.stop()


async def eventually(check: object, what: str) -> None:
    for _ in range(500):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_join_click_and_patch(transport: HttpTransport) -> None:
    async with server() as (base, routes, _):
        view = await HttpTransportView.open(base, "counter", {"count": "5"}, transport=transport)
        assert '<b id="count">5</b>' in view.html()
        await view.push("inc", {"by": "2"})
        assert '<b id="count">7</b>' in view.html()
        assert view.client.patches[-1].root == {"0": "7"}
        await view.push("inc", {"by": "x"})  # the same error frame as over a WebSocket
        assert view.client.errors[-1].path == "$.instruction.payload.by"  # type: ignore[union-attr]
        await view.push("inc", {"by": "1"})
        assert '<b id="count">8</b>' in view.html()
        assert routes.fallback.open_connections == 1
        await view.close()

        async def gone() -> bool:
            return not await routes.hub.sessions() and routes.fallback.open_connections == 0

        await eventually(gone, "the session and the connection gone after DELETE")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_chat_presence_between_a_websocket_and_a_fallback(transport: HttpTransport) -> None:
    async with server() as (base, _, _), httpx.AsyncClient(timeout=30) as http:
        from lightflow_actors.live import WebSocketView

        ada = await WebSocketView.open(base, "chat", {"name": "ada"})
        bob = await HttpTransportView.open(
            base, "chat", {"name": "bob"}, transport=transport, http=http
        )
        await ada.until(lambda: "person-bob" in ada.html(), "bob's presence")
        await bob.until(lambda: "person-ada" in bob.html(), "ada's presence")
        await bob.push("send", {"text": "hello over http"})
        await ada.until(lambda: "hello over http" in ada.html(), "bob's message")
        await bob.close()
        await ada.until(lambda: "person-bob" not in ada.html(), "bob leaving")
        await ada.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_killed_transport_closes_with_1011(transport: HttpTransport) -> None:
    async with server() as (base, routes, system):
        view = await HttpTransportView.open(base, "counter", transport=transport)
        [transport_ref] = await routes.hub.transports()
        system.kill(transport_ref)
        while await view.receive_text() is not None:
            pass
        assert view.close_code == 1011
        await view.close()


async def test_a_lost_poll_answer_is_answered_again() -> None:
    async with server() as (base, _, _), httpx.AsyncClient(timeout=30) as http:
        page = await http.get(f"{base}/counter")
        opened = await http.post(f"{base}/poll")
        conn = opened.json()["conn"]
        hello = b'{"kind":"hello","v":1,"seq":1,"versions":[1]}'
        assert (
            await http.post(f"{base}/poll", params={"conn": conn}, content=hello)
        ).status_code == 204
        first = (await http.get(f"{base}/poll", params={"conn": conn, "since": "0"})).json()
        assert first["next"] == 1 and '"welcome"' in first["frames"][0]
        again = (await http.get(f"{base}/poll", params={"conn": conn, "since": "0"})).json()
        assert again == first  # the browser never got it: the same frames again
        behind = await http.get(f"{base}/poll", params={"conn": conn, "since": "7"})
        assert behind.status_code == 400 and "outside" in behind.json()["error"]
        bad = await http.get(f"{base}/poll", params={"conn": conn, "since": "-1"})
        assert bad.status_code == 400
        assert page.status_code == 200


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_connection_belongs_to_the_browser_that_opened_it(
    transport: HttpTransport,
) -> None:
    async with server() as (base, _, _), httpx.AsyncClient(timeout=30) as other:
        view = await HttpTransportView.open(base, "counter", transport=transport)
        await other.get(f"{base}/counter")  # another browser, with its own session cookie
        ping = b'{"kind":"ping","v":1,"seq":9}'
        stolen = await other.post(f"{base}/{transport}", params={"conn": view.conn}, content=ping)
        assert stolen.status_code == 403
        assert "another browser session" in stolen.json()["error"]
        cross = await view.http.post(
            f"{base}/{transport}",
            params={"conn": view.conn},
            content=ping,
            headers={"origin": "http://evil.example"},
        )
        assert cross.status_code == 403 and cross.json() == {"error": "origin not allowed"}
        unknown = await view.http.post(f"{base}/{transport}", params={"conn": "nope"}, content=ping)
        assert unknown.status_code == 410
        assert (await view.http.post(f"{base}/{transport}", content=ping)).status_code in (400, 200)
        await view.push("inc", {"by": "1"})  # the owner goes on
        assert '<b id="count">1</b>' in view.html()
        await view.close()


async def test_opening_from_another_origin_is_refused() -> None:
    async with server() as (base, _, _), httpx.AsyncClient(timeout=30) as http:
        evil = {"origin": "http://evil.example"}
        assert (await http.post(f"{base}/poll", headers=evil)).status_code == 403
        assert (await http.get(f"{base}/sse", headers=evil)).status_code == 403


async def test_opening_a_long_poll_takes_no_body() -> None:
    async with server() as (base, routes, _), httpx.AsyncClient(timeout=30) as http:
        for body in (
            b'{"kind":"hello","v":1,"seq":1,"versions":[1]}',
            b"\xff\xfe",
        ):
            refused = await http.post(f"{base}/poll", content=body)
            assert refused.status_code == 400, refused.text
            assert "takes no body" in refused.json()["error"]

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length
            yield b"[[[["

        refused = await http.post(f"{base}/poll", content=chunked())
        assert refused.status_code == 400
        assert routes.fallback.open_connections == 0  # nothing was opened
        opened = await http.post(f"{base}/poll", content=b"")
        assert opened.status_code == 200 and opened.json()["conn"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_oversized_post_is_413_and_closes(transport: HttpTransport) -> None:
    config = FallbackConfig(max_post_bytes=4096, max_post_frames=4)
    async with server(config) as (base, routes, _):
        view = await HttpTransportView.open(base, "counter", transport=transport)
        big = await view.http.post(
            f"{base}/{transport}", params={"conn": view.conn}, content=b"x" * 5000
        )
        assert big.status_code == 413 and "at most 4096 bytes" in big.json()["error"]
        while await view.receive_text() is not None:
            pass
        assert view.close_code == 1009
        again = await HttpTransportView.open(base, "counter", transport=transport)
        many = await again.send_frames([b"{}"] * 5)
        assert many == 413
        await again.close()
        assert routes.fallback.open_connections == 0


async def test_the_connection_limit_answers_503() -> None:
    async with server(FallbackConfig(max_connections=1)) as (base, _, _):
        view = await HttpTransportView.open(base, "counter", transport="poll")
        async with httpx.AsyncClient() as http:
            full = await http.post(f"{base}/poll")
            assert full.status_code == 503 and full.headers["retry-after"] == "1"
        await view.close()


async def test_a_frame_too_large_closes_as_over_a_websocket() -> None:
    async with ActorSystem("fallback-limits", seed=3) as system:
        hub = LiveHub(system, {"counter": counter}, config=LiveConfig(max_frame_bytes=2048))
        async with serving(LiveRoutes(hub).routes) as base:
            view = await HttpTransportView.open(base, "counter", transport="poll")
            data, _ = view.client.submit("inc", {"by": "1" * 5000})
            await view.send_frame(data)
            while await view.receive_text() is not None:
                pass
            assert view.close_code == 1009
            await view.close()
        await hub.stop()


def over_budget(view: HttpTransportView) -> list[ErrorFrame]:
    return [e for e in view.client.errors if isinstance(e, ErrorFrame) and e.code == "over_budget"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_session_has_its_next_post_held_until_its_budget_has_a_token(
    transport: HttpTransport,
) -> None:
    # specs/tenants.md §3: after an over_budget refusal the transport reads nothing for
    # retry_after, so the browser's next POST of frames waits instead of being refused.
    budgets = TenantsConfig(default=Budgets(session_events_per_s=1, session_events_burst=1))
    async with ActorSystem("fallback-budget", seed=7) as system:
        ledger = TenantLedger(budgets, clock=system.clock)
        hub = LiveHub(system, {"counter": counter}, tenants=ledger)
        routes = LiveRoutes(hub)
        async with serving(routes.routes) as base:
            view = await HttpTransportView.open(base, "counter", transport=transport)
            await view.push("inc", {"by": "1"})
            await view.push("inc", {"by": "1"})  # refused: no token for a second
            [refused] = over_budget(view)
            assert refused.retry_after is not None and refused.retry_after > 0
            await view.push("inc", {"by": "1"})  # held in its POST, then admitted
            assert '<b id="count">2</b>' in view.html()
            assert len(over_budget(view)) == 1
            assert [u.refused for u in ledger.usage()] == [{"session_events": 1}]
            await view.close()
        await hub.stop()
