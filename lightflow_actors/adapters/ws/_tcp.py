"""`LeanTCPServer`: Hypercorn's asyncio connection as one protocol object (ADR 0114).

Hypercorn's ``TCPServer`` serves a connection from the task ``asyncio.start_server``
runs for it: a loop awaiting a ``StreamReader`` (its protocol and ``StreamWriter``
beside it), inside an ``asyncio.TaskGroup`` that holds the app's tasks. A WebSocket
keeps all of it for as long as it is open: the task, six suspended coroutine frames, the
stream pair, the group and its set, the locks (``bench_live_transport --breakdown``:
~3.5 KB of the ~24 KB an idle live session held).

`Connection` is the asyncio protocol of the socket instead. `LeanTCPServer` takes the
transport from the stream pair when the connection starts (the bytes the reader already
holds are handed on first, and the pair is dropped) and drives Hypercorn's
``ProtocolWrapper`` (HTTP/1.1, HTTP/2, the WebSocket upgrade) from ``data_received``:

- received bytes are handled by a task that exists only while they are being handled
  (Hypercorn's ``handle`` may await: a full app queue, a write's drain); bytes that
  arrive meanwhile wait in one buffer and are handled next, in order; past 64 KB waiting,
  reading pauses;
- writes go straight to the transport; a sender waits only while the transport has
  paused writing (its buffer is over the high-water mark);
- the app's tasks are kept in a list (the group Hypercorn's streams spawn into); an
  app task failing with more than an ``Exception`` cancels its siblings and closes the
  connection, as ``asyncio.TaskGroup`` did;
- a keep-alive HTTP connection's idle timeout is Hypercorn's own (a task while idle,
  which ends it at ``keep_alive_timeout`` or when the server terminates); a
  ``read_timeout`` is a timer restarted by every read.

The task ``start_server`` made stays as long as the connection is HTTP, so that at
shutdown Hypercorn still waits for requests in flight (``graceful_timeout``). Once the
connection is a WebSocket it ends: an open WebSocket holds no task of the server's (its
app's task is the only one), and at shutdown Hypercorn no longer waits for it, where it
waited ``graceful_timeout`` for a socket that never closed by itself (`lightflow serve`
closes its live sockets before: ``create_app``'s drain).

Semantics kept from ``TCPServer`` (tests/adapters/ws/test_tcp.py): the order of the
bytes handled, the ``Closed`` event on EOF, loss or a read timeout, the transport closed
once the app's tasks are done or when the protocol sends ``Closed``, a write on a lost
connection answered by ``Closed``, the keep-alive timeout, cancellation of the server's
task closing the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Generator
from typing import Any, cast

from hypercorn.events import Closed, RawData, Updated
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.ws_stream import WSStream
from hypercorn.typing import ConnectionState
from hypercorn.utils import parse_socket_addr

from ._hypercorn import _spawn_app

MAX_PENDING = 65536
"""Bytes received while the previous ones are handled beyond which reading pauses (the
same bound as Hypercorn's reads of ``MAX_RECV``)."""


class _DetachedWriter(asyncio.StreamWriter):
    """A ``StreamWriter`` whose transport is taken over: dropping it leaves the transport
    open (``StreamWriter.__del__`` closes a transport that is not closing)."""

    def __del__(self) -> None:
        return None


class Connection(asyncio.Protocol):
    """One TCP connection served by Hypercorn's protocol stack: the asyncio protocol,
    the task group of its app tasks, and the ``send`` Hypercorn writes with."""

    __slots__ = (
        "_drainers",
        "_errors",
        "_held",
        "_idle",
        "_input_done",
        "_loop",
        "_lost",
        "_pending",
        "_read_timer",
        "_reading",
        "_tasks",
        "_transport",
        "_write_paused",
        "app",
        "config",
        "context",
        "ended",
        "protocol",
        "started",
        "state",
        "websocket",
    )

    def __init__(
        self,
        app: Any,
        loop: asyncio.AbstractEventLoop,
        config: Any,
        context: Any,
        state: Any,
        transport: asyncio.Transport,
    ) -> None:
        self.app = app
        self._loop = loop
        self.config = config
        self.context = context
        self.state = state
        self._transport = transport
        self.protocol: Any = None
        self.started = False  # the protocol exists: received bytes are handled
        self._tasks: list[asyncio.Task[Any]] = []
        self._errors: list[BaseException] | None = None
        self._pending: bytearray | None = None
        self._reading: asyncio.Task[None] | None = None
        self._input_done = False  # EOF, loss or a read timeout: Closed is (being) handled
        self._lost = False
        self._write_paused = False
        self._drainers: list[asyncio.Future[None]] | None = None
        self._idle: asyncio.Task[None] | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        # Resolved when the server's task may end: the connection is over, or a WebSocket.
        self._held: asyncio.Future[None] | None = None
        self.websocket = False
        self.ended = False  # closed, and every app task done

    # -- Hypercorn's TaskGroup ----------------------------------------------------------

    spawn_app = _spawn_app

    @property
    def _task_group(self) -> Connection:
        # ``AsyncioSingleTask`` (keep-alive timeouts) spawns with
        # ``task_group._task_group.create_task``.
        return self

    def spawn(self, func: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        self.create_task(func(*args))

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled():
            error = task.exception()
            if error is not None and not isinstance(error, Exception):
                # What asyncio.TaskGroup did: the others are cancelled, the connection ends.
                if self._errors is None:
                    self._errors = []
                self._errors.append(error)
                for other in self._tasks:
                    other.cancel()
                self._close()
            elif error is not None:
                self._loop.call_exception_handler(
                    {"message": "a connection task failed", "exception": error, "task": task}
                )
        self._check_ended()

    # -- start ---------------------------------------------------------------------------

    def take_over(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Make this the transport's protocol: what `reader` holds is handled first, and
        the stream pair can be dropped (the writer's finalizer leaves the transport open)."""
        transport = self._transport
        buffered = reader._buffer  # type: ignore[attr-defined]
        if buffered:
            self._pending = bytearray(buffered)
            buffered.clear()
        if reader._eof or reader.exception() is not None:  # type: ignore[attr-defined]
            self._input_done = True
        paused = bool(reader._paused)  # type: ignore[attr-defined]
        streams = transport.get_protocol()
        transport.set_protocol(self)
        writer.__class__ = _DetachedWriter
        # The stream protocol and its writer (and its task's done callback) refer to each
        # other: left so, the pair would wait for a full collection to be freed.
        for name in ("_stream_writer", "_task"):
            if hasattr(streams, name):
                setattr(streams, name, None)
        if paused:
            transport.resume_reading()
        if transport.is_closing():
            self._lost = self._input_done = True

    async def serve(self) -> None:
        """Serve the connection (after `take_over`); return once it is over, or once it is
        a WebSocket (see the module docstring)."""
        transport = self._transport
        self._held = self._loop.create_future()
        try:
            sock = transport.get_extra_info("socket")
            try:
                client = parse_socket_addr(sock.family, sock.getpeername())
                server = parse_socket_addr(sock.family, sock.getsockname())
            except OSError:
                self._close()
                return
            ssl_object = transport.get_extra_info("ssl_object")
            ssl = ssl_object is not None
            alpn = ssl_object.selected_alpn_protocol() if ssl else "http/1.1"
            self.protocol = ProtocolWrapper(
                self.app,
                self.config,
                self.context,
                cast(Any, self),  # Hypercorn's TaskGroup, less the context manager
                ConnectionState(self.state),
                ssl,
                client,
                server,
                self.send,
                alpn,
            )
            await self.protocol.initiate()
            self.started = True
            self._restart_idle()
            self._restart_read_timer()
            if self._pending or self._input_done:  # what came before the protocol existed
                self._reading = self._loop.create_task(self._handle(None))
            await self._held
        except BaseException:
            # Cancelled (the server's graceful timeout, or the loop ending): as
            # asyncio.TaskGroup did, the app's tasks are cancelled and awaited.
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            self._close()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self._held = None
        errors = self._errors
        if errors and not self.websocket:
            raise errors[0]

    # -- asyncio protocol ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._input_done:
            return  # after a read timeout: the connection is closing
        self._restart_read_timer()
        if self._reading is not None or not self.started:
            pending = self._pending
            if pending is None:
                self._pending = pending = bytearray(data)
            else:
                pending += data
            if len(pending) > MAX_PENDING and not self._lost:
                self._transport.pause_reading()
            return
        self._reading = self._loop.create_task(self._handle(data))

    def eof_received(self) -> bool:
        self._end_input()
        return True  # the transport stays open for what the app still writes

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        timer, self._read_timer = self._read_timer, None
        if timer is not None:
            timer.cancel()
        drainers, self._drainers = self._drainers, None
        for drainer in drainers or ():
            if not drainer.done():
                drainer.set_exception(ConnectionResetError("Connection lost"))
        self._end_input()
        self._check_ended()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drainers, self._drainers = self._drainers, None
        for drainer in drainers or ():
            if not drainer.done():
                drainer.set_result(None)

    # -- reading -------------------------------------------------------------------------

    def _end_input(self) -> None:
        if self._input_done:
            return
        self._input_done = True
        if self._reading is None and self.started:
            self._reading = self._loop.create_task(self._handle(None))

    async def _handle(self, data: bytes | None) -> None:
        """Handle `data`, then what arrived meanwhile, then the end of input (the task that
        runs it exists only while there is something to handle)."""
        protocol = self.protocol
        try:
            while True:
                if data is not None:
                    await protocol.handle(RawData(data))
                    self._check_websocket()
                pending = self._pending
                if pending:
                    self._pending = None
                    data = bytes(pending)
                    if not self._lost:
                        self._transport.resume_reading()
                    continue
                if self._input_done:
                    await protocol.handle(Closed())
                return
        except Exception as error:
            self._loop.call_exception_handler(
                {"message": "a connection's protocol failed", "exception": error}
            )
            self._input_done = True
            self._close()
        finally:
            self._reading = None
            if self._input_done:
                self._check_ended()

    def _check_websocket(self) -> None:
        """Once the connection is a WebSocket, the server's task may end."""
        if self.websocket:
            return
        stream = getattr(getattr(self.protocol, "protocol", None), "stream", None)
        if isinstance(stream, WSStream):
            self.websocket = True
            self._stop_idle()
            held = self._held
            if held is not None and not held.done():
                held.set_result(None)

    def _restart_read_timer(self) -> None:
        timeout = self.config.read_timeout
        if timeout is None or self._lost:
            return
        timer = self._read_timer
        if timer is not None:
            timer.cancel()
        self._read_timer = self._loop.call_later(timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        self._end_input()

    # -- writing (Hypercorn's ``send``) --------------------------------------------------

    async def send(self, event: Any) -> None:
        if isinstance(event, RawData):
            try:
                if self._lost:
                    raise ConnectionResetError("Connection lost")
                self._transport.write(event.data)
                if self._write_paused:
                    drainer = self._loop.create_future()
                    if self._drainers is None:
                        self._drainers = []
                    self._drainers.append(drainer)
                    await drainer
            except (ConnectionError, RuntimeError):
                await self.protocol.handle(Closed())
        elif isinstance(event, Closed):
            self._close()
        elif isinstance(event, Updated):
            if event.idle:
                self._restart_idle()
            else:
                self._stop_idle()

    def _close(self) -> None:
        transport = self._transport
        if transport.is_closing():
            return
        with contextlib.suppress(NotImplementedError, OSError, RuntimeError):
            transport.write_eof()
        transport.close()

    # -- keep-alive ------------------------------------------------------------------------

    def _restart_idle(self) -> None:
        self._stop_idle()
        if not self.websocket:
            self._idle = self.create_task(self._idle_timeout())

    def _stop_idle(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.cancel()

    async def _idle_timeout(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.context.terminated.wait(), self.config.keep_alive_timeout)
        self._idle = None
        # Shielded as in Hypercorn: the close goes on if this task is cancelled meanwhile
        # (a request arriving just now): the stream is closed and so is the connection,
        # never the one without the other (a response cut off on an open connection).
        await asyncio.shield(self._server_close())

    async def _server_close(self) -> None:
        await self.protocol.handle(Closed())
        self._close()

    # -- the end ---------------------------------------------------------------------------

    def _check_ended(self) -> None:
        """Over when input ended, its Closed is handled and every app task is done: the
        transport is closed, and the server's task (if still there) ends."""
        if self.ended or not self._input_done or self._reading is not None:
            return
        self._stop_idle()  # no keep-alive once the input ended
        if self._tasks:
            return
        self.ended = True
        self._close()
        held = self._held
        if held is not None and not held.done():
            held.set_result(None)


class LeanTCPServer:
    """Hypercorn's asyncio ``TCPServer`` (same constructor, awaited the same way by
    ``worker_serve``), serving the connection as a `Connection`."""

    __slots__ = ("app", "config", "context", "loop", "reader", "state", "writer")

    def __init__(
        self,
        app: Any,
        loop: asyncio.AbstractEventLoop,
        config: Any,
        context: Any,
        state: Any,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.app = app
        self.loop = loop
        self.config = config
        self.context = context
        self.state = state
        self.reader: asyncio.StreamReader | None = reader
        self.writer: asyncio.StreamWriter | None = writer

    def __await__(self) -> Generator[Any, None, None]:
        return self.run().__await__()

    async def run(self) -> None:
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        self.reader = self.writer = None
        connection = Connection(
            self.app,
            self.loop,
            self.config,
            self.context,
            self.state,
            cast(asyncio.Transport, writer.transport),
        )
        connection.take_over(reader, writer)
        del reader, writer
        try:
            await connection.serve()
        except asyncio.CancelledError:
            # Hypercorn's shutdown cancelled the connection (its graceful timeout, or the
            # loop ending), and `serve` has closed it and its app's tasks. This task is the
            # top of its own tree (asyncio's `client_connected_cb`), so nothing awaits its
            # cancellation; ending it cancelled makes Python 3.11's streams call
            # `task.exception()` and log a `CancelledError` traceback at every shutdown
            # with a connection open.
            return


def stream_takeover_supported() -> bool:
    """Whether this Python's streams have what `Connection.serve` takes over."""
    # The names StreamReader's constructor sets (no instance: that needs an event loop).
    names = asyncio.StreamReader.__init__.__code__.co_names
    return all(name in names for name in ("_buffer", "_eof", "_paused"))
