"""The live benches' server process: the examples hub and a bare echo socket (the
baseline), on 127.0.0.1; and a free port to put it on."""

from __future__ import annotations

import asyncio
import socket

from lightflow_actors import ActorSystem
from lightflow_actors.live_examples import start_examples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(port: int) -> None:
    """The server process: the examples hub and a bare echo socket, on 127.0.0.1:port."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config
    from starlette.applications import Starlette
    from starlette.routing import Mount, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            return

    async def main() -> None:
        async with ActorSystem("bench-server", seed=1) as system:
            routes = await start_examples(system, tick_interval=3600.0)
            app = Starlette(
                routes=[WebSocketRoute("/echo", echo), Mount("/live", routes=routes.routes)]
            )
            config = Config()
            config.bind = [f"127.0.0.1:{port}"]
            config.accesslog = None
            config.errorlog = None
            config.backlog = 4096
            print("ready", flush=True)
            await hypercorn_serve(app, config)  # type: ignore[arg-type]

    asyncio.run(main())
