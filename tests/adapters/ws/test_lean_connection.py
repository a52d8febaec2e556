"""What an idle live socket holds (ADR 0099), checked by structure, never by bytes or time.

- The endpoint keeps no task of its own per idle socket: a live connection holds as many
  tasks as a bare echo socket through the same Hypercorn (its writer task exists only
  while frames are queued, the transport's exit is watched by a callback).
- `ASGISocket` writes queued frames in order, then the close; refuses past its bounds;
  drops what is queued on abort; a write that fails ends it without an error.
- `AppQueue` and `LeanEvent`, the lists-not-deques stand-ins `lean_hypercorn` gives
  Hypercorn, behave as ``asyncio.Queue`` and ``asyncio.Event`` do (order, bounds, waiters
  woken, cancelled waiters passing their turn on).
- Over a real Hypercorn, an open WebSocket's wsproto events are an `EventList`, the
  server's end is a `Connection` protocol (no stream pair, ADR 0114), and its upgrade's
  h11 connection is let go once the 101 is out (an HTTP refusal of the upgrade still
  goes out through h11).
"""

from __future__ import annotations

import asyncio
import gc
import types
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import PollSocket, QueueSocket, ReadPausing, _hypercorn
from lightflow_actors.adapters.ws._endpoint import ASGISocket
from lightflow_actors.adapters.ws._hypercorn import AppQueue, LeanEvent, lean_hypercorn
from lightflow_actors.adapters.ws._tcp import Connection
from lightflow_actors.live import WebSocketClient, WebSocketClientError
from lightflow_actors.live_examples import start_examples
from lightflow_actors.testing.live import MemorySocket, WebSocketView

from ...live.live_server import serving

pytestmark = pytest.mark.anyio


async def _echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        return


async def _settled_tasks() -> int:
    for _ in range(20):
        await asyncio.sleep(0.01)
    return len(asyncio.all_tasks())


async def test_an_idle_live_socket_holds_no_more_tasks_than_an_echo_socket() -> None:
    async with ActorSystem("lean", seed=3) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        echo = WebSocketRoute("/echo", _echo)
        async with serving([*routes.routes, echo]) as base:
            host, port = "127.0.0.1", int(base.split(":")[2].split("/")[0])
            # One HTTP client for the pages: its one kept-alive connection is open before
            # the count starts.
            http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1))
            warm = await WebSocketView.open(base, "counter", http=http)  # the hub starts
            await warm.push("inc", {"by": 1})
            before = await _settled_tasks()
            views = [await WebSocketView.open(base, "counter", http=http) for _ in range(4)]
            for view in views:
                await view.push("inc", {"by": 1})  # a frame each way: the writer ran
            live = await _settled_tasks() - before
            echoes = [await WebSocketClient.connect(host, port, "/live/echo") for _ in range(4)]
            for ws in echoes:
                await ws.send_text("x")
                assert await ws.receive_text() == "x"
            bare = await _settled_tasks() - before - live
            assert live == bare, f"4 live sockets hold {live} tasks, 4 echo sockets {bare}"
            for view in [warm, *views]:
                await view.close()
            for ws in echoes:
                await ws.close()
            await http.aclose()
        await routes.hub.stop()


