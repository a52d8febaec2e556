"""A TCP proxy on 127.0.0.1 for tests: it forwards to a target port, can be **cut** (every
connection dropped, new ones closed at once: a partition) and **healed**, and can be
pointed at another target (a load balancer moving a browser to another node)."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """::

    proxy = await TcpProxy(target_port).start()
    ... connect to proxy.port ...
    proxy.cut(); proxy.heal(); proxy.retarget(other_port)
    await proxy.close()
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.severed = False
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `heal`."""
        self.severed = True
        self._drop_all()

    def heal(self) -> None:
        self.severed = False

    def retarget(self, port: int, *, drop: bool = True) -> None:
        """Forward new connections to `port` (and drop the open ones: their node is gone)."""
        self.target_port = port
        if drop:
            self._drop_all()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        for task in list(self._pipes):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                transport = writer.transport
                transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.severed:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(
                self._pipe(source, sink, writer, up_writer)
            )
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        a: asyncio.StreamWriter,
        b: asyncio.StreamWriter,
    ) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in (a, b):  # one side closed: close both (a TCP proxy has no half-close)
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.transport.abort()
