"""The socket a transport actor writes to, and its asyncio implementation.

The transport actor never awaits the network: `send` queues a frame (False when
the write buffer is full: the peer reads too slowly), `close` queues the close,
`abort` drops what is queued and closes (a peer that does not read gets nothing more),
`pause_reading` / `resume_reading` tell the reader loop to stop taking frames off
the socket (asyncio's flow-control vocabulary). `QueueSocket` implements this for
any ASGI WebSocket: the endpoint runs `writer()` as a task and calls
`wait_readable()` before each receive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol


class Socket(Protocol):
    """What a transport actor needs from a connection."""

    def send(self, data: bytes) -> bool:
        """Queue one frame; False if the write buffer is full (nothing was queued)."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Queue the close after the frames already queued; idempotent."""
        ...

    def abort(self, code: int, reason: str) -> None:
        """Drop the frames not yet written, then close; idempotent."""
        ...

    def pause_reading(self) -> None:
        """Stop reading frames until `resume_reading` (backpressure)."""
        ...

    def resume_reading(self) -> None: ...


class ReadPausing:
    """Reading paused for backpressure, as every `Socket` here and the test DSL's memory
    socket have it: `pause_reading` makes a future the reader waits on (`wait_readable`),
    `resume_reading` resolves it, `paused_count` counts the pauses. A subclass refuses a
    pause by overriding `_may_pause` (the memory socket does once closed).

    Slotted, and the future exists only while paused: the mixin adds no object to a socket
    (session memory, ADR 0108)."""

    __slots__ = ("_readable", "paused_count")

    def __init__(self) -> None:
        self._readable: asyncio.Future[None] | None = None  # exists while paused
        self.paused_count = 0

    def _may_pause(self) -> bool:
        """Whether `pause_reading` may pause now (always, unless a subclass says not)."""
        return True

    @property
    def paused(self) -> bool:
        return self._readable is not None

    def pause_reading(self) -> None:
        if self._readable is None and self._may_pause():
            self.paused_count += 1
            self._readable = asyncio.get_running_loop().create_future()

    def resume_reading(self) -> None:
        readable, self._readable = self._readable, None
        if readable is not None and not readable.done():
            readable.set_result(None)

    async def wait_readable(self) -> None:
        """Return once reading is allowed (at once unless paused)."""
        readable = self._readable
        if readable is not None:
            await asyncio.shield(readable)


class BoundedSocket(ReadPausing):
    """What every `Socket` here shares: a write buffer bounded in frames
    (`max_buffered`) and in bytes (`max_bytes`, `buffered_bytes` counting what is queued),
    the close once queued (`closing`), and reading paused for backpressure
    (`ReadPausing`). Subclasses keep the frames and write them (`QueueSocket`,
    `ASGISocket`, `PollSocket`)."""

    # One per open connection: slots, and a future made only while reading is paused.
    __slots__ = ("_close_with", "buffered_bytes", "max_buffered", "max_bytes")

    def __init__(self, *, max_buffered: int, max_bytes: int) -> None:
        super().__init__()
        self.max_buffered = max_buffered
        self.max_bytes = max_bytes
        self.buffered_bytes = 0
        self._close_with: tuple[int, str] | None = None

    def _full(self, queued: int, data: bytes) -> bool:
        """Whether one more frame `data` after `queued` frames would pass a bound."""
        return queued >= self.max_buffered or self.buffered_bytes + len(data) > self.max_bytes

    @property
    def closing(self) -> bool:
        return self._close_with is not None


class QueueSocket(BoundedSocket):
    """A `Socket` over async send/close callables, with a write buffer bounded in frames
    and in bytes (`buffered_bytes` counts the frames queued and the one being written).

    ::

        sock = QueueSocket(ws.send_bytes, ws.close, max_buffered=512, max_bytes=4 << 20)
        writer = asyncio.create_task(sock.writer())
        while True:
            await sock.wait_readable()
            data = await receive()           # the framework's receive
            await transport.ask(Receive(data), timeout=None)
    """

    # Memory matters here: one per open socket. Lists and futures made on demand cost
    # far less than a deque (~760 bytes even empty) or an asyncio.Event each.
    __slots__ = ("_buffer", "_close", "_send", "_wake", "closed")

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
        *,
        max_buffered: int,
        max_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        super().__init__(max_buffered=max_buffered, max_bytes=max_bytes)
        self._send = send
        self._close = close
        self._buffer: list[bytes] = []
        self._wake: asyncio.Future[None] | None = None  # the idle writer waits on it
        self.closed = False

    # -- the transport side (sync, never blocks) -----------------------------------------

    def send(self, data: bytes) -> bool:
        if self._close_with is not None:
            return True  # closing: frames after the close are dropped, as the peer would
        if self._full(len(self._buffer), data):
            return False
        self._buffer.append(data)
        self.buffered_bytes += len(data)
        self._notify()
        return True

    def close(self, code: int, reason: str) -> None:
        if self._close_with is None:
            self._close_with = (code, reason)
            self._notify()
            self.resume_reading()

    def abort(self, code: int, reason: str) -> None:
        # The peer does not read: what waits for it would only hold memory (a full
        # render of a big view can be tens of KB a frame), so it goes now.
        self.buffered_bytes -= sum(len(data) for data in self._buffer)
        self._buffer.clear()
        self.close(code, reason)

    # -- the endpoint side ------------------------------------------------------------

    async def writer(self) -> None:
        """Drain the buffer to the network until the close is written (run as a task)."""
        buffer = self._buffer
        try:
            while True:
                while buffer:
                    data = buffer.pop(0)
                    try:
                        await self._send(data)
                    finally:
                        self.buffered_bytes -= len(data)
                if self._close_with is not None:
                    code, reason = self._close_with
                    self.closed = True
                    await self._close(code, reason)
                    return
                self._wake = asyncio.get_running_loop().create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
        finally:
            self.closed = True
            buffer.clear()
            self.buffered_bytes = 0
            self.resume_reading()

    def _notify(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
