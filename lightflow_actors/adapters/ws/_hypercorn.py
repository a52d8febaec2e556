"""Smaller per-connection objects for Hypercorn's asyncio worker (ADR 0099).

Every connection Hypercorn serves holds, for its whole life, an ``asyncio.Queue`` between
the protocol and the ASGI app (its ``receive``) and, for HTTP/1.1, an ``asyncio.Event``
(``can_read``). CPython makes each with ``collections.deque`` objects that cost ~760
bytes even empty: the queue has four (items, getters, putters, and its ``join`` event's
waiters), the event one. An idle live socket pays ~3.8 KB for them, ~20 % of what
Hypercorn and Starlette hold for a bare echo socket (``bench_live_transport
--breakdown``). `AppQueue` and `LeanEvent` keep the same semantics with lists and
futures made only while someone waits: ~300 bytes together.

Three more per-connection objects go the same way:

- the asyncio stream protocol's ``_drain_waiters`` deque (appended to, removed from and
  iterated, never popped from the left) becomes a list when Hypercorn's ``TCPServer``
  takes the connection;
- the wsproto ``Connection`` of a WebSocket keeps its pending events in `EventList` (a
  list with ``popleft``) instead of a deque;
- once a WebSocket's 101 response is written, `LeanH11WSConnection` lets go of the h11
  connection that parsed the upgrade request (h11 refuses to send anything after
  switching protocols, so nothing could use it again).

`lean_hypercorn` installs them process-wide (idempotent; `LiveRoutes` calls it, as it
calls `bound_deflate`): ``TaskGroup.spawn_app`` builds an `AppQueue`, the worker
context's ``event_class`` is `LeanEvent`, ``TCPServer``, ``ws_stream.Connection`` and
``H11WSConnection`` are wrapped. All are Hypercorn internals (as of Hypercorn 0.18);
`lean_hypercorn` leaves Hypercorn untouched when they are not where it expects them, so
a newer Hypercorn costs memory, never correctness.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AppQueue(Generic[T]):
    """A FIFO queue bounded at `maxsize` items (0: unbounded) with ``asyncio.Queue``'s
    ``get`` / ``put`` semantics, holding lists instead of deques, made on demand."""

    __slots__ = ("_getters", "_items", "_maxsize", "_putters")

    def __init__(self, maxsize: int = 0) -> None:
        self._maxsize = maxsize
        self._items: list[T] = []
        self._getters: list[asyncio.Future[None]] | None = None
        self._putters: list[asyncio.Future[None]] | None = None

    def qsize(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return 0 < self._maxsize <= len(self._items)

    async def put(self, item: T) -> None:
        """Put `item` at the end; wait while the queue is full."""
        while self.full():
            putter = asyncio.get_running_loop().create_future()
            if self._putters is None:
                self._putters = []
            self._putters.append(putter)
            try:
                await putter
            except BaseException:
                _discard(self._putters, putter)
                if not self.full() and not putter.cancelled():
                    _wake_next(self._putters)  # this one's turn passes to the next
                raise
        self._items.append(item)
        _wake_next(self._getters)

    def put_nowait(self, item: T) -> None:
        if self.full():
            raise asyncio.QueueFull
        self._items.append(item)
        _wake_next(self._getters)

    async def get(self) -> T:
        """Take the first item; wait while the queue is empty."""
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                _discard(self._getters, getter)
                if self._items and not getter.cancelled():
                    _wake_next(self._getters)  # this one's item goes to the next getter
                raise
        item = self._items.pop(0)
        _wake_next(self._putters)
        return item


class LeanEvent:
    """Hypercorn's worker ``Event`` (async ``set``/``clear``/``wait``, ``is_set``)
    with its waiters in a list made on the first ``wait``."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    async def clear(self) -> None:
        self._value = False

    async def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        if self._value:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            _discard(self._waiters, waiter)

    def is_set(self) -> bool:
        return self._value


def _wake_next(waiters: list[asyncio.Future[None]] | None) -> None:
    while waiters:
        waiter = waiters.pop(0)
        if not waiter.done():
            waiter.set_result(None)
            return


def _discard(waiters: list[asyncio.Future[None]] | None, waiter: asyncio.Future[None]) -> None:
    if waiters is not None and waiter in waiters:
        waiters.remove(waiter)


