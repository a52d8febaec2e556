"""A live view over the HTTP transports (SSE or long-polling), in Python.

`HttpTransportView` is `WebSocketView` for a browser whose WebSockets are blocked
(specs/live-wire.md §17): the same `LiveClient` speaks the same frames; only the pipe
differs. Frames come down an event stream (``GET {base}/sse``) or long polls
(``GET {base}/poll?conn=…&since=…``) and go up in POSTs. Tests, the benchmark and tools
use it to drive a running server as such a browser would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import msgspec

from ._errors import PeerError
from ._peer import LiveClient, PeerView, page_attr

if TYPE_CHECKING:
    import httpx

HttpTransport = Literal["sse", "poll"]

UPLINK_BATCH = 64
"""Frames in one POST at most (the server's `FallbackConfig.max_post_frames` default)."""


class _PollAnswer(msgspec.Struct, frozen=True):
    next: int
    frames: tuple[str, ...] = ()
    close: tuple[int, str] | None = None


class _Conn(msgspec.Struct, frozen=True):
    conn: str


class HttpTransportView(PeerView):
    """A live view over SSE (``transport="sse"``) or long-polling (``"poll"``).

    ::

        view = await HttpTransportView.open("http://127.0.0.1:8000/live", "counter",
                                            transport="poll")
        await view.push("inc", {"by": 1})
        await view.close()

    ``close_code`` / ``close_reason``: how the server closed the connection (None while open).
    """

    def __init__(
        self, http: httpx.AsyncClient, endpoint: str, transport: HttpTransport, own: bool
    ) -> None:
        self.http = http
        self.endpoint = endpoint  # {base}/sse or {base}/poll
        self.transport: HttpTransport = transport
        self.client = LiveClient()
        self.conn = ""
        self.close_code: int | None = None
        self.close_reason = ""
        self._own = own
        self._texts: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Future[None] | None = None
        self._outbox: list[bytes] = []  # frames waiting for the uplink (in order)
        self._uplink: asyncio.Future[None] | None = None
        self.refused_post: int | None = None  # the status of a POST the server refused

    @classmethod
    async def open(
        cls,
        base_url: str,
        view: str,
        params: Mapping[str, str] | None = None,
        *,
        transport: HttpTransport = "poll",
        http: httpx.AsyncClient | None = None,
        endpoint: str | None = None,
    ) -> HttpTransportView:
        """GET the page, open the connection, join `view`, wait for the first render.
        `http` (its cookie jar is the browser's) may be shared by several views;
        `endpoint` is the connection's URL when it is not ``{base_url}/{transport}`` (a
        page mounted elsewhere, as the observer's ``/observer/poll``)."""
        import httpx  # only network peers need it, not every importer of live

        own = http is None
        client = httpx.AsyncClient(timeout=60.0) if http is None else http
        page = await client.get(f"{base_url}/{view}", params=dict(params or {}))
        page.raise_for_status()
        session_id, token = page_attr(page.text, "session"), page_attr(page.text, "token")
        url = endpoint if endpoint is not None else f"{base_url}/{transport}"
        self = cls(client, url, transport, own)
        await self.connect()
        await self._join(view, session_id, token, params)
        return self

    async def connect(self) -> None:
        """Open the connection (its id lands in `conn`) and start reading frames."""
        if self.transport == "poll":
            answer = await self.http.post(self.endpoint)
            _check(answer, "opening the long-poll connection")
            self.conn = msgspec.json.decode(answer.content, type=_Conn).conn
            self._reader = asyncio.ensure_future(self._poll())
            return
        opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.ensure_future(self._stream(opened))
        self.conn = await opened

    async def send_frame(self, data: bytes) -> None:
        """Queue `data` for the uplink and return at once, as a browser's page does: the
        POSTs go one at a time, in order, each with every frame queued meanwhile (at most
        `UPLINK_BATCH`), and the answers to a frame may come down before its POST's 204.
        A POST the server refuses (not 204) sets `refused_post`; the connection's close
        comes down as usual."""
        self._outbox.append(data)
        if self._uplink is None or self._uplink.done():
            self._uplink = asyncio.ensure_future(self._send_queued())

    async def flush(self) -> None:
        """Wait until every queued frame was POSTed."""
        while self._uplink is not None and not self._uplink.done():
            await asyncio.shield(self._uplink)

    async def _send_queued(self) -> None:
        while self._outbox and self.refused_post is None:
            batch = self._outbox[:UPLINK_BATCH]
            del self._outbox[:UPLINK_BATCH]
            try:
                status = await self.send_frames(batch)
            except Exception:  # the server went away: the reader sees the end
                status = 0
            if status != 204:
                self.refused_post = status
                self._outbox.clear()

    async def send_frames(self, frames: list[bytes]) -> int:
        """POST frames up (one a line) now, beside the uplink; the answer's status (204
        when all were taken)."""
        answer = await self.http.post(
            self.endpoint, params={"conn": self.conn}, content=b"\n".join(frames)
        )
        return answer.status_code

    async def receive_text(self) -> str | None:
        """The next frame from the server; None once it closed the connection."""
        return await self._texts.get()

    def _how_closed(self) -> str:
        return f"{self.transport} connection closed ({self.close_code} {self.close_reason})"

    async def close(self) -> None:
        """Send what is queued, leave (DELETE) and stop reading."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), 10.0)
        with contextlib.suppress(Exception):
            await self.http.delete(self.endpoint, params={"conn": self.conn})
        for task in (self._uplink, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._own:
            await self.http.aclose()

    # -- readers ------------------------------------------------------------------------

    async def _poll(self) -> None:
        since = 0
        try:
            while True:
                answer = await self.http.get(
                    self.endpoint, params={"conn": self.conn, "since": str(since)}
                )
                if answer.status_code != 200:
                    self._closed(1006, f"poll answered {answer.status_code}: {answer.text[:200]}")
                    return
                body = msgspec.json.decode(answer.content, type=_PollAnswer)
                since = body.next
                for frame in body.frames:
                    self._texts.put_nowait(frame)
                if body.close is not None:
                    self._closed(*body.close)
                    return
        except Exception as error:  # the server went away: the connection is over
            self._closed(1006, f"{type(error).__name__}: {error}")

    async def _stream(self, opened: asyncio.Future[str]) -> None:
        event, data = "message", []
        try:
            async with self.http.stream("GET", self.endpoint) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise PeerError(f"the event stream answered {response.status_code}")
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif not line:
                        text = "\n".join(data)
                        if event == "lf-conn":
                            opened.set_result(msgspec.json.decode(text, type=_Conn).conn)
                        elif event == "lf-close":
                            code, reason = _close_of(text)
                            self._closed(code, reason)
                            return
                        elif data:
                            self._texts.put_nowait(text)
                        event, data = "message", []
            self._closed(1006, "the event stream ended without a close")
        except Exception as error:
            if not opened.done():
                opened.set_exception(error)
            self._closed(1006, f"{type(error).__name__}: {error}")

    def _closed(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self._texts.put_nowait(None)


class _Close(msgspec.Struct, frozen=True):
    code: int
    reason: str = ""


def _close_of(text: str) -> tuple[int, str]:
    close = msgspec.json.decode(text, type=_Close)
    return close.code, close.reason


def _check(answer: httpx.Response, what: str) -> None:
    if answer.status_code >= 400:
        raise PeerError(f"{what}: {answer.status_code} {answer.text[:200]}")
