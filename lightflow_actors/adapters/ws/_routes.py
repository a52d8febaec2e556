"""Starlette routes for live views: the page, the WebSocket, the client script.

    GET  {base}/{view}                    the view's static HTML (works without JS)
    WS   {base}/socket                    the live connection (specs/live-wire.md)
    GET  {base}/static/lightflow-live.js  the client
    GET  {base}/session?change=<token>    a view's PutSession: set the cookie, redirect
    GET|POST|DELETE {base}/sse, {base}/poll  the same connection over SSE or long-polling
                                          when WebSockets are blocked (_fallback.py)

Mount them where you like: ``Mount("/live", routes=live_routes(system, views))``.
The endpoints stay thin (ADR 0022): decode the request, then talk to actors. The
socket loop reads a frame, asks the connection's transport actor to take it, and
waits for its answer before reading the next (so a slow session slows the reader,
not the server's memory); a writer task drains what the transport queued, and exists
only while something is queued (_endpoint.py).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import (
    MAX_PARAMS,
    AnyLiveView,
    GroupedView,
    Halted,
    LiveConfig,
    LiveHub,
    PubSubAdapter,
    RequestInfo,
    SessionCookie,
    SessionCookieError,
    SetCookie,
    UnknownViewError,
)

from ._deflate import bound_deflate
from ._endpoint import SocketEndpoint
from ._fallback import FallbackConfig, FallbackRoutes
from ._front import SocketFront
from ._hypercorn import lean_hypercorn
from ._page import CLIENT_SCRIPT, client_script, page_html

_MAX_PARAM_CHARS = 2048


class LiveRoutes:
    """The endpoints of one `LiveHub`; `routes` is what you mount.

    ``allowed_origins``: browser origins (``"https://example.org"``) allowed to open
    the WebSocket besides the page's own host; any other Origin is refused (no
    cross-site WebSocket hijacking of a session); the same check guards the SSE and
    long-poll transports (``fallback`` sets their limits, ADR 0101).
    """

    def __init__(
        self,
        hub: LiveHub,
        *,
        allowed_origins: Collection[str] = (),
        fallback: FallbackConfig | None = None,
    ) -> None:
        bound_deflate()  # small zlib contexts for every Hypercorn socket (_deflate.py)
        lean_hypercorn()  # small queues and events for every Hypercorn connection
        self.hub = hub
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self._script = client_script()
        self._script_gzip = gzip.compress(self._script, 9, mtime=0)  # once, at the best level
        digest = hashlib.sha256(self._script).hexdigest()[:16]
        self._etag = f'"{digest}"'
        self._etag_gzip = f'"{digest}-gz"'  # one ETag per representation (RFC 9110 §8.8.3)
        # Pages are compressed per request at level 6: the 1 000-row table's 130 KB page
        # becomes 13 KB in 3 ms (level 9 takes 13 ms for 0.5 % less).
        page_gzip = [Middleware(GZipMiddleware, minimum_size=512, compresslevel=6)]
        self.fallback = FallbackRoutes(
            hub, origin_allowed=self._origin_allowed, request_info=request_info, config=fallback
        )
        self.endpoint = SocketEndpoint(
            hub, origin_allowed=self._origin_allowed, request_info=socket_request_info
        )
        self.routes: list[BaseRoute] = [
            WebSocketRoute("/socket", self.endpoint, name="lightflow_live_socket"),
            *self.fallback.routes,
            Route("/static/" + CLIENT_SCRIPT, self.script, name="lightflow_live_script"),
            Route("/session", self.session, name="lightflow_live_session"),
            Route("/{view}", self.page, name="lightflow_live_page", middleware=page_gzip),
        ]

    def front(self, app: ASGIApp, *, mount: str = "/live") -> SocketFront:
        """`app` with this hub's socket served in front of its routing (ADR 0108): an idle
        socket then holds one coroutine frame instead of Starlette's stack. `mount` is
        where `routes` are mounted in `app` (the socket route stays in `routes`: an app
        without the front serves it through its routing, as before)."""
        return SocketFront(app, {self.socket_path(mount): self.endpoint})

    @staticmethod
    def socket_path(mount: str) -> str:
        """The socket's full path when `routes` are mounted at `mount`."""
        return mount.rstrip("/") + "/socket"

    async def page(self, request: Request) -> Response:
        hub = self.hub
        name = request.path_params["view"]
        try:
            hub.view(name)
        except UnknownViewError as error:
            return PlainTextResponse(str(error), status_code=404)
        query = request.query_params
        if len(query) > MAX_PARAMS or any(
            len(k) > _MAX_PARAM_CHARS or len(v) > _MAX_PARAM_CHARS for k, v in query.items()
        ):
            return PlainTextResponse(
                f"too many or too long query parameters (at most {MAX_PARAMS}, "
                f"{_MAX_PARAM_CHARS} characters each)",
                status_code=400,
            )
        await hub.start()
        rendered = await hub.static_render(name, dict(query), request_info(request))
        if isinstance(rendered, Halted):
            # An on_mount hook refused: 303 to where it said (relative to this page).
            halted = RedirectResponse(rendered.location, status_code=303)
            halted.headers["Cache-Control"] = "no-store"
            set_cookies(halted, rendered.cookies)
            return halted
        base = request.scope.get("root_path", "")
        html = page_html(
            body=rendered.html,
            title=rendered.title,
            head=type(hub.view(name).view).head,
            script_url=f"{base}/static/{CLIENT_SCRIPT}",
            socket_url=f"{base}/socket",
            base=base,
            view=name,
            session_id=rendered.session_id,
            token=rendered.token,
            flash=rendered.flash,
        )
        response = HTMLResponse(html, headers={"Cache-Control": "no-store"})
        set_cookies(response, rendered.cookies)
        return response

    async def session(self, request: Request) -> Response:
        """``GET {base}/session?change=<token>``: apply a view's `PutSession` (the cookie a
        WebSocket cannot set) and redirect to the view it names."""
        hub = self.hub
        await hub.start()
        token = request.query_params.get("change", "")
        try:
            applied = hub.apply_session_change(token, request_info(request))
        except SessionCookieError as error:
            # Stale (a reload of an old URL), forged, or another browser's: nothing is
            # written. The text says why; the browser's session is unchanged.
            return PlainTextResponse(
                f"session change refused ({error.reason}): {error.detail}; go back and try again",
                status_code=400 if error.reason in ("malformed", "oversized") else 403,
                headers={"Cache-Control": "no-store"},
            )
        response = RedirectResponse(applied.location, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        set_cookies(response, applied.cookies)
        return response

    async def script(self, request: Request) -> Response:
        compressed = accepts_gzip(request.headers.get("accept-encoding", ""))
        etag = self._etag_gzip if compressed else self._etag
        headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if compressed:
            headers["Content-Encoding"] = "gzip"
            body = self._script_gzip
        else:
            body = self._script
        return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)

    async def socket(self, websocket: WebSocket) -> None:
        """The live connection over a Starlette `WebSocket` (pages that wrap the socket
        route call this); the route itself is `endpoint`, a bare ASGI app (_endpoint.py)."""
        await self.endpoint(websocket.scope, websocket.receive, websocket.send)

    def _origin_allowed(self, connection: HTTPConnection) -> bool:
        # Browsers always send Origin on a WebSocket and on a POST or DELETE; on a GET
        # (the SSE stream, a poll) only when it is cross-origin. None: same-origin or
        # not a browser; the session cookie and the join token still bind it.
        origin = connection.headers.get("origin")
        if origin is None:
            return True
        if origin.rstrip("/") in self.allowed_origins:
            return True
        return urlsplit(origin).netloc == connection.headers.get("host", "")


