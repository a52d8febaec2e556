"""`SocketFront`: WebSocket endpoints served in front of an app's routing (ADR 0108).

A live socket stays open as long as its tab, and every coroutine frame between the server
and the endpoint is held for that long. Reached through Starlette, an idle live socket
holds the application's middleware stack, its router, the ``Mount``'s router and the
``WebSocketRoute`` (seven suspended frames, the scope copied at each mount, the
exception-handling closures): ~5 KB of the ~33 KB an idle counter session held
(``bench_live_transport --breakdown``). In front of the app, it holds one frame.

`SocketFront` dispatches a ``websocket`` scope whose path is one of its endpoints' exact
paths straight to that endpoint; everything else (HTTP, lifespan, other WebSockets) goes
to `app` unchanged. The endpoint gets the scope as the server made it (``root_path``
is the server's, not a ``Mount``'s): the live endpoint reads only the handshake's
headers, cookies and scheme. What the endpoint does not get is the app's middleware: the
live socket checks the Origin, the session cookie and the join token itself, so put a
front inside any middleware a socket must still pass (a host guard, a connection limit).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send


class SocketFront:
    """An ASGI app: ``websocket`` scopes at one of `sockets`' paths (the full path, as the
    server sends it: ``/live/socket``) go to that endpoint; everything else to `app`.

    ::

        live = LiveRoutes(hub)
        app = Starlette(routes=[Mount("/live", routes=live.routes)])
        served = live.front(app, mount="/live")   # SocketFront(app, {"/live/socket": ...})
    """

    __slots__ = ("app", "sockets")

    def __init__(self, app: ASGIApp, sockets: Mapping[str, ASGIApp]) -> None:
        for path in sockets:
            if not path.startswith("/"):
                raise ValueError(f"a socket path starts with '/': {path!r}")
        self.app = app
        self.sockets = dict(sockets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.sockets.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
