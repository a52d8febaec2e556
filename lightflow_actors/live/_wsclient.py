"""A minimal asyncio WebSocket client on wsproto, for Python peers of live sessions.

The browser speaks to live sessions with its own WebSocket; Python code (tests,
the benchmark, tools) uses this one: connect, send text, receive text, close.
wsproto (already a dependency of Hypercorn) does the framing; this file only moves
bytes between it and an asyncio stream. Loopback and plain ``ws://`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from ._errors import LiveError


class WebSocketClientError(LiveError):
    """The WebSocket handshake failed or the connection broke."""


class WebSocketClient:
    """One client connection.

    ::

        ws = await WebSocketClient.connect("127.0.0.1", 8000, "/live/socket")
        await ws.send_text('{"kind":"hello","v":1,"seq":1,"versions":[1]}')
        text = await ws.receive_text()     # None once the server closed
        await ws.close()
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._texts: deque[str] = deque()
        self._partial: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.extensions: list[object] = []  # what the server accepted (permessage-deflate)

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        path: str,
        *,
        origin: str | None = None,
        deflate: bool = False,
        cookie: str | None = None,
    ) -> WebSocketClient:
        """Open a connection; ``deflate`` offers permessage-deflate (RFC 7692), as browsers
        do; ``cookie`` is the ``Cookie`` header to send (a browser sends its cookies)."""
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(reader, writer)
        headers = [(b"origin", origin.encode())] if origin else []
        if cookie:
            headers.append((b"cookie", cookie.encode("latin-1")))
        extensions = [PerMessageDeflate()] if deflate else []
        request = Request(
            host=f"{host}:{port}", target=path, extra_headers=headers, extensions=extensions
        )
        await client._write(client._ws.send(request))
        accepted = False
        while not accepted:
            events = await client._events()
            if not events and client.close_code is not None:
                raise WebSocketClientError("the server closed the connection during the handshake")
            for event in events:
                if accepted:
                    client._handle(event)  # frames that came in the same read
                elif isinstance(event, AcceptConnection):
                    accepted = True
                    client.extensions = list(event.extensions)
                elif isinstance(event, RejectConnection):
                    writer.close()
                    raise WebSocketClientError(f"handshake refused with HTTP {event.status_code}")
        return client

    async def send_text(self, text: str) -> None:
        if self.close_code is not None:
            raise WebSocketClientError(f"the connection is closed ({self.close_code})")
        await self._write(self._ws.send(Message(data=text)))

    async def receive_text(self) -> str | None:
        """The next text message, or None once the connection closed."""
        while not self._texts:
            if self.close_code is not None:
                return None
            for event in await self._events():
                self._handle(event)
        return self._texts.popleft()

    async def close(self, code: int = 1000) -> None:
        if self.close_code is None:
            self.close_code = code
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._write(self._ws.send(CloseConnection(code=code)))
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    def _handle(self, event: object) -> None:
        if isinstance(event, TextMessage):
            self._partial.append(event.data)
            if event.message_finished:
                self._texts.append("".join(self._partial))
                self._partial.clear()
        elif isinstance(event, CloseConnection):
            self.close_code = event.code
            self.close_reason = event.reason or ""
            with contextlib.suppress(RuntimeError):
                self._writer.write(self._ws.send(event.response()))
        elif isinstance(event, Ping):
            self._writer.write(self._ws.send(event.response()))

    async def _events(self) -> list[object]:
        data = await self._reader.read(65536)
        if not data:
            if self.close_code is None:
                self.close_code = 1006  # abnormal closure: no close frame
            return []
        self._ws.receive_data(data)
        return list(self._ws.events())

    async def _write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()
