"""The observer on our own live sessions: its hub, its actors, its routes.

    GET  {base}/observer                          the page (a static snapshot without JS)
    WS   {base}/observer/socket                   its live connection (specs/live-wire.md)
    GET|POST|DELETE {base}/observer/sse, /poll    the same without WebSockets (§17)
    GET  {base}/observer/static/lightflow-live.js the live client

The observer has a live hub of its own (``lightflow.http.observer``, no broker adapter: an
actor id means nothing on another node), and two actors added to that hub's supervisor
after its pubsub, so a pubsub restart restarts them too (rest_for_one)::

    lightflow.http.observer            Supervisor rest_for_one (the LiveHub)
    ├── .pubsub  .presence  .sessions  .transports
    ├── .feed                          TreeFeed: lifecycle events -> snapshots
    └── .actions                       ActionDesk: stop/restart/kill through the gateway

Everything starts on the first request for the page or its socket, so an app nobody
observes runs none of it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection
from typing import Never

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from lightflow_actors.adapters.http import (
    GatewayLink,
    Guard,
    OperatorApp,
    PageFactory,
    RootLink,
    ServerPart,
    Unavailable,
)
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorRef, ActorSystem
from lightflow_actors.live import CountSubscribers, LiveHub, Publish, PubSubServer, SubscribeTopic
from lightflow_actors.supervision import ChildSpec

from ._actions import ActionDesk
from ._feed import GetSnapshot, TreeFeed
from ._view import ObserverView

OBSERVER_NAME = "lightflow.http.observer"
"""The name of the observer's live hub; its actors are named ``<name>.<part>``."""

VIEW = "observer"
CLIENT_SCRIPT = "lightflow-live.js"
"""The live client's file name, as specs/live-wire.md §2 names its route."""


def observer_view(
    system: ActorSystem, guard: Guard, *, hub_name: str = OBSERVER_NAME
) -> ObserverView:
    """An ``ObserverView`` that finds the feed of the hub named ``hub_name``."""

    def feed() -> ActorRef[GetSnapshot]:
        return system.lookup(f"{hub_name}.feed", TreeFeed)

    return ObserverView(feed, guard)


async def start_observer_actors(
    hub: LiveHub, link: GatewayLink, *, interval: float = 0.25, refresh: float = 2.0
) -> None:
    """Add the feed and the action desk to ``hub``'s supervisor (started), unless running;
    they stay part of the hub, restarted with it.

    ``interval``: seconds lifecycle events are coalesced for; ``refresh``: seconds between
    snapshots when nothing happens (counters move anyway).
    """
    system, name = hub.system, hub.name
    if hub.supervisor is None:
        await hub.start()

    def pubsub() -> ActorRef[Publish | CountSubscribers | SubscribeTopic]:
        return system.lookup(f"{name}.pubsub", PubSubServer)

    children: list[ChildSpec[Never]] = [
        ChildSpec(
            id="feed",
            start=functools.partial(TreeFeed, pubsub, interval=interval, refresh=refresh),
            name=f"{name}.feed",
        ),
        ChildSpec(
            id="actions",
            start=functools.partial(ActionDesk, pubsub, link),
            name=f"{name}.actions",
        ),
    ]
    await hub.add_children(children)


RESTART_WAIT_S = 2.0
"""How long a request waits for the root to bring a killed observer hub back (its first
restart comes after about half a second) before starting one itself."""

OBSERVER_LINK = RootLink(
    "Observer",
    "observer",
    "The supervision tree, live: actors spawn, crash and restart; stop, restart or kill one.",
)
"""The observer's entry on the root page."""


class ObserverPage:
    """The observer of one operator app: ``routes()`` to serve, ``start``/``close``.

    ``allowed_origins``: browser origins allowed to open the socket besides the page's own.
    """

    def __init__(
        self,
        system: ActorSystem,
        link: GatewayLink,
        guard: Guard,
        *,
        allowed_origins: Collection[str] = (),
        name: str = OBSERVER_NAME,
        interval: float = 0.25,
        refresh: float = 2.0,
    ) -> None:
        self.link = link
        self.hub = LiveHub(system, {VIEW: observer_view(system, guard, hub_name=name)}, name=name)
        self.live = LiveRoutes(self.hub, allowed_origins=allowed_origins)
        self.interval = interval
        self.refresh = refresh
        self._lock = asyncio.Lock()
        self._closed = False

    def links(self) -> list[RootLink]:
        return [OBSERVER_LINK]

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/observer", self.page, methods=["GET"], name="observer"),
            WebSocketRoute("/observer/socket", self.socket, name="observer_socket"),
            Route("/observer/sse", self.fallback, methods=["GET", "POST", "DELETE"]),
            Route("/observer/poll", self.fallback, methods=["GET", "POST", "DELETE"]),
            Route(
                f"/observer/static/{CLIENT_SCRIPT}",
                self.live.script,
                methods=["GET"],
                name="observer_script",
            ),
        ]

    async def start(self) -> None:
        """Start the hub and the observer's actors (idempotent; concurrent callers wait).

        The hub is a subsystem: killed by an operator, the root starts it again (the
        observer's actors with it), and its browsers reconnect by themselves. Without a
        root (a bare kernel system) a hub found dead is started afresh here.
        """
        if self._closed:
            raise Unavailable("the server is stopping; the observer is closed")
        async with self._lock:
            if self.hub.started and not await self.hub.wait_running(RESTART_WAIT_S):
                await self.hub.stop()  # nothing restarts it here: start it afresh
            await self.hub.start()
            await start_observer_actors(
                self.hub, self.link, interval=self.interval, refresh=self.refresh
            )

    def open(self) -> None:
        """Serve again after ``close`` (the app was started again)."""
        self._closed = False

    async def close(self) -> None:
        """Stop every session and its socket, and start nothing more until ``open``."""
        self._closed = True
        await self.hub.stop()

    async def page(self, request: Request) -> Response:
        await self.start()
        # The live routes take their base from root_path: theirs is /observer.
        base = request.scope.get("root_path", "").rstrip("/")
        scope = dict(request.scope)
        scope["path_params"] = {"view": VIEW}
        scope["root_path"] = f"{base}/observer"
        return await self.live.page(Request(scope, request.receive))

    async def socket(self, websocket: WebSocket) -> None:
        try:
            await self.start()
        except Unavailable:
            await websocket.close(code=1001, reason="the server is stopping")
            return
        await self.live.socket(websocket)

    async def fallback(self, request: Request) -> Response:
        """The same live connection over SSE or long-polling, for a browser whose
        WebSockets are blocked (specs/live-wire.md §17)."""
        await self.start()
        routes = self.live.fallback
        sse = request.url.path.endswith("/sse")
        return await (routes.sse if sse else routes.poll)(request)


def observer_page(
    *, name: str = OBSERVER_NAME, interval: float = 0.25, refresh: float = 2.0
) -> PageFactory:
    """The observer as a page of an operator app: ``create_app(pages=[observer_page()])``.

    ``name``: the name of the observer's live hub (its actors are ``<name>.feed`` and so
    on); two operator apps in one system need two names.
    """

    def build(app: OperatorApp) -> ObserverPage:
        return ObserverPage(
            app.system,
            app.link,
            app.guard,
            allowed_origins=app.allowed_origins,
            name=name,
            interval=interval,
            refresh=refresh,
        )

    return build


def observer_part(*, name: str = OBSERVER_NAME) -> ServerPart:
    """The observer as a part of ``lightflow serve`` (``GET /observer``)."""
    return ServerPart(pages=(observer_page(name=name),))
