"""The live examples on one server: counter, chat with presence, the 1 000-row table, login.

    uv run --frozen python examples/live/app.py [--port 5175]   # http://127.0.0.1:5175/live/counter

The views themselves ship with the package (``lightflow_actors.live_examples``), so
``lightflow serve`` shows them too; this is the smallest app that serves them alone.
"""

from __future__ import annotations

import argparse
import asyncio

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.routing import Mount

from lightflow_actors import ActorSystem
from lightflow_actors.live_examples import start_examples


async def serve(host: str = "127.0.0.1", port: int = 5175) -> None:
    async with ActorSystem("examples") as system:
        routes = await start_examples(system)
        app = Starlette(routes=[Mount("/live", routes=routes.routes)])
        config = Config()
        config.bind = [f"{host}:{port}"]
        print(f"live examples on http://{host}:{port}/live/counter", flush=True)
        await hypercorn_serve(app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the live examples on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=5175)
    asyncio.run(serve(port=parser.parse_args().port))
