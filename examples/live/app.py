"""The live examples on one server: counter, chat with presence, the 1 000-row table.

    uv run python -m examples.live.app            # http://127.0.0.1:5175/live/counter

`start_examples(system)` is what a host app (or a test) calls: it starts the
hub and the table's ticker and returns the routes to mount under ``/live``.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.routing import Mount

from lightflow_actors import ActorRef, ActorSystem
from lightflow_actors.live import LiveHub, LiveRoutes, Publish, PubSubServer

from .chat import ChatRoom
from .counter import Counter
from .table import GetTable, LiveTable, Ticker

TICKER = "examples.table-ticker"


async def start_examples(
    system: ActorSystem, *, tick_interval: float = 0.5, hub_name: str = "live"
) -> LiveRoutes:
    """Start the ticker and the hub on a running `system`; return the routes."""

    def pubsub() -> ActorRef[Publish] | None:
        try:
            return system.lookup(f"{hub_name}.pubsub", PubSubServer)
        except LookupError:
            return None

    def ticker() -> ActorRef[GetTable]:
        return system.lookup(TICKER, Ticker)

    hub = LiveHub(
        system,
        {"counter": Counter(), "chat": ChatRoom(), "table": LiveTable(ticker)},
        name=hub_name,
    )
    await hub.start()
    await system.start_actor(lambda: Ticker(pubsub, interval=tick_interval), name=TICKER)
    return LiveRoutes(hub)


async def serve(host: str = "127.0.0.1", port: int = 5175) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    async with ActorSystem("examples") as system:
        routes = await start_examples(system)
        app = Starlette(routes=[Mount("/live", routes=routes.routes)])
        config = Config()
        config.bind = [f"{host}:{port}"]
        print(f"live examples on http://{host}:{port}/live/counter", flush=True)
        await hypercorn_serve(app, config)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(serve())
