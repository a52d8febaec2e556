"""Backpressure over a real server (Hypercorn on 127.0.0.1, raw wsproto clients).

A browser that acks everything it applies is never cut off, however many events it
sends in a burst (its acks wait in TCP behind its events): patches coalesce while it
is behind. A client that stops reading is closed with 1008 (specs/live-wire.md §8)
once it has gone without an ack for `ack_timeout`, and nothing of it stays on the
server: no actor, no socket in CLOSE-WAIT, no buffered frames.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import Message, Request

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.isa import Render
from lightflow_actors.live import LiveClient, LiveConfig, LiveHub, WebSocketClient
from lightflow_actors.live_examples import example_views, start_example_actors

from ...live.live_server import serving
from ._handshake import join, page_ids

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def server(config: LiveConfig) -> AsyncIterator[tuple[str, LiveHub]]:
    async with ActorSystem("backpressure", seed=9) as system:
        await start_example_actors(system, interval=3600.0)
        hub = LiveHub(system, example_views(system), config=config, secret=b"s" * 32)
        routes = LiveRoutes(hub)
        async with serving(routes.routes) as base:
            yield base, hub
        await hub.stop()


async def _page(base: str, view: str) -> tuple[str, str, str]:
    """The page's session id and token, and the Cookie header its token is bound to."""
    async with httpx.AsyncClient() as http:
        page = await http.get(f"{base}/{view}")
    session, token = page_ids(page.text)
    cookie = "; ".join(f"{name}={value}" for name, value in page.cookies.items())
    return session, token, cookie


async def test_an_acking_browser_survives_a_burst_of_ten_thousand_events() -> None:
    async with server(LiveConfig()) as (base, _hub):
        session, token, cookie = await _page(base, "counter")
        port = int(base.split(":")[2].split("/")[0])
        ws = await WebSocketClient.connect("127.0.0.1", port, "/live/socket", cookie=cookie)
        client = LiveClient(auto_ack=False)
        await join(ws, client, "counter", session, token)

        async def read() -> None:
            while (text := await ws.receive_text()) is not None:
                client.feed(text.encode())

        reader = asyncio.ensure_future(read())
        last = ""
        for _ in range(10_000):
            data, last = client.submit("inc", {"by": 1})
            await ws.send_text(data.decode())
        for _ in range(2_000):  # the acks, in TCP behind every event
            ack = client.ack()
            if ack is not None:
                await ws.send_text(ack.decode())
            if last in client.answered or reader.done():
                break
            await asyncio.sleep(0.01)
        assert last in client.answered, (ws.close_code, ws.close_reason, client.errors)
        assert '<b id="count">10000</b>' in client.html()
        assert ws.close_code is None
        reader.cancel()
        await ws.close()


def _close_wait_sockets(port: int) -> int:
    """Server-side sockets of `port` in CLOSE-WAIT (the peer closed, we never did)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "08":
                count += 1
    return count


async def test_a_client_that_never_reads_is_closed_and_freed() -> None:
    config = LiveConfig(ack_timeout=0.5, heartbeat_interval=0.3, heartbeat_timeout=60.0)
    async with server(config) as (base, hub):
        session, token, cookie = await _page(base, "table")
        port = int(base.split(":")[2].split("/")[0])
        loop = asyncio.get_running_loop()
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing anyway
        raw.setblocking(False)
        await loop.sock_connect(raw, ("127.0.0.1", port))
        ws = WSConnection(ConnectionType.CLIENT)
        await loop.sock_sendall(
            raw,
            ws.send(
                Request(
                    host=f"127.0.0.1:{port}",
                    target="/live/socket",
                    extra_headers=[(b"cookie", cookie.encode())],
                )
            ),
        )
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += await loop.sock_recv(raw, 1)  # the 101 answer, byte by byte
        ws.receive_data(handshake)
        assert [type(e).__name__ for e in ws.events()] == ["AcceptConnection"]
        client = LiveClient(auto_ack=False)
        frames = [client.hello()]
        client.feed(b'{"kind":"welcome","v":1,"seq":1,"version":1}')  # what it will not read
        frames += client.join("table", session, token, {})
        frames += [client.send(Render()) for _ in range(300)]  # 300 full renders, ~60 KB each
        for frame in frames:
            await loop.sock_sendall(raw, ws.send(Message(data=frame.decode())))

        async def gone() -> bool:
            return not await hub.transports() and not await hub.sessions()

        for _ in range(500):  # no ack for ack_timeout: the server closes it
            if await gone():
                break
            await asyncio.sleep(0.02)
        assert await gone(), "the transport or session of the silent client is still there"
        raw.shutdown(socket.SHUT_WR)  # the client leaves too, still without reading
        for _ in range(1000):  # the server gives a stuck write 5 s, then lets go
            if _close_wait_sockets(port) == 0:
                break
            await asyncio.sleep(0.02)
        assert _close_wait_sockets(port) == 0, "a server socket stays in CLOSE-WAIT"
        # What reached the client ends with the close frame, code 1008 (not 1011).
        data = b""
        while True:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(raw, 1 << 20), 5)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            data += chunk
        raw.close()
        ws.receive_data(data)
        codes = [e.code for e in ws.events() if type(e).__name__ == "CloseConnection"]
        assert codes == [1008]
        renders = data.count(b'"op":"render"')
        assert renders < 300  # held back and coalesced, not one per request
