"""`LeanTCPServer`: Hypercorn's connections as one protocol object (ADR 0114).

Checked over a real Hypercorn on 127.0.0.1 with raw sockets, against what Hypercorn's
own ``TCPServer`` does: requests kept alive and pipelined answered in order; a body
larger than the pending bound arrives whole (reading paused and resumed); a response
larger than the transport's buffer arrives whole to a slow reader (writes wait for the
drain); a keep-alive connection left idle and a silent one under ``read_timeout`` are
closed; a peer that leaves mid-request ends the app's request with a disconnect and
the connection with no task left; at shutdown a request in flight is still answered;
an open WebSocket holds no task of the server's; arbitrary bytes (malformed, oversized,
invalid UTF-8, split anywhere) never break the server (hypothesis).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.ws._hypercorn import lean_hypercorn
from lightflow_actors.adapters.ws._tcp import Connection, LeanTCPServer, stream_takeover_supported
from lightflow_actors.live import WebSocketClient

from ...live.live_server import free_port

pytestmark = pytest.mark.anyio

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


class App:
    """An ASGI app: ``/echo`` answers the body it read, ``/big?n=N`` answers N bytes,
    ``/slow`` answers once `release` is set, ``/hang`` waits for the disconnect;
    ``/ws`` is a WebSocket echo. `seen` records what reached it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: asyncio.Event = asyncio.Event()
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self._websocket(receive, send)
            return
        path = scope["path"]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if path == "/hang":
            self.started.set()
            message = await receive()
            self.seen.append(message["type"])
            return
        if path == "/slow":
            self.started.set()
            await self.release.wait()
            body = b"late"
        elif path == "/big":
            body = b"b" * int(scope["query_string"].split(b"=")[1])
        self.seen.append(path)
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.seen.append("ws-disconnect")
                return
            await send({"type": "websocket.send", "text": message.get("text") or ""})


