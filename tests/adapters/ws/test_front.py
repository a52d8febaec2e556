"""`SocketFront` (ADR 0108): WebSocket endpoints served in front of an app's routing.

- Only a ``websocket`` scope at one of its exact paths goes to the endpoint; HTTP,
  lifespan and other WebSockets go to the app, unchanged.
- Over a real Hypercorn, a live page served through ``LiveRoutes.front`` works as before
  (join, events, the Origin check, a join token bound to the session cookie), and its
  socket's task awaits the endpoint through one frame, not Starlette's stack.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import SocketFront
from lightflow_actors.live import WebSocketClient, WebSocketClientError
from lightflow_actors.live_examples import start_examples
from lightflow_actors.testing.live import WebSocketView

from ...live.live_server import serving
from ._handshake import join_refused, page_ids

pytestmark = pytest.mark.anyio


class _App:
    def __init__(self, name: str, seen: list[tuple[str, str, str]]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((self.name, scope["type"], scope.get("path", "")))


async def _nothing() -> Any:
    return {}


async def _drop(message: Any) -> None:
    return None


async def test_only_a_websocket_at_an_exact_socket_path_reaches_the_endpoint() -> None:
    seen: list[tuple[str, str, str]] = []
    front = SocketFront(_App("app", seen), {"/live/socket": _App("socket", seen)})
    scopes: list[Scope] = [
        {"type": "websocket", "path": "/live/socket"},
        {"type": "http", "path": "/live/socket"},  # a GET at the same path: the app's
        {"type": "websocket", "path": "/live/socket/"},
        {"type": "websocket", "path": "/live/SOCKET"},
        {"type": "websocket", "path": "/other"},
        {"type": "lifespan"},
    ]
    for scope in scopes:
        await front(scope, _nothing, _drop)
    assert seen == [
        ("socket", "websocket", "/live/socket"),
        ("app", "http", "/live/socket"),
        ("app", "websocket", "/live/socket/"),
        ("app", "websocket", "/live/SOCKET"),
        ("app", "websocket", "/other"),
        ("app", "lifespan", ""),
    ]


def test_a_socket_path_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="starts with '/'"):
        SocketFront(_App("app", []), {"live/socket": _App("socket", [])})


def _awaited_chain(task: asyncio.Task[Any]) -> list[str]:
    """The qualified names of the coroutines `task` is suspended in, outermost first."""
    names: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None and hasattr(awaited, "cr_frame"):
        names.append(awaited.__qualname__)
        awaited = awaited.cr_await
    return names


async def test_a_fronted_live_page_works_and_its_socket_skips_the_routing() -> None:
    async with ActorSystem("front", seed=6) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        async with serving(routes.routes, wrap=lambda app: routes.front(app)) as base:
            url = httpx.URL(base)
            host, port = url.host, url.port or 80
            view = await WebSocketView.open(base, "counter", {"count": "4"})
            await view.push("inc", {"by": 2})
            assert '<b id="count">6</b>' in view.html()
            chains = [_awaited_chain(t) for t in asyncio.all_tasks()]
            (socket,) = [c for c in chains if "SocketEndpoint.__call__" in c]
            at = socket.index("SocketEndpoint.__call__")
            assert socket[at - 1] == "SocketFront.__call__", socket
            assert not any("Router" in name or "Middleware" in name for name in socket), socket
            with pytest.raises(WebSocketClientError, match="403"):  # the Origin check holds
                await WebSocketClient.connect(
                    host, port, "/live/socket", origin="http://evil.example"
                )
            # A join token bound to a browser's session cookie is refused without it.
            async with httpx.AsyncClient() as browser:
                page = await browser.get(f"{base}/counter")
            assert "lf_live_session" in page.headers.get("set-cookie", ""), page.headers
            session_id, token = page_ids(page.text)
            refusal = await join_refused(port, "counter", session_id, token, host=host)
            assert refusal.code == "unauthorized"  # no cookie
            await view.close()
        await routes.hub.stop()