class _Sent:
    def __init__(self, fail_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail_after = fail_after
        self.gate: asyncio.Event | None = None

    async def __call__(self, message: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            raise OSError("connection reset")
        self.messages.append(dict(message))


async def _drained(sock: ASGISocket) -> None:
    for _ in range(100):
        if not sock.writing:
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer never finished")


async def test_the_socket_writes_frames_in_order_then_the_close_and_keeps_no_task() -> None:
    sent = _Sent()
    sock = ASGISocket(sent, max_buffered=8, max_bytes=1024)
    assert not sock.writing  # nothing queued: no task
    assert sock.send(b"one") and sock.send(b"two")
    assert sock.writing
    await _drained(sock)
    assert not sock.writing and sock.buffered_bytes == 0
    assert sock.send(b"three")
    sock.close(1000, "bye")
    assert sock.send(b"after the close")  # taken and dropped, as the peer would
    await _drained(sock)
    assert sent.messages == [
        {"type": "websocket.send", "text": "one"},
        {"type": "websocket.send", "text": "two"},
        {"type": "websocket.send", "text": "three"},
        {"type": "websocket.close", "code": 1000, "reason": "bye"},
    ]
    assert sock.closed and sock.closing


async def test_the_socket_refuses_past_its_bounds_and_abort_drops_what_is_queued() -> None:
    sent = _Sent()
    sent.gate = asyncio.Event()  # the peer does not read yet
    sock = ASGISocket(sent, max_buffered=3, max_bytes=10)
    assert sock.send(b"12345")
    assert not sock.send(b"123456")  # 11 bytes
    assert sock.send(b"123") and sock.send(b"1")
    assert not sock.send(b"1")  # a fourth frame
    sock.abort(1008, "slow")
    assert sock.buffered_bytes <= 5  # only the frame being written is left
    sent.gate.set()
    await _drained(sock)
    kinds = [m["type"] for m in sent.messages]
    assert kinds[-1] == "websocket.close" and kinds.count("websocket.send") <= 1
    assert sent.messages[-1]["code"] == 1008


async def test_a_failed_write_ends_the_socket_without_an_error() -> None:
    sent = _Sent(fail_after=1)
    sock = ASGISocket(sent, max_buffered=8, max_bytes=1024)
    sock.pause_reading()
    assert sock.send(b"a") and sock.send(b"b") and sock.send(b"c")
    await _drained(sock)
    assert sock.closed and sock.buffered_bytes == 0
    await asyncio.wait_for(sock.wait_readable(), 1)  # a paused reader is let go
    assert sock.send(b"d") and sock.buffered_bytes == 0 and not sock.writing  # dropped


async def test_pause_and_resume_reading() -> None:
    sock = ASGISocket(_Sent(), max_buffered=8, max_bytes=1024)
    await sock.wait_readable()  # not paused: at once
    sock.pause_reading()
    waiter = asyncio.ensure_future(sock.wait_readable())
    await asyncio.sleep(0)
    assert not waiter.done()
    sock.resume_reading()
    await asyncio.wait_for(waiter, 1)
    assert sock.paused_count == 1


async def test_every_socket_pauses_through_one_slotted_mixin() -> None:
    """`ASGISocket`, `QueueSocket`, `PollSocket` and the DSL's `MemorySocket` share
    `ReadPausing`; the socket classes stay slotted (no per-socket dict), and the memory
    socket refuses to pause once closed (its `_may_pause` hook)."""

    async def _noop_send(_: bytes) -> None:
        return None

    async def _noop_close(_: int, __: str) -> None:
        return None

    sockets: list[ReadPausing] = [
        ASGISocket(_Sent(), max_buffered=8, max_bytes=1024),
        QueueSocket(_noop_send, _noop_close, max_buffered=8),
        PollSocket(max_buffered=8),
    ]
    for sock in sockets:
        assert not hasattr(sock, "__dict__"), type(sock).__name__
        sock.pause_reading()
        sock.pause_reading()  # already paused: one pause counted
        assert sock.paused and sock.paused_count == 1
        sock.resume_reading()
        assert not sock.paused
    memory = MemorySocket()
    assert isinstance(memory, ReadPausing)
    memory.pause_reading()
    assert memory.paused
    memory.close(1000, "bye")  # a close lets a paused reader go
    assert not memory.paused
    memory.pause_reading()  # closed: no pause
    assert not memory.paused and memory.paused_count == 1
    await memory.wait_readable()


# -- AppQueue and LeanEvent ------------------------------------------------------------


@given(st.lists(st.one_of(st.integers(), st.none()), max_size=40), st.integers(0, 5))
def test_app_queue_takes_and_gives_like_asyncio_queue(ops: list[int | None], size: int) -> None:
    """Puts (an int) and gets (None) without waiting, against asyncio.Queue."""

    async def run() -> None:
        lean: AppQueue[int] = AppQueue(size)
        model: asyncio.Queue[int] = asyncio.Queue(size)
        for op in ops:
            if op is None:
                if model.empty():
                    continue
                assert await lean.get() == model.get_nowait()
            else:
                assert lean.full() == model.full()
                if model.full():
                    continue
                model.put_nowait(op)
                await lean.put(op)
            assert lean.qsize() == model.qsize()

    asyncio.run(run())


async def test_app_queue_waits_for_items_and_room_in_order() -> None:
    queue: AppQueue[str] = AppQueue(1)
    got = [asyncio.ensure_future(queue.get()) for _ in range(2)]
    await asyncio.sleep(0)
    await queue.put("a")
    await queue.put("b")  # the first getter took "a": there is room
    assert [await g for g in got] == ["a", "b"]
    await queue.put("c")
    blocked = asyncio.ensure_future(queue.put("d"))
    await asyncio.sleep(0)
    assert not blocked.done() and queue.full()
    assert await queue.get() == "c"
    await asyncio.wait_for(blocked, 1)
    assert await queue.get() == "d"
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait("e")
        queue.put_nowait("f")


async def test_a_cancelled_getter_passes_its_item_to_the_next() -> None:
    queue: AppQueue[int] = AppQueue(0)
    first = asyncio.ensure_future(queue.get())
    second = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    await queue.put(1)  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == 1
    assert first.cancelled()


async def test_a_cancelled_putter_passes_the_room_to_the_next() -> None:
    queue: AppQueue[int] = AppQueue(1)
    await queue.put(0)
    first = asyncio.ensure_future(queue.put(1))
    second = asyncio.ensure_future(queue.put(2))
    await asyncio.sleep(0)
    assert await queue.get() == 0  # wakes the first putter...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(second, 1)
    assert await queue.get() == 2 and queue.qsize() == 0


async def test_lean_event_wakes_every_waiter_and_forgets_cancelled_ones() -> None:
    event = LeanEvent()
    assert not event.is_set()
    waiters = [asyncio.ensure_future(event.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    await asyncio.sleep(0)
    await event.set()
    await asyncio.wait_for(asyncio.gather(*waiters[1:]), 1)
    assert event.is_set()
    await event.wait()  # set: at once
    await event.clear()
    late = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0)
    assert not late.done()
    await event.set()
    await asyncio.wait_for(late, 1)


def test_lean_hypercorn_installs_itself_and_leaves_an_unknown_hypercorn_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hypercorn.asyncio import task_group, worker_context

    assert lean_hypercorn()
    assert lean_hypercorn()  # idempotent
    assert worker_context.WorkerContext.event_class is LeanEvent
    assert task_group.TaskGroup.spawn_app is _hypercorn._spawn_app
    from hypercorn.asyncio import tcp_server
    from hypercorn.protocol import h11, ws_stream

    # Wrapped once however often it is called.
    assert not hasattr(tcp_server.TCPServer.__init__.__wrapped__, "__wrapped__")
    assert not hasattr(ws_stream.Connection.__wrapped__, "__wrapped__")
    assert h11.H11WSConnection.__name__ == "LeanH11WSConnection"
    assert h11.H11WSConnection.__mro__[1].__name__ == "H11WSConnection"
    # A Hypercorn without the internals it replaces is left as it is.
    bare = types.ModuleType("hypercorn.asyncio.task_group")
    monkeypatch.setattr(task_group, "TaskGroup", None)
    assert not lean_hypercorn()
    monkeypatch.setattr("hypercorn.asyncio.task_group", bare)
    assert not lean_hypercorn()


def test_event_list_pops_from_the_left_in_order() -> None:
    events = _hypercorn.EventList()
    assert not events
    events.append("a")
    events.append("b")
    assert events.popleft() == "a"
    events.append("c")
    assert [events.popleft(), events.popleft()] == ["b", "c"]
    assert not events
    with pytest.raises(IndexError):
        events.popleft()


def _server_ws_objects() -> tuple[list[Any], list[Any]]:
    """Hypercorn's H11WSConnection objects, and wsproto's server-side connections."""
    from wsproto.connection import Connection

    objects = gc.get_objects()
    upgrades = [o for o in objects if type(o).__name__ == "LeanH11WSConnection"]
    connections = [o for o in objects if isinstance(o, Connection) and not o.client]
    return upgrades, connections


async def test_an_open_socket_keeps_lists_and_no_h11_connection() -> None:
    assert lean_hypercorn()

    async def refuse(ws: WebSocket) -> None:
        await ws.close(code=1008)  # before accepting: an HTTP 403 through h11

    echo = WebSocketRoute("/echo", _echo)
    refused = WebSocketRoute("/refuse", refuse)
    async with serving([echo, refused]) as base:
        port = int(base.split(":")[2].split("/")[0])
        sockets = [await WebSocketClient.connect("127.0.0.1", port, "/live/echo") for _ in range(3)]
        for ws in sockets:
            await ws.send_text("x" * 70_000)  # more than one read: events queue up
            assert await ws.receive_text() == "x" * 70_000
        upgrades, connections = _server_ws_objects()
        assert len(upgrades) >= 3 and len(connections) >= 3
        assert all(o.h11_connection is None for o in upgrades)
        assert all(type(c._events) is _hypercorn.EventList for c in connections)
        # The server's ends of the connections are protocol objects (ADR 0114): no
        # stream pair is left on the server's side (the clients' streams are here too),
        # not even as garbage waiting for the collector: nothing refers to it.
        served = [
            o
            for o in gc.get_objects()
            if isinstance(o, asyncio.StreamReaderProtocol)
            and getattr(o, "_transport", None) is not None
            and o._transport.get_extra_info("sockname")[1] == port
        ]
        assert served == []
        wires = [o for o in gc.get_objects() if isinstance(o, Connection) and o.websocket]
        assert len(wires) >= 3
        with pytest.raises(WebSocketClientError, match="HTTP 403"):
            await WebSocketClient.connect("127.0.0.1", port, "/live/refuse")
        for ws in sockets:
            await ws.close()


async def test_a_queued_close_gives_the_peer_close_timeout_then_cancels_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lightflow_actors.adapters.ws import _endpoint

    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    reader = asyncio.ensure_future(never)
    sock = ASGISocket(_Sent(), max_buffered=8, max_bytes=1024, reader=reader)
    assert sock.expiry is None  # no close queued: no timer
    monkeypatch.setattr(_endpoint, "CLOSE_TIMEOUT", 0.0)
    sock.close(1000, "bye")
    assert sock.expiry is not None
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert sock.expired

    answered = asyncio.ensure_future(asyncio.get_running_loop().create_future())
    sock = ASGISocket(_Sent(), max_buffered=8, max_bytes=1024, reader=answered)
    monkeypatch.setattr(_endpoint, "CLOSE_TIMEOUT", 3600.0)
    sock.close(1000, "bye")
    timer = sock.expiry
    assert timer is not None
    sock.ended()  # the peer answered: the reader is done, its deadline goes
    assert timer.cancelled() and sock.expiry is None and sock.reader is None
    sock.close(1000, "again")  # idempotent, and no reader: no new timer
    assert sock.expiry is None and not sock.expired
    answered.cancel()


async def test_a_live_socket_keeps_no_handshake_headers() -> None:
    from hypercorn.protocol.ws_stream import WSStream
    from starlette.requests import HTTPConnection

    from lightflow_actors.adapters.ws._routes import HANDSHAKE_ONLY, socket_request_info

    scope = {
        "type": "websocket",
        "scheme": "ws",
        "path": "/live/socket",
        "server": ("127.0.0.1", 80),
        "headers": [
            (b"host", b"x"),
            (b"Upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-extensions", b"permessage-deflate"),
            (b"sec-websocket-protocol", b"lightflow"),
            (b"user-agent", b"test"),
            (b"cookie", b"a=1"),
        ],
    }
    info = socket_request_info(HTTPConnection(scope))
    assert dict(info.headers) == {
        "host": "x",
        "sec-websocket-protocol": "lightflow",
        "user-agent": "test",
    }
    assert dict(info.cookies) == {"a": "1"}
    assert not HANDSHAKE_ONLY & set(info.headers)

    # Over a real server, the socket's scope (held by Hypercorn's stream while the socket
    # is open) no longer holds the handshake's header list; the session still works.
    async with ActorSystem("lean-headers", seed=4) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        async with serving(routes.routes) as base:
            http = httpx.AsyncClient()
            views = [await WebSocketView.open(base, "counter", http=http) for _ in range(2)]
            for view in views:
                await view.push("inc", {"by": 1})
            gc.collect()
            streams = [
                o
                for o in gc.get_objects()
                if isinstance(o, WSStream) and not o.closed and o.scope["path"] == "/live/socket"
            ]
            assert len(streams) == 2
            assert all(s.scope["headers"] == () for s in streams)
            for view in views:
                await view.push("inc", {"by": 1})
                await view.close()
            await http.aclose()
        await routes.hub.stop()