@asynccontextmanager
async def server(app: App, **settings_: Any) -> AsyncIterator[int]:
    assert lean_hypercorn()
    assert hypercorn_run.TCPServer is LeanTCPServer
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 5.0
    for name, value in settings_.items():
        setattr(config, name, value)
    stop = asyncio.Event()
    task = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        await writer.wait_closed()
        break
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def _request(path: str, body: bytes = b"", *, close: bool = False) -> bytes:
    connection = b"connection: close\r\n" if close else b""
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n".encode()
        + connection
        + b"\r\n"
        + body
    )


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _connections() -> list[Connection]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Connection)]


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def test_kept_alive_and_pipelined_requests_are_answered_in_order() -> None:
    app = App()
    async with server(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(3):  # one at a time on the kept-alive connection
            writer.write(_request("/echo", f"one {i}".encode()))
            assert await _response(reader) == (200, f"one {i}".encode())
        # Three requests in one write: handled in order, each answered.
        writer.write(b"".join(_request("/echo", f"two {i}".encode()) for i in range(3)))
        for i in range(3):
            assert await _response(reader) == (200, f"two {i}".encode())
        writer.write(_request("/echo", b"last", close=True))
        assert await _response(reader) == (200, b"last")
        assert await reader.read() == b""  # connection: close
        writer.close()
    assert app.seen == ["/echo"] * 7


async def test_a_body_past_the_pending_bound_and_a_response_past_the_buffer_arrive_whole() -> None:
    app = App()
    async with server(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = bytes(range(256)) * 4096  # 1 MiB: many reads, reading paused and resumed
        writer.write(_request("/echo", body))
        assert await _response(reader) == (200, body)
        # 8 MiB answered to a reader that takes its time: the server's writes wait.
        writer.write(_request("/big?n=8388608", b""))
        await asyncio.sleep(0.05)
        status, data = await _response(reader)
        assert status == 200 and data == b"b" * 8388608
        writer.close()


async def test_an_idle_kept_alive_connection_and_a_silent_one_are_closed() -> None:
    app = App()
    async with server(app, keep_alive_timeout=0.05) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request("/echo", b"x"))
        assert await _response(reader) == (200, b"x")
        assert await asyncio.wait_for(reader.read(), 10) == b""  # idle: closed
        writer.close()
    async with server(app, read_timeout=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.1\r\nhost: x\r\n")  # half a request, then silence
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await _until(lambda: all(c.ended for c in _connections()), "every connection ended")


async def test_a_peer_leaving_mid_request_ends_the_request_and_the_connection() -> None:
    app = App()
    async with server(app) as port:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hang HTTP/1.1\r\nhost: x\r\n\r\n")
        await app.started.wait()
        (connection,) = [c for c in _connections() if not c.ended]
        writer.close()
        await writer.wait_closed()
        await _until(lambda: connection.ended, "the connection ended")
        assert app.seen == ["http.disconnect"]
        assert connection._tasks == [] and connection._reading is None


async def test_at_shutdown_a_request_in_flight_is_answered_within_the_graceful_timeout() -> None:
    app = App()
    async with server(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request("/slow", b""))
        await app.started.wait()
        answered = asyncio.ensure_future(_response(reader))
        releasing = asyncio.get_running_loop().call_later(0.05, app.release.set)
    # `server` returned after Hypercorn's shutdown, which waited for the request.
    assert await answered == (200, b"late")
    releasing.cancel()
    writer.close()

    app = App()  # never released: cancelled at the graceful timeout, the connection closed
    async with server(app, graceful_timeout=0.05) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_request("/slow", b""))
        await app.started.wait()
        (connection,) = [c for c in _connections() if not c.ended]
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert connection._tasks == []
    writer.close()


async def test_a_connection_cancelled_at_shutdown_is_not_reported_as_an_error() -> None:
    """Hypercorn cancels the connections still open when the graceful timeout ends; a
    connection's task is the top of its own (asyncio's ``client_connected_cb``), and on
    Python 3.11 a cancelled one made asyncio's streams log "Exception in callback" with a
    `CancelledError` traceback at every shutdown with a page open."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        app = App()  # never released: cancelled at the graceful timeout
        async with server(app, graceful_timeout=0.05) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_request("/slow", b""))
            await app.started.wait()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        for _ in range(3):  # the tasks' done callbacks run on the next turns
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("message") for c in reported] == []


async def test_an_open_websocket_holds_no_task_of_the_server() -> None:
    app = App()
    async with server(app) as port:
        sockets = [await WebSocketClient.connect("127.0.0.1", port, "/ws") for _ in range(3)]
        for ws in sockets:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"
        wires = [c for c in _connections() if c.websocket and not c.ended]
        assert len(wires) == 3

        # Each socket: its app's task (Hypercorn's `_handle`) and nothing else of the
        # server's: no task of the connection's own (`_server_callback`).
        def names() -> list[str]:
            return sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks())  # type: ignore[union-attr]

        await _until(lambda: "_server_callback" not in names(), "no server task")
        assert names().count("_handle") == 3, names()
        for ws in sockets:
            await ws.close()
        await _until(lambda: all(w.ended for w in wires), "the sockets ended")
        assert app.seen == ["ws-disconnect"] * 3


_CHUNKS = st.lists(
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from(
            [
                b"GET / HTTP/1.1\r\n",
                b"\xff\xfe\xfd\r\n\r\n",
                b"content-length: 99999999999999999999\r\n",
                b"x" * 70_000,
                b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n",
                b"host: " + b"\xc3\x28" * 50 + b"\r\n",
                b"\r\n\r\n",
                b"transfer-encoding: chunked\r\n\r\nzz\r\n",
            ]
        ),
    ),
    max_size=6,
)


@pytest.fixture(scope="module")
def threaded_port() -> Iterator[int]:
    """One server for every example, on its own loop in a thread."""
    started: queue.Queue[int] = queue.Queue()
    stopping: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def run() -> None:
        stop = asyncio.Event()
        stopping.append((asyncio.get_running_loop(), stop))
        async with server(App()) as port:
            started.put(port)
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    yield started.get(timeout=60)
    loop, stop = stopping[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)
    assert not thread.is_alive()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=_CHUNKS)
def test_arbitrary_bytes_never_break_the_server(threaded_port: int, chunks: list[bytes]) -> None:
    async def run() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", threaded_port)
        with contextlib.suppress(ConnectionError, OSError):  # the server may close first
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
            writer.write_eof()
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(reader.read(), 30)  # answered or closed, never hung
        writer.close()
        # The server still serves a good request on a new connection.
        reader, writer = await asyncio.open_connection("127.0.0.1", threaded_port)
        writer.write(_request("/echo", b"fine", close=True))
        assert await _response(reader) == (200, b"fine")
        writer.close()

    asyncio.run(run())


def test_after_arbitrary_bytes_every_connection_ended(threaded_port: int) -> None:
    for _ in range(2000):
        if all(c.ended for c in _connections()):
            return
        time.sleep(0.005)
    raise AssertionError("a connection never ended")


def test_the_stream_takeover_is_checked_without_an_event_loop() -> None:
    # lean_hypercorn runs where LiveRoutes is built, often before any loop exists.
    assert stream_takeover_supported()
    assert lean_hypercorn()
    assert hypercorn_run.TCPServer is LeanTCPServer
