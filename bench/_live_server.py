"""The live benches' server process: the examples hub and a bare echo socket (the
baseline), on 127.0.0.1; and a free port to put it on."""

from __future__ import annotations

import asyncio
import gc
import socket
import tracemalloc

from lightflow_actors import ActorSystem
from lightflow_actors.live import LiveConfig
from lightflow_actors.live_examples import start_examples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(port: int, *, traced: bool = False) -> None:
    """The server process: the examples hub and a bare echo socket, on 127.0.0.1:port.

    `traced`: tracemalloc runs (one frame) and ``GET /trace/mark`` keeps a snapshot;
    ``GET /trace/diff?n=N`` answers what was allocated since, per `N` (bytes by the
    allocating file, or by its line with ``key=lineno``), as JSON."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            return

    marks: list[tracemalloc.Snapshot] = []

    async def mark(request: Request) -> JSONResponse:
        gc.collect()
        marks[:] = [tracemalloc.take_snapshot()]
        return JSONResponse({"ok": True})

    async def collect(request: Request) -> JSONResponse:
        """A full collection now: the memory bench reads RSS after one, so that garbage
        waiting for the collector (cycles freed whenever generation 2 next runs) does not
        count as what sessions hold."""
        return JSONResponse({"collected": gc.collect()})

    async def diff(request: Request) -> JSONResponse:
        gc.collect()
        n = int(request.query_params.get("n", "1"))
        key = "lineno" if request.query_params.get("key") == "lineno" else "filename"
        stats = tracemalloc.take_snapshot().compare_to(marks[0], key)
        rows = [
            [
                f"{s.traceback[0].filename}:{s.traceback[0].lineno}"
                if key == "lineno"
                else s.traceback[0].filename,
                s.size_diff / n,
                s.count_diff / n,
            ]
            for s in stats
            if s.size_diff
        ]
        return JSONResponse(rows)

    async def main() -> None:
        async with ActorSystem("bench-server", seed=1) as system:
            # The bench's peers open hundreds of sessions and then stay silent (they answer
            # no Ping): a long heartbeat timeout keeps a loaded machine's slow run from
            # closing the first ones. Pings are still sent every 15 s, as in production.
            config = LiveConfig(heartbeat_timeout=3600.0)
            routes = await start_examples(system, tick_interval=3600.0, config=config)
            app = Starlette(
                routes=[
                    WebSocketRoute("/echo", echo),
                    Route("/trace/mark", mark),
                    Route("/gc", collect),
                    Route("/trace/diff", diff),
                    Mount("/live", routes=routes.routes),
                ]
            )
            # The live socket in front of Starlette's routing (ADR 0108), as `lightflow
            # serve` serves it; the echo baseline goes through the routing.
            served = routes.front(app, mount="/live")
            config = Config()
            config.bind = [f"127.0.0.1:{port}"]
            config.accesslog = None
            config.errorlog = None
            config.backlog = 4096
            print("ready", flush=True)
            await hypercorn_serve(served, config)  # type: ignore[arg-type]

    if traced:
        tracemalloc.start(1)
    asyncio.run(main())
