"""``create_app``: the operator API as an ASGI app, standalone or mounted in a host service.

Without a system, the app owns one: its lifespan starts it and shuts it down (actors stop
in reverse start order). With a system, the app only uses it: the host starts and stops the
system; our lifespan, when the host runs it, starts and stops just the gateway. Mounted
apps (whose lifespan Starlette does not run) start the gateway on the first request.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from ...kernel import ActorSystem, Refused
from ...supervision import ActorSystem as SupervisedSystem
from ..operator_api import ErrorBody
from ._errors import HttpError
from ._gateway import GATEWAY_NAME, Gateway
from ._link import GatewayLink
from ._messages import CloseStreams
from ._pages import ROOT_LINKS, RootLink
from ._responses import error_response, json_response
from ._routes import OperatorRoutes
from ._security import Guard
from ._supervision import start_gateway_tree, stop_gateway_tree

logger = logging.getLogger("lightflow_actors.http")

StartupHook = Callable[[ActorSystem], Awaitable[None]]


class Page(Protocol):
    """A browser page served inside the operator app (the observer is one): its routes,
    and `open`/`close` around the app's lifespan (close ends its sessions before the
    server closes connections)."""

    def routes(self) -> list[BaseRoute]: ...

    def links(self) -> Sequence[RootLink]: ...

    def open(self) -> None: ...

    async def close(self) -> None: ...


PageFactory = Callable[["OperatorApp"], Page]
"""Builds a page from the app it is mounted in (its system, gateway link and guard)."""


class OperatorApp:
    """The operator API; an ASGI application (``await app(scope, receive, send)``).

    ``system``: the actor system it serves (owned, and created here, when not given).
    ``starlette``: the underlying Starlette app, for ``url_path_for`` and tests.
    ``pages``: the browser pages mounted in it (the observer, when the composition root
    adds it: ``lightflow_actors.observer.observer_page``).
    """

    def __init__(
        self,
        system: ActorSystem | None,
        token: str | None,
        *,
        allowed_origins: Collection[str],
        links: Sequence[RootLink],
        routes: Sequence[BaseRoute],
        on_startup: StartupHook | None,
        keepalive: float,
        ask_timeout: float,
        gateway_name: str,
        pages: Sequence[PageFactory] = (),
        owns_system: bool | None = None,
    ) -> None:
        self.owns_system = system is None if owns_system is None else owns_system
        self.system = system if system is not None else SupervisedSystem()
        self.guard = Guard(token, allowed_origins)
        self.allowed_origins = tuple(allowed_origins)
        self.gateway_name = gateway_name
        self.supervisor_name = f"{gateway_name}.supervisor"
        self._on_startup = on_startup
        self.link = GatewayLink(
            self.system,
            gateway_name,
            functools.partial(
                start_gateway_tree,
                factory=functools.partial(Gateway, gateway_name),
                supervisor_name=self.supervisor_name,
            ),
            ask_timeout,
        )
        self.pages = [make(self) for make in pages]
        page_links = [link for page in self.pages for link in page.links()]
        handlers = OperatorRoutes(
            self.link, self.guard, (*page_links, *ROOT_LINKS, *links), keepalive=keepalive
        )
        self.starlette = Starlette(
            routes=[
                *handlers.routes(),
                *(r for page in self.pages for r in page.routes()),
                *routes,
            ],
            exception_handlers={
                HttpError: _error,
                Refused: _error,
                HTTPException: _starlette_error,
            },
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.starlette(scope, receive, send)

    async def start(self) -> None:
        """Start the system (if owned), the gateway, then the ``on_startup`` hook."""
        for page in self.pages:
            page.open()
        if self.owns_system:
            await self.system.start()
        await self.link.ref()
        if self._on_startup is not None:
            await self._on_startup(self.system)

    async def drain(self) -> int:
        """End every open event stream and page session (before the server closes
        connections); returns how many event streams were open."""
        for page in self.pages:
            await page.close()
        if not self.system.running or self.system.whereis(self.gateway_name) is None:
            return 0
        try:
            return await self.link.ask(CloseStreams())
        except HttpError:
            # No gateway to ask (it is restarting): its streams went down with it.
            logger.warning("could not drain the event streams: the gateway is unavailable")
            return 0

    async def stop(self) -> None:
        """Drain, then shut the owned system down, or stop only the gateway's subtree."""
        await self.drain()
        if self.owns_system:
            await self.system.shutdown()
        elif self.system.running:
            await stop_gateway_tree(self.system, self.supervisor_name)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()


def create_app(
    system: ActorSystem | None = None,
    token: str | None = None,
    *,
    allowed_origins: Collection[str] = (),
    links: Sequence[RootLink] = (),
    routes: Sequence[BaseRoute] = (),
    on_startup: StartupHook | None = None,
    keepalive: float = 15.0,
    ask_timeout: float = 5.0,
    gateway_name: str = GATEWAY_NAME,
    pages: Sequence[PageFactory] = (),
    owns_system: bool | None = None,
) -> OperatorApp:
    """The operator API as an ASGI app.

    ::

        app = create_app()                        # owns its ActorSystem (lifespan)
        host = Starlette(routes=[Mount("/ops", app=create_app(system, token="s3cret"))])

    ``token``: bearer token required by mutations and the event stream (None: no token;
    only safe on loopback). ``allowed_origins``: extra browser origins allowed to mutate and
    stream. ``links``: extra root-page links; ``routes``: extra Starlette routes (other
    areas of the server). ``on_startup`` runs once the system and gateway are up.
    ``keepalive``: seconds between SSE keepalive comments. ``ask_timeout``: seconds a
    route waits for the gateway. ``pages``: browser pages to mount, each built from the
    app (``observer_page()`` adds the observer at ``/observer``). ``owns_system``: whether the app's
    lifespan starts and stops ``system`` (default: only when the app created it).
    """
    return OperatorApp(
        system,
        token,
        allowed_origins=allowed_origins,
        links=links,
        routes=routes,
        on_startup=on_startup,
        keepalive=keepalive,
        ask_timeout=ask_timeout,
        gateway_name=gateway_name,
        pages=pages,
        owns_system=owns_system,
    )


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError | Refused)
    return error_response(exc)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}; the routes are listed at /openapi.yaml"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {request.url.path!r}; use {allowed}"
    else:
        message = exc.detail
    return json_response(ErrorBody(message), exc.status_code, headers=exc.headers)
