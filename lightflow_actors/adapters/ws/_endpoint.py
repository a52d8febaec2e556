"""The live WebSocket endpoint as a bare ASGI app, lean for idle connections (ADR 0099).

A live page keeps its socket open for as long as the tab is open and idle most of that
time, so what one idle connection holds is paid once per open tab. This endpoint holds:
no Starlette ``WebSocket`` object, no reader task (the endpoint's own coroutine reads),
no writer task while nothing is queued (`ASGISocket` starts one when a frame is queued;
it ends when the queue is empty), and no task waiting for the transport actor's exit
(a callback on the exit future). ``bench_live_transport --breakdown`` measures it.

The protocol is the same as before: one frame read, handed to the transport actor and
awaited before the next is read (a slow session slows the reader, not the server's
memory); frames the transport queues are written in order; after a close is queued what
the peer still sends is taken and dropped (left unread it would fill the server's queue
for this socket, and the peer's close would never be seen), and a peer that does not
answer the close within `CLOSE_TIMEOUT` seconds is let go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

from starlette.requests import HTTPConnection
from starlette.types import Message, Receive, Scope, Send

from lightflow_actors.kernel import ActorExited, ActorNotAlive, ask_now
from lightflow_actors.live import LiveHub, RequestInfo

from ._socket import BoundedSocket
from ._transport import Receive as ReceiveFrame
from ._transport import SocketClosed, start_transport

CLOSE_TIMEOUT: Final = 5.0
"""Seconds a socket whose close is queued waits for the peer's close, then is let go."""


class ASGISocket(BoundedSocket):
    """A `Socket` (see ``_socket.py``) over an ASGI ``send``: a write buffer bounded in
    frames and bytes, drained by a task that exists only while frames are queued."""

    # One per open socket: slots, and lists and futures made on demand (a deque costs
    # ~760 bytes even empty, an asyncio.Event the same). It also keeps what the
    # endpoint's reader needs once a close is queued (`reader`, `expiry`, `expired`):
    # attributes here, not closures and cells in the endpoint's frame (ADR 0108).
    __slots__ = ("_buffer", "_drain", "_send", "closed", "expired", "expiry", "reader")

    def __init__(
        self,
        send: Send,
        *,
        max_buffered: int,
        max_bytes: int,
        reader: asyncio.Task[Any] | None = None,
    ) -> None:
        super().__init__(max_buffered=max_buffered, max_bytes=max_bytes)
        self._send = send
        self._buffer: list[bytes] = []
        self._drain: asyncio.Task[None] | None = None
        self.closed = False  # the close frame is written (or the connection is gone)
        # The endpoint's task, cancelled when the peer does not answer a queued close
        # within CLOSE_TIMEOUT (`expired` then says why); None: no such deadline.
        self.reader = reader
        self.expiry: asyncio.TimerHandle | None = None
        self.expired = False

    # -- the transport side (sync, never blocks) -----------------------------------------

    def send(self, data: bytes) -> bool:
        if self._close_with is not None or self.closed:
            return True  # closing or gone: later frames are dropped, as the peer would
        if self._full(len(self._buffer), data):
            return False
        self._buffer.append(data)
        self.buffered_bytes += len(data)
        self._start_drain()
        return True

    def close(self, code: int, reason: str) -> None:
        if self._close_with is None:
            self._close_with = (code, reason)
            self._start_drain()
            self.resume_reading()
            if self.reader is not None:  # the peer has CLOSE_TIMEOUT to answer it
                loop = asyncio.get_running_loop()
                self.expiry = loop.call_later(CLOSE_TIMEOUT, self._expire)

    def abort(self, code: int, reason: str) -> None:
        # The peer does not read: what waits for it would only hold memory.
        self.buffered_bytes -= sum(len(data) for data in self._buffer)
        self._buffer.clear()
        self.close(code, reason)

    # -- the endpoint side ------------------------------------------------------------

    def transport_exited(self, _: object) -> None:
        """A done callback on the transport's exit future: a killed transport runs no
        on_stop, so nothing else would close the socket (the browser reconnects)."""
        self.close(1011, "the connection's actor stopped; reconnect")

    def _expire(self) -> None:
        self.expired = True
        reader = self.reader
        if reader is not None:
            reader.cancel()

    def ended(self) -> None:
        """The reader is done: no deadline is kept."""
        expiry = self.expiry
        if expiry is not None:
            self.expiry = None
            expiry.cancel()
        self.reader = None

    @property
    def writing(self) -> bool:
        """Whether a drain task is running (frames or the close are being written)."""
        return self._drain is not None

    def gone(self) -> None:
        """The connection is gone: nothing more can be written."""
        self.closed = True
        drain = self._drain
        if drain is not None:
            drain.cancel()
        self._forget()

    def _start_drain(self) -> None:
        if self._drain is None and not self.closed:
            self._drain = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        buffer = self._buffer
        send = self._send
        try:
            while buffer:
                data = buffer.pop(0)
                try:
                    await send({"type": "websocket.send", "text": data.decode("utf-8")})
                finally:
                    self.buffered_bytes -= len(data)
            close_with = self._close_with
            if close_with is not None:
                self.closed = True
                self._forget()
                with contextlib.suppress(Exception):  # the peer may be gone already
                    code, reason = close_with
                    await send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            # The connection broke under the write: the peer is gone (its disconnect
            # reaches the endpoint's reader); what is queued can never be written.
            self.closed = True
            self._forget()
        finally:
            self._drain = None

    def _forget(self) -> None:
        self._buffer.clear()
        self.buffered_bytes = 0
        self.resume_reading()


