"""A real server for live-session tests: Hypercorn on 127.0.0.1 (a free port), in this loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serving(
    routes: list[BaseRoute],
    *,
    prefix: str = "/live",
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> AsyncIterator[str]:
    """Serve `routes` under `prefix`; yields the base URL (``http://127.0.0.1:PORT/live``).
    `wrap` puts a middleware in front (a proxy that refuses WebSockets, say)."""
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.5
    app: ASGIApp = Starlette(routes=[Mount(prefix, routes=routes)])
    if wrap is not None:
        app = wrap(app)
    stop = asyncio.Event()
    task = asyncio.ensure_future(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
