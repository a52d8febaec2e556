"""The example live views shipped with the package: a counter, a chat room with presence,
and a 1 000-row table updated by a ticking actor. ``lightflow serve`` mounts them under
``/live``; ``examples/live/app.py`` serves them on their own.

A host app mounts them with ``lightflow_actors.adapters.ws.live_routes`` and starts the
table's ticker once its system runs::

    routes = [Mount("/live", routes=live_routes(system, example_views(system)))]
    ...
    await start_ticker(system)          # e.g. in the app's startup hook

``start_examples(system)`` does both on a running system and returns the ``LiveRoutes``
(with its hub), which is what the tests and the benchmark use.
"""

from __future__ import annotations

from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorRef, ActorSystem
from lightflow_actors.live import AnyLiveView, LiveHub, Publish, PubSubServer

from .chat import ChatRoom
from .counter import Counter
from .table import GetTable, LiveTable, Ticker

__all__ = ["TICKER", "example_views", "start_examples", "start_ticker"]

TICKER = "examples.table-ticker"


def example_views(system: ActorSystem) -> dict[str, AnyLiveView]:
    """The three views; the table finds its ticker (`start_ticker`) when a session mounts."""

    def ticker() -> ActorRef[GetTable]:
        return system.lookup(TICKER, Ticker)

    return {"counter": Counter(), "chat": ChatRoom(), "table": LiveTable(ticker)}


async def start_ticker(
    system: ActorSystem, *, interval: float = 0.5, hub_name: str = "live"
) -> None:
    """Start the table's ticker (a startup hook); it publishes once the hub runs."""

    def pubsub() -> ActorRef[Publish] | None:
        try:
            return system.lookup(f"{hub_name}.pubsub", PubSubServer)
        except LookupError:
            return None

    await system.start_actor(lambda: Ticker(pubsub, interval=interval), name=TICKER)


async def start_examples(
    system: ActorSystem, *, tick_interval: float = 0.5, hub_name: str = "live"
) -> LiveRoutes:
    """Start the hub and the ticker on a running `system`; return the routes."""
    hub = LiveHub(system, example_views(system), name=hub_name)
    await hub.start()
    await start_ticker(system, interval=tick_interval, hub_name=hub_name)
    return LiveRoutes(hub)
