"""Connection limits of `lightflow serve` as a real process on 127.0.0.1: past
`--max-connections` a client gets a 503, past `--max-websockets` a close 1013, a WebSocket
message over `--max-ws-message-bytes` a close 1009; out of file descriptors (a low
`RLIMIT_NOFILE` set in the server process) clients get a 503 and the log gets one line per
interval, not one traceback per failed accept. The server keeps serving after each."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from lightflow_actors.adapters.http import Listener, default_max_connections
from lightflow_actors.adapters.http._limits import Refusals
from lightflow_actors.live import WebSocketClient

pytestmark = pytest.mark.anyio

# The server with its descriptor limit lowered before anything opens a file.
_SERVE = """
import resource, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
from lightflow_actors.adapters.cli._main import main
sys.exit(main(["serve", "--port", "0", *sys.argv[2:]]))
"""

SLOW_BODY = (
    b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
)


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, stderr: Path) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stderr = stderr


@asynccontextmanager
async def server(tmp_path: Path, *args: str, nofile: int = 0) -> AsyncIterator[Proc]:
    err = tmp_path / "stderr.txt"
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "LIGHTFLOW_CTX_MOUNT": str(tmp_path / "ctx"),
    }
    with err.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SERVE,
            str(nofile),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line:
        await proc.wait()
        raise AssertionError(f"server did not start: {err.read_text()}")
    try:
        yield Proc(proc, json.loads(line)["port"], err)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def slow_bodies(port: int, count: int) -> list[socket.socket]:
    """Connections that started a POST /runs and never finish its body."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(SLOW_BODY)
        socks.append(sock)
    return socks


def first_response(sock: socket.socket) -> bytes:
    """What the server sent before closing (without sending anything ourselves)."""
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


async def healthy(url: str) -> None:
    """The server answers /health (retrying while the closed connections drain)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            try:
                response = await client.get(f"{url}/health")
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the server stopped serving")


def test_default_connection_limit_leaves_room_for_files() -> None:
    assert default_max_connections(1024) == 896
    assert default_max_connections(256) == 192
    assert default_max_connections(70) == 6
    assert default_max_connections(10**9) == 10_000


async def test_past_max_connections_a_client_gets_a_503_and_the_server_keeps_serving(
    tmp_path: Path,
) -> None:
    async with server(tmp_path, "--max-connections", "6") as srv:
        held = slow_bodies(srv.port, 6)
        try:
            await asyncio.sleep(0.5)  # let the server accept them all
            extra = socket.create_connection(("127.0.0.1", srv.port))
            answer = await asyncio.to_thread(first_response, extra)
            extra.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503"), answer
            assert b"retry-after: 1" in head
            assert "maximum of 6 connections" in json.loads(body)["error"]
        finally:
            for sock in held:
                sock.close()
        await healthy(srv.url)
    log = srv.stderr.read_text()
    assert "Traceback" not in log, log
    assert log.count("refusing connections") == 1


async def test_out_of_file_descriptors_clients_get_503_and_the_log_one_line(
    tmp_path: Path,
) -> None:
    # 200 descriptors for the whole process, a connection limit it cannot reach: accept
    # runs out of descriptors (EMFILE). Before: one traceback per failed accept, and the
    # clients waited in the backlog.
    async with server(tmp_path, "--max-connections", "5000", nofile=200) as srv:
        held = slow_bodies(srv.port, 300)
        try:
            answers = await asyncio.gather(
                *(asyncio.to_thread(first_response, s) for s in held[-20:])
            )
            assert all(a.startswith(b"HTTP/1.1 503") for a in answers), answers[:2]
            assert all(b"out of file descriptors" in a for a in answers)
        finally:
            for sock in held:
                sock.close()
        await healthy(srv.url)
    log = srv.stderr.read_text()
    assert "Traceback" not in log, log[:2000]
    assert "socket.accept() out of system resource" not in log
    assert log.count("refusing connections") == 1
    assert "Too many open files" in log


async def test_past_max_websockets_the_next_is_closed_with_1013(tmp_path: Path) -> None:
    async with server(tmp_path, "--max-websockets", "2") as srv:
        first = await WebSocketClient.connect("127.0.0.1", srv.port, "/live/socket")
        second = await WebSocketClient.connect("127.0.0.1", srv.port, "/live/socket")
        third = await WebSocketClient.connect("127.0.0.1", srv.port, "/live/socket")
        assert await third.receive_text() is None
        assert third.close_code == 1013
        assert "limit 2" in third.close_reason
        await third.close()
        await first.close()
        await second.close()
        for _ in range(100):  # the place is free once the server saw the close
            fourth = await WebSocketClient.connect("127.0.0.1", srv.port, "/live/socket")
            await fourth.send_text('{"kind": "hello", "v": 1, "seq": 1, "versions": [1]}')
            reply = await fourth.receive_text()
            await fourth.close()
            if reply is not None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no WebSocket was accepted after the others closed")
        await healthy(srv.url)


async def test_a_websocket_message_over_the_limit_closes_with_1009(tmp_path: Path) -> None:
    async with server(tmp_path, "--max-ws-message-bytes", "4096") as srv:
        ws = await WebSocketClient.connect("127.0.0.1", srv.port, "/live/socket")
        await ws.send_text("x" * 10_000)
        assert await ws.receive_text() is None
        assert ws.close_code == 1009
        await ws.close()
        await healthy(srv.url)


# -- the Listener in this process (asyncio's accept loop on our socket) ----------------------


@asynccontextmanager
async def listening(listener: Listener) -> AsyncIterator[tuple[int, list[asyncio.StreamWriter]]]:
    """An asyncio server on `listener` that holds every connection until the test ends."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until the client closes
        writer.close()

    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server = await asyncio.start_server(handle, sock=listener)
    try:
        yield listener.getsockname()[1], held
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_the_listener_counts_connections_back_to_zero_and_refuses_past_the_limit() -> None:
    listener = Listener(socket.AF_INET, max_connections=3)
    async with listening(listener) as (port, held):
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await until(lambda: len(held) == 3)
        assert listener.open_connections == 3
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert b'"error":"the server has its maximum of 3 connections"' in answer
        writer.close()
        assert listener.refusals.total == {"at the connection limit": 1}
        for _, w in clients:
            w.close()
        await until(lambda: listener.open_connections == 0)
        # the places are free again
        more = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await until(lambda: listener.open_connections == 3)
        for _, w in more:
            w.close()
        await until(lambda: listener.open_connections == 0)


