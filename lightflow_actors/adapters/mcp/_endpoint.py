"""`McpEndpoint`: the actor that owns the MCP SDK's Streamable HTTP session manager.

The manager needs a task group for its whole life (normally the ASGI lifespan). This
actor enters it in `on_start` and leaves it in `on_stop`, so the endpoint starts, restarts
and stops with the runs subtree; `POST /mcp` asks it for the handler on each request. It
serves stateless JSON responses: each POST is complete in itself, so a server restart
loses no session. See ADR 0031.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send

from lightflow_actors.kernel import Actor, Ask, handler
from lightflow_actors.runs import RunsPort

from ._server import build_mcp_server

__all__ = ["GetMcpHandler", "McpEndpoint", "McpHandler"]

McpHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class GetMcpHandler(Ask[McpHandler], frozen=True):
    """The ASGI handler of the running session manager."""


class McpEndpoint(Actor[GetMcpHandler]):
    """Owns the SDK's session manager (and its task group) for as long as it runs."""

    def __init__(self, hosting: RunsPort) -> None:
        self._hosting = hosting
        self._manager: StreamableHTTPSessionManager | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        manager = StreamableHTTPSessionManager(
            app=build_mcp_server(self._hosting), json_response=True, stateless=True
        )
        started = asyncio.Event()

        async def run() -> None:
            async with manager.run():
                started.set()
                await self._stop.wait()

        self._task = self.system.loop.create_task(run())
        waiter = asyncio.ensure_future(started.wait())
        await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():
            waiter.cancel()
            self._task.result()  # raises why the manager did not start
        self._manager = manager

    async def on_stop(self, reason: object) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 5.0)

    @handler
    def get_handler(self, msg: GetMcpHandler) -> McpHandler:
        assert self._manager is not None, "used before on_start"
        return self._manager.handle_request
