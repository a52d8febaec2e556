"""Live sessions without WebSockets: server-sent events and long-polling (ADR 0101).

Some proxies and load balancers refuse or break the WebSocket upgrade. The browser then
falls back to one of two HTTP transports (specs/live-wire.md §17), each a connection of
its own with the very same transport actor (`Transport`) behind it: the same frames,
sequence numbers, acks, heartbeats, error frames, in-flight window and held patches.
Only the `Socket` differs, so a session never knows which transport it has.

    GET    {base}/sse                       open: an event stream, `lf-conn` first
    POST   {base}/sse?conn=ID               frames up (NDJSON, one frame a line)
    DELETE {base}/sse?conn=ID               the browser leaves
    POST   {base}/poll                      open: ``{"conn": ID}``
    GET    {base}/poll?conn=ID&since=N      frames down from position N (a long poll)
    POST   {base}/poll?conn=ID              frames up
    DELETE {base}/poll?conn=ID              the browser leaves

A connection id is 128 random bits from the OS CSPRNG (a capability, like a socket),
and every request on it must come from the browser that opened it: the same session
cookie sid (none, for a browser without one) and an allowed ``Origin`` (as for the
WebSocket). Frames up are handed to the transport one at a time, each awaited as the
WebSocket reader awaits it, so a paused transport (its window is full) holds the POST,
not the server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
from collections.abc import Callable
from typing import Final, Literal

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive as AsgiReceive
from starlette.types import Scope, Send

from lightflow_actors.kernel import ActorExited, ActorNotAlive, ActorRef
from lightflow_actors.live import LiveHub, RequestInfo

from ._poll import PollAnswer, PollPositionError, PollSocket
from ._socket import QueueSocket
from ._transport import Receive, SocketClosed, start_transport

Kind = Literal["sse", "poll"]

_MAX_CONN_CHARS: Final = 64
_MAX_SINCE: Final = 2**53
_LINGER: Final = 30.0  # seconds a closed long-poll connection waits for its last poll
_NO_STORE: Final = {"Cache-Control": "no-store"}


class FallbackConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Limits of the HTTP transports (the wire's own limits are `LiveConfig`'s).

    - `poll_timeout`: seconds a long poll waits for a frame before answering with none
      (below the heartbeat interval of 15 s: a ping would answer it anyway);
    - `max_connections`: open SSE and long-poll connections of the hub (a WebSocket is
      bounded by the listening socket, ADR 0052; these are not sockets); beyond, 503;
    - `max_post_bytes` / `max_post_frames`: one POST of frames; beyond, 413 and the
      connection closes (1009), as a WebSocket frame too large does.
    """

    poll_timeout: float = 12.0
    max_connections: int = 10_000
    max_post_bytes: int = 1024 * 1024
    max_post_frames: int = 64

    def __post_init__(self) -> None:
        if not self.poll_timeout > 0:
            raise ValueError(f"FallbackConfig.poll_timeout must be > 0, got {self.poll_timeout!r}")
        for name in ("max_connections", "max_post_bytes", "max_post_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"FallbackConfig.{name} must be an int >= 1, got {value!r}")


class _Conn:
    """One open HTTP connection: its socket, its transport actor, whose browser it is."""

    __slots__ = ("binding", "done", "kind", "lock", "socket", "tasks", "transport")

    def __init__(
        self,
        kind: Kind,
        socket: QueueSocket | PollSocket,
        transport: ActorRef[Receive | SocketClosed],
        binding: str,
    ) -> None:
        self.kind: Kind = kind
        self.socket = socket
        self.transport = transport
        self.binding = binding  # the session cookie sid of the opening request ("" none)
        self.lock = asyncio.Lock()  # POSTs of one connection go to the transport in order
        self.done = asyncio.Event()  # set once the connection is forgotten
        self.tasks: list[asyncio.Future[None]] = []  # kept alive while open


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"error": message}, status_code=status, headers={**_NO_STORE, **(headers or {})}
    )