class ExhaustedListener(Listener):
    """A listener whose process is out of descriptors while `exhausted` (until the reserve
    descriptor is given up, as a real process at its limit)."""

    exhausted = False

    def _accept(self) -> tuple[int, object]:
        if self.exhausted and self._reserve is not None:
            raise OSError(errno.EMFILE, "Too many open files")
        return super()._accept()  # type: ignore[misc, no-any-return]


async def test_out_of_descriptors_each_waiting_client_gets_a_503_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = ExhaustedListener(
        socket.AF_INET, max_connections=100, refusals=Refusals(interval=0.05)
    )
    caplog.set_level(logging.WARNING, logger="lightflow_actors.http")
    async with listening(listener) as (port, held):
        listener.exhausted = True
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        answers = [await reader.read() for reader, _ in clients]
        assert all(a.startswith(b"HTTP/1.1 503") for a in answers)
        assert all(b"out of file descriptors" in a for a in answers)
        for _, writer in clients:
            writer.close()
        assert listener.refusals.total == {"out of file descriptors": 5}
        assert listener.open_connections == 0
        listener.exhausted = False
        # descriptors are back: the next client is served
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: len(held) == 1)
        writer.close()
        await until(lambda: "refused" in caplog.text)
    first, *summaries = [r.getMessage() for r in caplog.records]
    # The first at once, then summaries with the count, one per interval at most (a slow
    # machine may spread the five refusals over more than one interval).
    assert first.startswith("refusing connections: accept failed: Too many open files")
    counts = [
        re.fullmatch(
            r"refused (\d+) connections in the last 0.05s \(\1 out of file "
            r"descriptors\)",
            line,
        )
        for line in summaries
    ]
    assert all(counts), summaries
    assert sum(int(m.group(1)) for m in counts if m) == 4
