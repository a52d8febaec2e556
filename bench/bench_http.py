"""HTTP benchmarks (#6): `/system/tree` latency with 10 k actors, and `/health` requests/s.

Servers run in a child process (Hypercorn on 127.0.0.1, the same config for every app) so
the client (httpx, in this process) and the server each get a core. Every figure is printed
beside its baseline from the same run, with the ratio:

- `/system/tree?limit=10000` over HTTP vs `system.actors()` alone (and `system_tree()`),
  both timed in the server's process on the same 10 k-actor system;
- `/health` requests/s of the operator app (through its gateway actor, as `lightflow serve`
  runs it) vs a bare Starlette app with the same route, under the same bounded load.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import time
from multiprocessing.connection import Connection
from typing import Never

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench._report import row
from lightflow_actors import Actor, ActorSystem
from lightflow_actors.adapters.http import create_app
from lightflow_actors.adapters.http._security import LoopbackHostGuard
from lightflow_actors.observer import observer_page
from lightflow_actors.supervision import system_tree

TREE_ACTORS = 10_000
TREE_SAMPLES = 9
LOAD_REQUESTS = 1_000
LOAD_CONCURRENCY = 32


class Idle(Actor[Never]):
    pass


def _bare_app() -> Starlette:
    body = b'{"status":"ok","system":"lightflow","actors":1}'

    async def health(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/health", health, methods=["GET"])])


def _timed(fn: object, samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _child_main(kind: str, conn: Connection) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = int(sock.getsockname()[1])
    system = ActorSystem()
    app: object
    if kind == "bare":
        app = _bare_app()
    else:
        await system.start()
        operator = create_app(system, pages=[observer_page()])
        await operator.start()
        app = LoopbackHostGuard(operator)
        if kind == "tree":
            for _ in range(TREE_ACTORS):
                system.spawn(Idle)
            baseline = {
                "actors": _timed(system.actors, TREE_SAMPLES),
                "system_tree": _timed(lambda: system_tree(system), TREE_SAMPLES),
                "count": system.actor_count(),
            }
            conn.send(baseline)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    loop = asyncio.get_running_loop()
    conn.send(port)
    await serve(app, config, shutdown_trigger=lambda: loop.run_in_executor(None, conn.recv))  # type: ignore[arg-type]
    if kind != "bare":
        await system.shutdown()


def _child(kind: str, conn: Connection) -> None:
    asyncio.run(_child_main(kind, conn))


class ChildServer:
    def __init__(self, kind: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(kind, child_conn), daemon=True)
        self.proc.start()
        self.baseline: dict[str, float] | None = None
        if kind == "tree":
            self.baseline = self.conn.recv()
        self.port: int = self.conn.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()


async def _tree_latency(url: str) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await client.get("/system/tree", params={"limit": 10_000})  # warm up
        times = []
        size = 0
        for _ in range(TREE_SAMPLES):
            start = time.perf_counter()
            response = await client.get("/system/tree", params={"limit": 10_000})
            times.append(time.perf_counter() - start)
            size = len(response.json()["nodes"])
        return statistics.median(times), size


async def _load(url: str) -> float:
    limits = httpx.Limits(
        max_connections=LOAD_CONCURRENCY, max_keepalive_connections=LOAD_CONCURRENCY
    )
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        for _ in range(50):
            (await client.get("/health")).raise_for_status()
        remaining = LOAD_REQUESTS

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await client.get("/health")
                assert response.status_code == 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(LOAD_CONCURRENCY)))
        return LOAD_REQUESTS / (time.perf_counter() - start)


def main() -> None:
    tree = ChildServer("tree")
    try:
        assert tree.baseline is not None
        latency, size = asyncio.run(_tree_latency(tree.url))
        count = int(tree.baseline["count"])
        print(f"tree of {count:,} actors ({size:,} nodes per response)", flush=True)
        row(
            "GET /system/tree latency (median)",
            latency * 1e3,
            "ms",
            tree.baseline["actors"] * 1e3,
            "system.actors()",
        )
        row(
            "  system_tree() alone (median)",
            tree.baseline["system_tree"] * 1e3,
            "ms",
            tree.baseline["actors"] * 1e3,
            "system.actors()",
        )
    finally:
        tree.stop()

    # Both servers up at once, runs interleaved, best of five: the least disturbed figure
    # on a shared machine, and neither side gets a warmer CPU than the other.
    servers = {kind: ChildServer(kind) for kind in ("bare", "operator")}
    rates = {kind: 0.0 for kind in servers}
    try:
        for _ in range(5):
            for kind, server in servers.items():
                rates[kind] = max(rates[kind], asyncio.run(_load(server.url)))
    finally:
        for server in servers.values():
            server.stop()
    print(
        f"/health: {LOAD_REQUESTS:,} requests, {LOAD_CONCURRENCY} concurrent, httpx client",
        flush=True,
    )
    row(
        "GET /health via the gateway actor",
        rates["operator"],
        "req/s",
        rates["bare"],
        "bare Starlette",
    )


if __name__ == "__main__":
    main()
