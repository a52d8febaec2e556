"""The Starlette routes of the operator API: decode once, ask the gateway, encode the reply.

A handler never touches an actor's state: it turns the request into a typed message (or a
``BadRequest`` naming the bad field), asks the gateway, and encodes what comes back.
Where a request enters: ``OperatorRoutes.routes()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..operator_api import Action, Health
from ._cluster_tree import cluster_tree
from ._errors import Unavailable
from ._events import SSE_KEEPALIVE, SSE_PREAMBLE, CloseStream, StreamEnd, sse_frame
from ._inputs import (
    OPERATOR,
    ActorQuery,
    EmptyBody,
    NoQuery,
    StopBody,
    TreeQuery,
    decode_actor_id,
)
from ._link import GatewayLink
from ._messages import GetActor, GetReadiness, GetSummary, GetTree, OpenStream
from ._pages import RootLink, root_page, static_file
from ._responses import json_response
from ._security import Guard


class OperatorRoutes:
    """The route handlers, bound to one gateway link and one guard."""

    def __init__(
        self,
        link: GatewayLink,
        guard: Guard,
        links: tuple[RootLink, ...],
        *,
        keepalive: float = 15.0,
    ) -> None:
        self.link = link
        self.guard = guard
        self.links = links
        self.keepalive = keepalive
        self._static = {
            "observer.css": (static_file("observer.css"), "text/css; charset=utf-8"),
            "openapi.yaml": (static_file("openapi.yaml"), "application/yaml"),
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.root, methods=["GET"]),
            *(Route(f"/{name}", self.static, methods=["GET"], name=name) for name in self._static),
            Route("/health", self.health, methods=["GET"]),
            Route("/ready", self.ready, methods=["GET"]),
            Route("/system", self.summary, methods=["GET"]),
            Route("/system/tree", self.tree, methods=["GET"]),
            Route("/system/events", self.events, methods=["GET"]),
            Route("/actors/{id}", self.actor, methods=["GET"]),
            Route("/actors/{id}/stop", self.stop, methods=["POST"]),
            Route("/actors/{id}/restart", self.restart, methods=["POST"]),
            Route("/actors/{id}/kill", self.kill, methods=["POST"]),
        ]

    # -- pages ---------------------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        base = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(root_page(base, self.link.system.name, self.links))

    async def static(self, request: Request) -> Response:
        content, media_type = self._static[request.url.path.rsplit("/", 1)[-1]]
        return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})

    # -- JSON ----------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        # Liveness: answered here, on the loop, without asking any actor, so a restarting
        # subsystem (or gateway) never makes an orchestrator kill a process that can heal.
        _no_query(request)
        system = self.link.system
        if not system.running:
            raise Unavailable("the actor system is not running; the server is starting or stopping")
        return json_response(Health(system=system.name, actors=system.actor_count()))

    async def ready(self, request: Request) -> Response:
        _no_query(request)
        readiness = await self.link.ask(GetReadiness())
        return json_response(readiness, 200 if readiness.status == "ready" else 503)

    async def summary(self, request: Request) -> Response:
        _no_query(request)
        summary = await self.link.ask(GetSummary())
        return json_response(summary)

    async def tree(self, request: Request) -> Response:
        query = OPERATOR.query(request.query_params.multi_items(), TreeQuery)
        if query.node is not None:
            return json_response(await cluster_tree(self.link, query))
        page = await self.link.ask(GetTree(query))
        return json_response(page)

    async def actor(self, request: Request) -> Response:
        actor_id = decode_actor_id(request.path_params["id"])
        query = OPERATOR.query(request.query_params.multi_items(), ActorQuery)
        detail = await self.link.ask(GetActor(actor_id, query.events))
        return json_response(detail)

    # -- actions -------------------------------------------------------------------------

    async def stop(self, request: Request) -> Response:
        return await self._act(request, "stop")

    async def restart(self, request: Request) -> Response:
        return await self._act(request, "restart")

    async def kill(self, request: Request) -> Response:
        return await self._act(request, "kill")

    async def _act(self, request: Request, action: Action) -> Response:
        self.guard.check_origin(request.headers, request.url.scheme)
        self.guard.require_token(request.headers)
        actor_id = decode_actor_id(request.path_params["id"])
        _no_query(request)
        body = await OPERATOR.read_body(request)
        timeout: float | None = None
        if action == "stop":
            timeout = OPERATOR.body(body, StopBody).timeout
        else:
            OPERATOR.body(body, EmptyBody)  # restart and kill take no fields
        return json_response(await self.link.perform(actor_id, action, timeout))

    # -- event stream --------------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        self.guard.check_origin(request.headers, request.url.scheme)
        self.guard.require_token(request.headers)
        _no_query(request)
        last = OPERATOR.last_event_id(request.headers.get("last-event-id"))
        handle = await self.link.ask(OpenStream(last))
        keepalive = self.keepalive

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield SSE_PREAMBLE
                while True:
                    try:
                        item = await asyncio.wait_for(handle.outbox.get(), keepalive)
                    except TimeoutError:
                        if not handle.stream.alive and handle.outbox.empty():
                            return
                        yield SSE_KEEPALIVE
                        continue
                    yield sse_frame(item)
                    if isinstance(item, StreamEnd):
                        return
            finally:
                if handle.stream.alive:
                    handle.stream.tell(CloseStream())

        return StreamingResponse(
            frames(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _no_query(request: Request) -> None:
    OPERATOR.query(request.query_params.multi_items(), NoQuery)
