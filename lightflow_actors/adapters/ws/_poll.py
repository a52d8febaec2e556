"""`PollSocket`: the `Socket` of a long-polling connection (specs/live-wire.md §17).

The transport actor writes frames to it exactly as to a WebSocket (`send` never blocks;
False when the buffer is full), and the browser takes them with ``GET {base}/poll``.
Each frame gets a position (0, 1, 2, … for the connection's life); a poll names the
position it wants next (`since`), which confirms every frame before it: those are
dropped, the rest are answered again. So a poll answer lost on the way (a proxy cut it,
the page's fetch failed) is not a lost frame: the browser polls again with the same
`since`. The buffer counts every frame not yet confirmed, against the same bounds as a
WebSocket's write buffer (`max_buffered` frames, `max_bytes` bytes).

One poll waits at a time: a new poll answers the waiting one at once with nothing (the
browser only polls again when its previous poll ended, so the old one was abandoned).
"""

from __future__ import annotations

import asyncio
from typing import Final

import msgspec

from ._socket import BoundedSocket


class PollAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The body of one ``GET {base}/poll`` answer.

    `frames` are wire frames (JSON text, each exactly what a WebSocket text message
    would hold), from position `since` of the request; `next` the position to ask for
    next; `close` the WebSocket-style close code and reason once the server closed the
    connection (the frames before it are all in this answer)."""

    next: int
    frames: tuple[str, ...] = ()
    close: tuple[int, str] | None = None


class PollPositionError(ValueError):
    """A poll named a position the connection never reached (or already dropped)."""


_MAX_ANSWER_BYTES: Final = 1 << 20  # one poll answers at most about 1 MiB of frames


class PollSocket(BoundedSocket):
    """A `Socket` whose frames wait in a bounded list for the browser's next poll.

    ::

        sock = PollSocket(max_buffered=512, max_bytes=4 << 20)
        transport = await start_transport(hub, sock, request)
        answer = await sock.take(since=0, timeout=20.0)   # in GET {base}/poll
    """

    __slots__ = ("_frames", "_waiter", "base")

    def __init__(self, *, max_buffered: int, max_bytes: int = 4 * 1024 * 1024) -> None:
        super().__init__(max_buffered=max_buffered, max_bytes=max_bytes)
        # Invariant: _frames[i] has position base + i; every frame before base was
        # confirmed by a poll; buffered_bytes is the sum of len(frame) over _frames.
        self._frames: list[bytes] = []
        self.base = 0
        self._waiter: asyncio.Future[None] | None = None  # the waiting poll

    # -- the transport side (sync, never blocks) ----------------------------------------

    def send(self, data: bytes) -> bool:
        if self._close_with is not None:
            return True  # closing: frames after the close are dropped, as the peer would
        if self._full(len(self._frames), data):
            return False
        self._frames.append(data)
        self.buffered_bytes += len(data)
        self._wake()
        return True

    def close(self, code: int, reason: str) -> None:
        if self._close_with is None:
            self._close_with = (code, reason)
            self._wake()
            self.resume_reading()

    def abort(self, code: int, reason: str) -> None:
        self.base += len(self._frames)
        self._frames.clear()
        self.buffered_bytes = 0
        self.close(code, reason)

    # -- the endpoint side ------------------------------------------------------------

    @property
    def end(self) -> int:
        """The position the next frame written will have."""
        return self.base + len(self._frames)

    def confirm(self, since: int) -> None:
        """Drop the frames before position `since` (the browser has them); raises
        `PollPositionError` for a position before `base` or after `end`."""
        if since < self.base or since > self.end:
            raise PollPositionError(
                f"since={since} is outside this connection's frames ({self.base} to "
                f"{self.end}); reconnect"
            )
        done = since - self.base
        if done:
            self.buffered_bytes -= sum(len(data) for data in self._frames[:done])
            del self._frames[:done]
            self.base = since

    async def take(self, since: int, timeout: float) -> PollAnswer:
        """Confirm what came before `since`, then answer the frames from it: at once if
        there are any (or the connection closed), else when one is written or after
        `timeout` seconds (an empty answer: poll again)."""
        self.confirm(since)
        if not self._frames and self._close_with is None:
            previous = self._waiter
            if previous is not None and not previous.done():
                previous.set_result(None)  # superseded: it answers with nothing
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                pass
            finally:
                if self._waiter is waiter:
                    self._waiter = None
            if self._waiter is not None:
                return PollAnswer(next=since)  # a newer poll waits now: this one is over
        frames: list[str] = []
        size = 0
        for data in self._frames:
            if frames and size + len(data) > _MAX_ANSWER_BYTES:
                break
            frames.append(data.decode("utf-8"))
            size += len(data)
        position = self.base + len(frames)
        close = self._close_with if position == self.end else None
        return PollAnswer(next=position, frames=tuple(frames), close=close)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
