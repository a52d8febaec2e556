"""`lightflow serve` as a real process on 127.0.0.1: inspect, crash a child, watch it restart
(SSE and tree), and stop gracefully on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

TOKEN = "server-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Server:
    def __init__(self, proc: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready
        self.url = ready["url"].rstrip("/")

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, list[dict[str, Any]], str]:
        self.proc.send_signal(signum)
        out, err = await asyncio.wait_for(self.proc.communicate(), 30)
        lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        assert self.proc.returncode is not None
        return self.proc.returncode, lines, err.decode()


async def start_server(*args: str, env: dict[str, str] | None = None) -> Server:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lightflow_actors.cli",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if not line:
        _, err = await proc.communicate()
        raise AssertionError(f"server did not start: {err.decode()}")
    return Server(proc, json.loads(line))


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in frame.split("\n") if ": " in line and line[0] != ":"
            )
            if "data" in fields:
                yield fields.get("event", "message"), json.loads(fields["data"])


@pytest.mark.anyio
async def test_serve_crash_restart_and_graceful_stop() -> None:
    server = await start_server("--demo", "--token", TOKEN)
    try:
        assert server.ready["token_required"] and server.ready["demo"]
        assert server.ready["host"] == "127.0.0.1"
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            assert (await client.get("/health")).json()["status"] == "ok"
            nodes = (await client.get("/system/tree")).json()["nodes"]
            (worker,) = [n for n in nodes if n["child_id"] == "worker-2"]
            pool = worker["parent"]
            since = (await client.get("/system")).json()["last_event_id"]

            assert (await client.post(f"/actors/{worker['id']}/kill")).status_code == 401

            restarted: list[dict[str, Any]] = []
            exited: list[dict[str, Any]] = []
            headers = {**AUTH, "Last-Event-ID": str(since)}
            async with client.stream("GET", "/system/events", headers=headers) as stream:
                kill = await client.post(f"/actors/{worker['id']}/kill", headers=AUTH)
                assert kill.json()["exit_reason"] == "killed"
                async for kind, event in sse(stream):
                    if kind == "exited" and event["actor"] == worker["id"]:
                        exited.append(event)
                    if kind == "restarted" and event["parent"] == pool:
                        restarted.append(event)
                        if event["actor_kind"] == "Worker" and len(restarted) == 2:
                            break  # rest_for_one: worker-2 and worker-3 come back
            assert exited[0]["reason"] == "killed"
            assert all(e["reason"] == "killed" for e in restarted)

            after = (await client.get("/system/tree", params={"root": pool})).json()["nodes"]
            (new_worker,) = [n for n in after if n["child_id"] == "worker-2"]
            assert new_worker["id"] == restarted[0]["actor"] != worker["id"]
            assert new_worker["restarts"] == 1 and new_worker["status"] in ("idle", "busy")

            # An event stream left open must not hold up the shutdown.
            open_stream = client.stream("GET", "/system/events", headers=AUTH)
            response = await open_stream.__aenter__()
            assert response.status_code == 200
            code, lines, err = await server.stop(signal.SIGTERM)
            await open_stream.__aexit__(None, None, None)
        assert code == 0, err
        assert lines[-1] == {"stopped": True, "actors_left": 0}
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()


@pytest.mark.anyio
async def test_sigint_stops_gracefully_and_the_token_may_come_from_the_environment() -> None:
    server = await start_server(env={"LIGHTFLOW_TOKEN": TOKEN})
    try:
        assert server.ready["token_required"] and not server.ready["demo"]
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
            nodes = (await client.get("/system/tree")).json()["nodes"]
            classes = {n["actor_class"] for n in nodes}
            assert {"RootSupervisor", "Supervisor", "Gateway"} <= classes
            assert not classes & {"Worker", "Flaky", "Session"}  # no demo tree without --demo
            assert (
                await client.get("/system/events", headers={"Authorization": "Bearer x"})
            ).status_code == 403
        code, lines, _ = await server.stop(signal.SIGINT)
        assert code == 0 and lines[-1]["actors_left"] == 0
    finally:
        if server.proc.returncode is None:
            server.proc.kill()
            await server.proc.wait()


@pytest.mark.anyio
async def test_refusals_at_start() -> None:
    async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lightflow_actors.cli",
            "serve",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in {**os.environ, **(env or {})}.items() if v},
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await run("--host", "0.0.0.0", env={"LIGHTFLOW_TOKEN": ""})
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "without a token" in err and "--token" in err

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, out, err = await run("--port", str(taken.getsockname()[1]))
    assert code == 1 and out == "" and "cannot serve on 127.0.0.1" in err


@pytest.mark.anyio
async def test_other_areas_join_the_server_as_parts(live_server: Any) -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from lightflow_actors import ActorSystem
    from lightflow_actors.adapters.http import RootLink, ServerPart

    from ._actors import Worker

    started: list[str] = []

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    async def first(system: ActorSystem) -> None:
        system.spawn(Worker, name="first-part")
        started.append("first")

    async def second(system: ActorSystem) -> None:
        started.append("second")

    parts = [
        ServerPart(
            routes=(Route("/hello", hello),),
            links=(RootLink("Hello", "hello", "says hello"),),
            on_startup=first,
        ),
        ServerPart(on_startup=second),
    ]
    async with (
        live_server(parts=parts) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        assert started == ["first", "second"]
        assert (await client.get("/hello")).text == "hello"
        assert 'href="/hello">Hello</a>' in (await client.get("/")).text
        nodes = (await client.get("/system/tree")).json()["nodes"]
        assert any(n["name"] == "first-part" for n in nodes)
        stopped = await server.stop()
    assert stopped.actors_left == 0


async def _handshake(port: int, path: str, host: str) -> bytes:
    """A raw WebSocket upgrade request with Host `host`; the server's first answer bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    return answer


@pytest.mark.anyio
async def test_a_part_socket_is_served_in_front_of_the_routes_but_behind_the_host_guard(
    live_server: Any,
) -> None:
    from starlette.types import Receive, Scope, Send

    from lightflow_actors.adapters.http import ServerPart
    from lightflow_actors.live import WebSocketClient

    reached: list[str] = []

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})

    async with live_server(parts=[ServerPart(sockets=(("/echo", echo),))]) as server:
        port = server.serving.port
        ws = await WebSocketClient.connect("127.0.0.1", port, "/echo")
        await ws.send_text("hi")
        assert await ws.receive_text() == "hi"
        await ws.close()
        assert reached == ["/echo"]
        refused = await _handshake(port, "/echo", "rebound.example")  # DNS rebinding
        assert refused.startswith(b"HTTP/1.1 403"), refused
        assert reached == ["/echo"]  # the guard answered; the socket never ran
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/ready")).status_code == 200  # the routes still serve