class FallbackRoutes:
    """The SSE and long-poll endpoints of one hub (`LiveRoutes` mounts them)."""

    def __init__(
        self,
        hub: LiveHub,
        *,
        origin_allowed: Callable[[HTTPConnection], bool],
        request_info: Callable[[HTTPConnection], RequestInfo],
        config: FallbackConfig | None = None,
    ) -> None:
        self.hub = hub
        self.config = config if config is not None else FallbackConfig()
        self._origin_allowed = origin_allowed
        self._request_info = request_info
        self._conns: dict[str, _Conn] = {}
        self.routes: list[BaseRoute] = [
            Route("/sse", self.sse, methods=["GET", "POST", "DELETE"], name="lightflow_live_sse"),
            Route(
                "/poll", self.poll, methods=["GET", "POST", "DELETE"], name="lightflow_live_poll"
            ),
        ]

    @property
    def open_connections(self) -> int:
        """SSE and long-poll connections open now."""
        return len(self._conns)

    # -- the two endpoints ----------------------------------------------------------------

    async def sse(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._open(request, "sse")
        if request.method == "POST":
            return await self._frames_up(request, "sse")
        return await self._leave(request, "sse")

    async def poll(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._frames_down(request)
        if request.method == "POST" and "conn" not in request.query_params:
            if await _has_body(request):
                return _error(
                    400,
                    "opening a long-poll connection takes no body; send frames with "
                    "POST ?conn=<the id this answers>",
                )
            return await self._open(request, "poll")
        if request.method == "POST":
            return await self._frames_up(request, "poll")
        return await self._leave(request, "poll")

    # -- open -------------------------------------------------------------------------

    async def _open(self, request: Request, kind: Kind) -> Response:
        if not self._origin_allowed(request):
            return _error(403, "origin not allowed")
        if len(self._conns) >= self.config.max_connections:
            return _error(
                503,
                f"this server holds its maximum of {self.config.max_connections} SSE and "
                "long-poll connections; retry later",
                {"Retry-After": "1"},
            )
        hub = self.hub
        await hub.start()
        info = self._request_info(request)
        live = hub.config
        socket: QueueSocket | PollSocket
        if kind == "sse":
            stream = _EventStream()
            socket = QueueSocket(
                stream.frame,
                stream.close,
                max_buffered=live.max_buffered,
                max_bytes=live.max_buffered_bytes,
            )
        else:
            socket = PollSocket(max_buffered=live.max_buffered, max_bytes=live.max_buffered_bytes)
        transport = await start_transport(hub, socket, info)
        conn_id = secrets.token_urlsafe(16)
        conn = _Conn(kind, socket, transport, _binding(hub, info))
        self._conns[conn_id] = conn
        if isinstance(socket, QueueSocket):
            return _SSEResponse(self, conn_id, conn, stream)
        conn.tasks.append(asyncio.ensure_future(self._reap_poll(conn_id, conn)))
        return JSONResponse({"conn": conn_id}, headers=_NO_STORE)

    # -- frames up (both kinds) -----------------------------------------------------------

    async def _frames_up(self, request: Request, kind: Kind) -> Response:
        found = self._find(request, kind)
        if isinstance(found, Response):
            return found
        conn_id, conn = found
        limit = self.config.max_post_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return self._too_large(conn_id, conn, f"the body is {declared} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return self._too_large(conn_id, conn, f"the body is over {limit} bytes")
            chunks.append(chunk)
        lines = [line for line in b"".join(chunks).split(b"\n") if line.strip()]
        if len(lines) > self.config.max_post_frames:
            return self._too_large(conn_id, conn, f"{len(lines)} frames in one POST")
        socket, transport = conn.socket, conn.transport
        async with conn.lock:
            for line in lines:
                await socket.wait_readable()
                if socket.closing:
                    return _error(410, "the connection closed; open a new one")
                try:
                    await transport.ask(Receive(line), timeout=None)
                except (ActorExited, ActorNotAlive):
                    return _error(410, "the connection closed; open a new one")
        return Response(status_code=204, headers=_NO_STORE)

    def _too_large(self, conn_id: str, conn: _Conn, what: str) -> Response:
        limits = (
            f"at most {self.config.max_post_bytes} bytes and {self.config.max_post_frames} frames"
        )
        conn.socket.close(1009, "a POST of frames was too large")
        conn.transport.tell(SocketClosed())
        self._forget(conn_id, conn)
        return _error(413, f"{what}: a POST carries {limits}; the connection is closed")

    # -- frames down (long-poll) ----------------------------------------------------------

    async def _frames_down(self, request: Request) -> Response:
        found = self._find(request, "poll")
        if isinstance(found, Response):
            return found
        conn_id, conn = found
        text = request.query_params.get("since", "0")
        if not (text.isascii() and text.isdigit() and len(text) <= 16 and int(text) <= _MAX_SINCE):
            return _error(400, f"since must be a whole number up to 2^53, got {text[:32]!r}")
        assert isinstance(conn.socket, PollSocket)
        try:
            answer = await conn.socket.take(int(text), self.config.poll_timeout)
        except PollPositionError as error:
            return _error(400, str(error))
        if answer.close is not None:
            self._forget(conn_id, conn)
        return Response(_encode(answer), media_type="application/json", headers=_NO_STORE)

    async def _reap_poll(self, conn_id: str, conn: _Conn) -> None:
        """Once the transport stops, close its socket (a killed one runs no on_stop) and
        keep the connection a while for the poll that takes the close."""
        with contextlib.suppress(asyncio.CancelledError):
            await self.hub.system.wait_exit(conn.transport)
            if not conn.socket.closing:
                conn.socket.close(1011, "the connection's actor stopped; reconnect")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.done.wait(), _LINGER)
        self._forget(conn_id, conn)

    # -- leave ------------------------------------------------------------------------

    async def _leave(self, request: Request, kind: Kind) -> Response:
        found = self._find(request, kind)
        if isinstance(found, Response):
            return found
        conn_id, conn = found
        conn.transport.tell(SocketClosed())
        conn.socket.close(1000, "the browser left")
        self._forget(conn_id, conn)
        return Response(status_code=204, headers=_NO_STORE)

    # -- internals --------------------------------------------------------------------

    def _find(self, request: Request, kind: Kind) -> tuple[str, _Conn] | Response:
        if not self._origin_allowed(request):
            return _error(403, "origin not allowed")
        conn_id = request.query_params.get("conn", "")
        if not 1 <= len(conn_id) <= _MAX_CONN_CHARS:
            return _error(400, f"conn must be a connection id of 1 to {_MAX_CONN_CHARS} characters")
        conn = self._conns.get(conn_id)
        if conn is None or conn.kind != kind:
            return _error(
                410, f"no open {kind} connection {conn_id[:_MAX_CONN_CHARS]!r}; open a new one"
            )
        binding = _binding(self.hub, self._request_info(request))
        if not hmac.compare_digest(binding.encode(), conn.binding.encode()):
            return _error(403, "this connection was opened by another browser session")
        return conn_id, conn

    def _forget(self, conn_id: str, conn: _Conn) -> None:
        if self._conns.get(conn_id) is conn:
            del self._conns[conn_id]
        conn.done.set()


async def _has_body(request: Request) -> bool:
    """Whether the request carries a body (read no further than its first bytes)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        return declared.strip() != "0"
    async for chunk in request.stream():
        if chunk:
            return True
    return False


def _binding(hub: LiveHub, info: RequestInfo) -> str:
    visit = hub.visit(info)
    return "" if visit.fresh else visit.sid


_encoder = msgspec.json.Encoder()


def _encode(answer: PollAnswer) -> bytes:
    return _encoder.encode(answer)


# -- server-sent events -------------------------------------------------------------------


class _EventStream:
    """The body of one SSE answer: `frame` and `close` queue events (the `QueueSocket`
    calls them from its writer, one at a time); `_SSEResponse` sends them."""

    __slots__ = ("send",)

    def __init__(self) -> None:
        self.send: Send | None = None

    async def frame(self, data: bytes) -> None:
        await self._body(_event(None, data), more=True)

    async def close(self, code: int, reason: str) -> None:
        payload = _encoder.encode({"code": code, "reason": reason})
        with contextlib.suppress(Exception):  # the browser may be gone already
            await self._body(_event(b"lf-close", payload), more=False)

    async def _body(self, body: bytes, *, more: bool) -> None:
        send = self.send
        if send is None:
            raise RuntimeError("the event stream has not started")
        await send({"type": "http.response.body", "body": body, "more_body": more})


def _event(name: bytes | None, data: bytes) -> bytes:
    # A frame is one line of JSON (JSON escapes line breaks); split anyway, as SSE
    # joins `data:` lines with a line feed.
    head = b"event: " + name + b"\n" if name is not None else b""
    return head + b"".join(b"data: " + line + b"\n" for line in data.split(b"\n")) + b"\n"


class _SSEResponse(Response):
    """``GET {base}/sse``: the event stream of one connection, for its whole life."""

    def __init__(self, owner: FallbackRoutes, conn_id: str, conn: _Conn, stream: _EventStream):
        super().__init__(status_code=200)
        self.owner = owner
        self.conn_id = conn_id
        self.conn = conn
        self.stream = stream

    async def __call__(self, scope: Scope, receive: AsgiReceive, send: Send) -> None:
        conn, stream = self.conn, self.stream
        socket = conn.socket
        assert isinstance(socket, QueueSocket)
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # nginx: do not buffer the stream
        ]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            stream.send = send
            hello = _encoder.encode({"conn": self.conn_id})
            await send(
                {
                    "type": "http.response.body",
                    "body": b"retry: 600000\n" + _event(b"lf-conn", hello),
                    "more_body": True,
                }
            )
        except OSError:
            conn.transport.tell(SocketClosed())
            self.owner._forget(self.conn_id, conn)
            return

        async def gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        writer = asyncio.ensure_future(socket.writer())
        reader = asyncio.ensure_future(gone())
        exited = asyncio.ensure_future(self.owner.hub.system.wait_exit(conn.transport))
        try:
            await asyncio.wait({writer, reader, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            conn.transport.tell(SocketClosed())
            if exited.done() and not socket.closing:
                socket.close(1011, "the connection's actor stopped; reconnect")
            if not reader.done() and not writer.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(writer), 5.0)
            for task in (writer, reader, exited):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            self.owner._forget(self.conn_id, conn)