class SocketEndpoint:
    """``WS {base}/socket``: one live connection, as an ASGI app (`LiveRoutes` mounts it
    with ``WebSocketRoute``). `origin_allowed` and `request_info` read the handshake."""

    __slots__ = ("hub", "origin_allowed", "request_info")

    def __init__(
        self,
        hub: LiveHub,
        *,
        origin_allowed: Callable[[HTTPConnection], bool],
        request_info: Callable[[HTTPConnection], RequestInfo],
    ) -> None:
        self.hub = hub
        self.origin_allowed = origin_allowed
        self.request_info = request_info

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError(f"the live socket takes WebSockets, not {scope['type']!r}")
        if (await receive())["type"] != "websocket.connect":
            return
        handshake = HTTPConnection(scope)
        if not self.origin_allowed(handshake):
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return
        hub = self.hub
        await hub.start()
        await send({"type": "websocket.accept"})
        config = hub.config
        task = asyncio.current_task()
        assert task is not None
        sock = ASGISocket(
            send,
            max_buffered=config.max_buffered,
            max_bytes=config.max_buffered_bytes,
            reader=task,
        )
        info = self.request_info(handshake)
        del handshake
        # What the session needs of the handshake is in `info`: the scope's header list
        # (held by the server's stream and every frame above this one for as long as the
        # socket is open, ~1 KB) is let go. The server read it at the upgrade; it is not
        # read again for a WebSocket.
        scope["headers"] = ()
        transport = await start_transport(hub, sock, info)
        del info
        watch = hub.system.exit_future(transport)
        exited = sock.transport_exited
        watch.add_done_callback(exited)
        try:
            while True:
                if not sock.closing:
                    await sock.wait_readable()
                message: Message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if sock.closing:
                    continue  # taken and dropped: see the module docstring
                try:
                    await ask_now(transport, ReceiveFrame(_payload(message)), timeout=None)
                except (ActorExited, ActorNotAlive):
                    sock.close(1011, "the connection's actor stopped; reconnect")
        except asyncio.CancelledError:
            if sock.expired and task.uncancel() == 0:
                return  # our own timer: the peer never answered the close
            raise
        finally:
            watch.remove_done_callback(exited)
            sock.ended()
            transport.tell(SocketClosed())
            if not sock.closed:
                sock.gone()


def _payload(message: dict[str, Any] | Message) -> bytes:
    text = message.get("text")
    if text is not None:
        return str(text).encode("utf-8")
    data = message.get("bytes")
    return bytes(data) if data else b""
