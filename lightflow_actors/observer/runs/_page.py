"""The runs page on our own live sessions: its hub, its actors, its routes.

    GET  {base}/runs                                  a browser: the page (JSON clients:
    GET  {base}/runs/{id}                             the runs API, negotiated there)
    WS   {base}/runs/socket                           its live connection
    GET|POST|DELETE {base}/runs/sse, /runs/poll       the same without WebSockets
    GET  {base}/runs/static/lightflow-live.js         the live client
    GET  {base}/runs/static/runs.css                  its stylesheet
    GET  {base}/runs/{id}/steps/{step}/image          a step's output image

It lives beside the observer (this layer sees both the runs service and the live
sessions; the runs routes, a layer below, only know it as an ``HtmlRuns``). Its live
hub (``lightflow.http.runs``) holds two actors after its pubsub, restarted with it::

    lightflow.http.runs             Supervisor rest_for_one (the LiveHub)
    ├── .pubsub  .presence  .sessions  .transports
    ├── .feed                       RunsFeed: runs -> listings and run details
    └── .desk                       RunsDesk: cancel/retry/create through the runs host

Everything starts on the first request for the page or its socket.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection
from pathlib import Path
from typing import Never
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from lightflow_actors.adapters.http import Guard, OperatorApp, RootLink, Unavailable
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.flow import FlowError, InvalidRunId
from lightflow_actors.kernel import ActorExited, ActorNotAlive, ActorRef, ActorSystem, AskTimeout
from lightflow_actors.live import CountSubscribers, LiveHub, Publish, PubSubServer, SubscribeTopic
from lightflow_actors.runs import RunsOperations, RunsPort
from lightflow_actors.supervision import ChildSpec

from ._desk import RunsDesk
from ._feed import FeedMessage, RunsFeed
from ._outputs import IMAGE_TYPES, image_path
from ._style import RUNS_CSS
from ._view import RunsView

RUNS_PAGE_NAME = "lightflow.http.runs"
"""The name of the runs page's live hub; its actors are ``<name>.feed`` and ``.desk``."""

VIEW = "runs"
CLIENT_SCRIPT = "lightflow-live.js"
MAX_IMAGE_BYTES = 16 << 20
"""An output image larger than this is not served."""
RESTART_WAIT_S = 2.0


def runs_view(system: ActorSystem, guard: Guard, *, hub_name: str = RUNS_PAGE_NAME) -> RunsView:
    """A ``RunsView`` that finds the feed of the hub named ``hub_name``."""

    def feed() -> ActorRef[FeedMessage]:
        return system.lookup(f"{hub_name}.feed", RunsFeed)

    return RunsView(feed, guard)


async def start_runs_actors(hub: LiveHub, port: RunsPort, *, interval: float = 0.25) -> None:
    """Add the feed and the desk to ``hub``'s supervisor (started), unless running."""
    system, name = hub.system, hub.name
    if hub.supervisor is None:
        await hub.start()

    def pubsub() -> ActorRef[Publish | CountSubscribers | SubscribeTopic]:
        return system.lookup(f"{name}.pubsub", PubSubServer)

    children: list[ChildSpec[Never]] = [
        ChildSpec(
            id="feed",
            start=functools.partial(RunsFeed, port, pubsub, interval=interval),
            name=f"{name}.feed",
        ),
        ChildSpec(id="desk", start=functools.partial(RunsDesk, pubsub, port), name=f"{name}.desk"),
    ]
    await hub.add_children(children)