async def _spawn_app(
    self: Any, app: Any, config: Any, scope: Any, send: Callable[[Any], Awaitable[None]]
) -> Callable[[Any], Awaitable[None]]:
    """Hypercorn's asyncio ``TaskGroup.spawn_app`` (0.18), with an `AppQueue`."""
    from hypercorn.asyncio.task_group import _handle

    app_queue: AppQueue[Any] = AppQueue(config.max_app_queue_size)
    loop = self._loop

    def _call_soon(func: Callable[..., Any], *args: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(func(*args), loop).result()

    self.spawn(
        _handle,
        app,
        config,
        scope,
        app_queue.get,
        send,
        partial(loop.run_in_executor, None),
        _call_soon,
    )
    return app_queue.put


class EventList(list[Any]):
    """wsproto's pending events: a list with the ``popleft`` wsproto's ``Connection``
    uses (a handful of events at a time; an empty deque costs ~760 bytes)."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def _lean_ws_connection(original: Callable[..., Any]) -> Callable[..., Any]:
    """A factory for ``ws_stream.Connection`` whose connections keep an `EventList`."""

    def connection(*args: Any, **kwargs: Any) -> Any:
        made = original(*args, **kwargs)
        events = getattr(made, "_events", None)
        if type(events) is collections.deque and not events:
            made._events = EventList()
        return made

    connection.__wrapped__ = original  # type: ignore[attr-defined]
    return connection


def _lean_tcp_server_init(original: Callable[..., None]) -> Callable[..., None]:
    """``TCPServer.__init__``, then the stream protocol's drain waiters as a list."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        protocol = getattr(getattr(self, "writer", None), "_protocol", None)
        waiters = getattr(protocol, "_drain_waiters", None)
        if type(waiters) is collections.deque and not waiters:
            protocol._drain_waiters = []  # type: ignore[union-attr]

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    return __init__


def _lean_h11_ws_connection(base: type) -> type:
    """`LeanH11WSConnection`: Hypercorn's ``H11WSConnection`` that drops its h11
    connection once the 101 response is out."""
    import h11

    class LeanH11WSConnection(base):  # type: ignore[misc]
        def send(self, event: Any) -> bytes:
            connection: Any = getattr(self, "h11_connection", None)
            if connection is None:
                raise h11.LocalProtocolError("the connection switched to WebSocket")
            data: bytes = connection.send(event)
            if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                self.h11_connection = None
            return data

    return LeanH11WSConnection


def _lean_connections() -> None:
    """Serve every connection as one protocol object (`LeanTCPServer`, ADR 0114), when
    Hypercorn's worker and this Python's streams are as `LeanTCPServer` expects."""
    from hypercorn.asyncio import run

    from ._tcp import LeanTCPServer, stream_takeover_supported

    current = getattr(run, "TCPServer", None)
    if current is LeanTCPServer or not isinstance(current, type):
        return
    if current.__name__ != "TCPServer" or not stream_takeover_supported():
        return
    setattr(run, "TCPServer", LeanTCPServer)  # noqa: B010


def lean_hypercorn() -> bool:
    """Make Hypercorn's asyncio worker use `AppQueue` and `LeanEvent`, lists for its
    streams' drain waiters and wsproto's events, and drop h11 after an upgrade
    (idempotent). False, and nothing changed, when this Hypercorn does not have what it
    replaces."""
    try:
        from hypercorn.asyncio import task_group, tcp_server, worker_context
        from hypercorn.protocol import h11 as h11_protocol
        from hypercorn.protocol import ws_stream
    except ImportError:
        return False
    group = getattr(task_group, "TaskGroup", None)
    context = getattr(worker_context, "WorkerContext", None)
    server = getattr(tcp_server, "TCPServer", None)
    ws_connection = getattr(ws_stream, "Connection", None)
    h11_ws = getattr(h11_protocol, "H11WSConnection", None)
    if (
        group is None
        or context is None
        or server is None
        or not callable(ws_connection)
        or not isinstance(h11_ws, type)
        or not callable(getattr(h11_ws, "send", None))
        or not callable(getattr(task_group, "_handle", None))
        or not hasattr(group, "spawn_app")
        or not hasattr(group, "spawn")
        or not hasattr(context, "event_class")
    ):
        return False
    group.spawn_app = _spawn_app
    context.event_class = LeanEvent
    _lean_connections()
    if not hasattr(server.__init__, "__wrapped__"):
        server.__init__ = _lean_tcp_server_init(server.__init__)
    if not hasattr(ws_connection, "__wrapped__"):
        setattr(ws_stream, "Connection", _lean_ws_connection(ws_connection))  # noqa: B010
    if h11_ws.__name__ != "LeanH11WSConnection":
        setattr(h11_protocol, "H11WSConnection", _lean_h11_ws_connection(h11_ws))  # noqa: B010
    return True