def request_info(connection: HTTPConnection) -> RequestInfo:
    """The cookies and headers of a page GET or a WebSocket handshake, bounded."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in connection.scope["headers"]]
    secure = connection.url.scheme in ("https", "wss")
    return RequestInfo.from_request(connection.cookies, headers, secure=secure)


HANDSHAKE_ONLY: Final = frozenset(
    {
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    }
)
"""Headers of a WebSocket handshake that only the server's upgrade reads (RFC 6455 §4.1;
``connection`` and ``upgrade`` are hop-by-hop): a live socket's `RequestInfo` keeps none
of them, since it is kept as long as the socket (``sec-websocket-protocol`` stays)."""


def socket_request_info(connection: HTTPConnection) -> RequestInfo:
    """`request_info` of a WebSocket handshake, without the `HANDSHAKE_ONLY` headers."""
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in connection.scope["headers"]
        if k.lower() not in _HANDSHAKE_ONLY_BYTES
    ]
    secure = connection.url.scheme in ("https", "wss")
    return RequestInfo.from_request(connection.cookies, headers, secure=secure)


_HANDSHAKE_ONLY_BYTES: Final = frozenset(name.encode("latin-1") for name in HANDSHAKE_ONLY)


def set_cookies(response: Response, cookies: tuple[SetCookie, ...]) -> None:
    """Write the hub's cookies on `response` (``max_age`` 0 deletes one)."""
    for cookie in cookies:
        response.set_cookie(
            cookie.name,
            cookie.value,
            max_age=cookie.max_age,
            path=cookie.path,
            secure=cookie.secure,
            httponly=cookie.http_only,
            samesite=cookie.same_site,
        )


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (RFC 9110 §12.5.3): ``gzip`` (or
    ``x-gzip``) with a q above 0, or, when gzip is not named, ``*`` with a q above 0.
    An unreadable q counts as 0; at most 64 codings are read."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(",")[:64]:
        coding, _, params = item.partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:  # nan, inf, negative: not a weight
                    weight = 0.0
        weights[coding.strip().lower()] = weight
    named = [weights[c] for c in ("gzip", "x-gzip") if c in weights]
    if named:
        return max(named) > 0
    return weights.get("*", 0.0) > 0


def live_routes(
    system: ActorSystem,
    views: Mapping[str, AnyLiveView | GroupedView],
    *,
    config: LiveConfig | None = None,
    secret: bytes | Path | None = None,
    pubsub_adapter: PubSubAdapter | None = None,
    allowed_origins: Collection[str] = (),
    name: str = "live",
    session_cookie: SessionCookie | None = None,
) -> list[BaseRoute]:
    """Routes serving `views` (name -> view instance) on `system`.

    ::

        app = Starlette(routes=[Mount("/live", routes=live_routes(system, {"counter": Counter()}))])

    The hub's actors start on the first request (the system must be running by then);
    use `LiveRoutes(LiveHub(...))` instead to hold the hub (to stop it, or list sessions).
    """
    hub = LiveHub(
        system,
        views,
        config=config,
        secret=secret,
        pubsub_adapter=pubsub_adapter,
        name=name,
        session_cookie=session_cookie,
    )
    return LiveRoutes(hub, allowed_origins=allowed_origins).routes