class RunsPage:
    """The runs page of one runs API: ``bind`` it to the operator app (a ``PageFactory``),
    and give it to the runs routes as their ``html``.

    ``port`` reaches the runs host; ``guard`` must be the one of the runs routes (the
    same token); ``allowed_origins``: browser origins allowed to open the socket.
    """

    def __init__(
        self,
        port: RunsPort,
        guard: Guard,
        *,
        allowed_origins: Collection[str] = (),
        name: str = RUNS_PAGE_NAME,
        interval: float = 0.25,
    ) -> None:
        self.port = port
        self.guard = guard
        self.allowed_origins = tuple(allowed_origins)
        self.name = name
        self.interval = interval
        self._live: LiveRoutes | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def bind(self, app: OperatorApp) -> RunsPage:
        """Serve inside ``app`` (on its system); the ``PageFactory`` of ``create_app``."""
        hub = LiveHub(
            app.system,
            {VIEW: runs_view(app.system, self.guard, hub_name=self.name)},
            name=self.name,
        )
        self._live = LiveRoutes(hub, allowed_origins=self.allowed_origins)
        return self

    @property
    def serving(self) -> bool:
        """Whether the page is mounted in an app (``bind``): until then browsers get JSON."""
        return self._live is not None

    @property
    def live(self) -> LiveRoutes:
        if self._live is None:
            raise Unavailable("the runs page is not mounted in an operator app (RunsPage.bind)")
        return self._live

    def links(self) -> list[RootLink]:
        return []  # the runs API's "Workflow runs" link opens this page in a browser

    def routes(self) -> list[BaseRoute]:
        return [
            WebSocketRoute("/runs/socket", self.socket, name="runs_socket"),
            Route("/runs/sse", self.fallback, methods=["GET", "POST", "DELETE"]),
            Route("/runs/poll", self.fallback, methods=["GET", "POST", "DELETE"]),
            Route(f"/runs/static/{CLIENT_SCRIPT}", self.script, methods=["GET"]),
            Route("/runs/static/runs.css", self.stylesheet, methods=["GET"]),
            Route("/runs/{id}/steps/{step}/image", self.image, methods=["GET"]),
        ]

    async def start(self) -> None:
        """Start the hub and the page's actors (idempotent; concurrent callers wait)."""
        if self._closed:
            raise Unavailable("the server is stopping; the runs page is closed")
        hub = self.live.hub
        async with self._lock:
            if hub.started and not await hub.wait_running(RESTART_WAIT_S):
                await hub.stop()
            await hub.start()
            await start_runs_actors(hub, self.port, interval=self.interval)

    def open(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        if self._live is not None:
            await self._live.hub.stop()

    # -- HtmlRuns: what a browser gets from GET /runs and GET /runs/{id} ---------------------

    async def runs_html(self, request: Request) -> Response:
        await self.start()
        base = request.scope.get("root_path", "").rstrip("/")
        scope = dict(request.scope)
        scope["path_params"] = {"view": VIEW}
        scope["root_path"] = f"{base}/runs"
        return await self.live.page(Request(scope, request.receive))

    async def run_html(self, request: Request, run_id: str) -> Response:
        """A run's own URL shows it on the runs page (relative: works under a mount)."""
        return RedirectResponse(f"../runs?run={quote(run_id, safe='')}", status_code=303)

    # -- the page's own routes ----------------------------------------------------------------

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

    async def script(self, request: Request) -> Response:
        return await self.live.script(request)

    async def stylesheet(self, request: Request) -> Response:
        headers = {"Cache-Control": "no-cache"}
        return Response(RUNS_CSS, media_type="text/css; charset=utf-8", headers=headers)

    async def image(self, request: Request) -> Response:
        run_id, step = request.path_params["id"], request.path_params["step"]
        if request.query_params:
            return _error("this route takes no query parameters", 400)
        try:
            data, media = await self.port.read(
                "runs-page image", lambda ops: output_image(ops, run_id, step)
            )
        except InvalidRunId as exc:
            return _error(str(exc), 400)
        except (FlowError, LookupError) as exc:
            return _error(str(exc), 404)
        except (AskTimeout, ActorExited, ActorNotAlive) as exc:
            return _error(f"the runs host did not answer: {exc}; try again", 503)
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        return Response(data, media_type=media, headers=headers)


def _error(message: str, status: int) -> Response:
    """The runs API's error shape: ``{"error": ..., "field": null}``."""
    body = msgspec.json.encode({"error": message, "field": None})
    return Response(body, status, media_type="application/json")


class NoImage(LookupError):
    """The step's output names no image this page may serve (the message says why)."""


def output_image(ops: RunsOperations, run_id: str, step: str) -> tuple[bytes, str]:
    """The image file a step's output names, if it lies in the run's folder or the
    ``/ctx`` tree, is a PNG, JPEG, GIF or WebP, and is at most ``MAX_IMAGE_BYTES``."""
    store = ops.store
    named = image_path(store.output(run_id, step))
    if named is None:
        raise NoImage(f"the output of step {step!r} of run {run_id!r} names no image file")
    run_dir = store.run_dir(run_id).resolve()
    path = Path(named)
    real = (path if path.is_absolute() else run_dir / path).resolve()
    roots = (run_dir, ops.layout.root_path.resolve())
    if not any(real.is_relative_to(root) for root in roots):
        raise NoImage(f"{named!r} is outside the run folder and the /ctx tree; not served")
    media = IMAGE_TYPES.get(real.suffix.lower())
    if media is None:
        raise NoImage(f"{named!r} is not a PNG, JPEG, GIF or WebP file")
    try:
        with open(real, "rb") as file:
            data = file.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise NoImage(f"{named!r} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise NoImage(f"{named!r} is larger than {MAX_IMAGE_BYTES} bytes; not served")
    return data, media
