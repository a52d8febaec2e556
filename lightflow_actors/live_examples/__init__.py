"""The example live views shipped with the package: a counter, a chat room with presence,
a 1 000-row table updated by a ticking actor, widgets (JS commands, a client hook),
a login page with protected views (``login``, ``account``, ``profile``: a signed
cookie session, ``on_mount``, flash), a tally whose count lives in the session (kept
across nodes in a cluster), ``settings``: a form with an upload and an async-loaded
panel, todos (a live component per item, a streamed activity log), and tasks: a
todo list per signed-in user kept in a store actor per user (components, a stream, an
upload per task, flash, JS-command toggles), and a dashboard of two live children
(nested live views, ``live_render``).
``lightflow serve`` mounts them under ``/live``;
``examples/live/app.py`` serves them.

A host app mounts them with ``lightflow_actors.adapters.ws.live_routes`` and starts the
actors they share (the table's ticker, the chat room) once its system runs::

    routes = [Mount("/live", routes=live_routes(system, example_views(system)))]
    ...
    await start_example_actors(system)  # e.g. in the app's startup hook

``start_examples(system)`` does both on a running system and returns the ``LiveRoutes``
(with its hub), which is what the tests and the benchmark use.
"""

from __future__ import annotations

from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorRef, ActorSystem
from lightflow_actors.live import (
    AnyLiveView,
    GroupedView,
    LiveConfig,
    LiveHub,
    PubSubMessage,
    PubSubServer,
)
from lightflow_actors.supervision import start_subsystem

from .auth import auth_views
from .chat import ChatRoom, Room, RoomMessage
from .counter import counter
from .dashboard import dashboard
from .settings import SettingsView
from .table import GetTable, LiveTable, Ticker
from .tally import tally
from .tasks import STORES, StoreFor, TaskStores, attachment_routes, task_views
from .todos import TodoList
from .widgets import WidgetsView

__all__ = [
    "CHAT_ROOM",
    "TASK_STORES",
    "TICKER",
    "attachment_routes",
    "example_views",
    "start_example_actors",
    "start_examples",
]

TICKER = "examples.table-ticker"
CHAT_ROOM = "examples.chat-room"
TASK_STORES = STORES


def example_views(system: ActorSystem) -> dict[str, AnyLiveView | GroupedView]:
    """The views; the table and the chat find their actors (`start_example_actors`) by
    name when they need them."""

    def ticker() -> ActorRef[GetTable]:
        return system.lookup(TICKER, Ticker)

    def room() -> ActorRef[RoomMessage]:
        return system.lookup(CHAT_ROOM, Room)

    def stores() -> ActorRef[StoreFor]:
        return system.lookup(TASK_STORES, TaskStores)

    return {
        "counter": counter,
        "chat": ChatRoom(room),
        "table": LiveTable(ticker),
        "widgets": WidgetsView(),
        **auth_views(),
        "tally": tally,
        "dashboard": dashboard,
        "settings": SettingsView(),
        "todos": TodoList(),
        **task_views(stores),
    }


async def start_example_actors(
    system: ActorSystem, *, interval: float = 0.5, hub_name: str = "live"
) -> None:
    """Start the table's ticker and the chat room (a startup hook); they publish through
    the hub's pubsub once it runs."""

    def pubsub() -> ActorRef[PubSubMessage] | None:
        try:
            return system.lookup(f"{hub_name}.pubsub", PubSubServer)
        except LookupError:
            return None

    # Each is a permanent child of the root, restarted with backoff if it crashes (the
    # room's history and the ticker's table start again; the task stores read their files).
    await start_subsystem(
        system, TICKER, lambda: Ticker(pubsub, interval=interval), name=TICKER, type="worker"
    )
    await start_subsystem(system, CHAT_ROOM, lambda: Room(pubsub), name=CHAT_ROOM, type="worker")
    await start_subsystem(system, TASK_STORES, TaskStores, name=TASK_STORES, type="worker")


async def start_examples(
    system: ActorSystem,
    *,
    tick_interval: float = 0.5,
    hub_name: str = "live",
    config: LiveConfig | None = None,
) -> LiveRoutes:
    """Start the hub (with `config`), the ticker and the chat room on a running `system`;
    return the routes."""
    hub = LiveHub(system, example_views(system), name=hub_name, config=config)
    await hub.start()
    await start_example_actors(system, interval=tick_interval, hub_name=hub_name)
    routes = LiveRoutes(hub)
    routes.routes[:0] = attachment_routes(hub)  # the tasks example's attachments
    return routes
