"""Fixtures for the HTTP tests: the app on an ASGI transport, and a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import (
    OperatorApp,
    ServeOptions,
    ServerPart,
    create_app,
    serve,
)
from lightflow_actors.adapters.http._server import Serving, Stopped
from lightflow_actors.observer import observer_page

from ...serve_process import lightflow_serve

TOKEN = "test-token"
Started = tuple[OperatorApp, httpx.AsyncClient]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextlib.asynccontextmanager
async def _operator(
    system: ActorSystem | None = None, **kwargs: Any
) -> AsyncIterator[tuple[OperatorApp, httpx.AsyncClient]]:
    kwargs.setdefault("pages", [observer_page()])
    app = create_app(system, **kwargs)
    await app.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client
    finally:
        await app.stop()


@pytest.fixture
def operator() -> Callable[..., contextlib.AbstractAsyncContextManager[Started]]:
    """``async with operator(token=..., on_startup=...) as (app, client):`` an app, started."""
    return _operator


class LiveServer:
    def __init__(self, serving: Serving, stop: asyncio.Event, task: asyncio.Task[Stopped]) -> None:
        self.serving = serving
        self.url = serving.url.rstrip("/")
        self._stop = stop
        self._task = task

    async def stop(self) -> Stopped:
        self._stop.set()
        return await asyncio.wait_for(self._task, 30)


@contextlib.asynccontextmanager
async def _live_server(
    parts: Sequence[ServerPart] = (), **options: Any
) -> AsyncIterator[LiveServer]:
    ready: asyncio.Future[Serving] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            ServeOptions(host="127.0.0.1", port=0, **options),
            parts=parts,
            ready=lambda s: ready.done() or ready.set_result(s),
            shutdown=stop,
        )
    )
    done, _ = await asyncio.wait([ready, task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    server = LiveServer(ready.result(), stop, task)
    try:
        yield server
    finally:
        if not task.done():
            await server.stop()


@pytest.fixture
def live_server() -> Callable[..., contextlib.AbstractAsyncContextManager[LiveServer]]:
    """``async with live_server(demo=True, token=...) as server:`` Hypercorn on 127.0.0.1."""
    return _live_server


@contextlib.contextmanager
def _demo_process(token: str) -> Iterator[str]:
    """`lightflow serve --demo --token` as a real process on a free port; yields its URL and
    checks it stops gracefully (SIGTERM, exit 0)."""
    with lightflow_serve("--demo", "--port", "0", "--token", token, check_exit=True) as url:
        yield url


@pytest.fixture(scope="session")
def demo_process() -> Callable[[str], contextlib.AbstractContextManager[str]]:
    """Start ``lightflow serve --demo`` with a token: ``with demo_process(TOKEN) as url:``."""
    return _demo_process


# The runs routes' tests (test_runs_*.py) run against a runs host: the runs tests' fixtures.
from ...runs.conftest import host, runs_env, server_factory  # noqa: E402

__all__ = ["demo_process", "host", "live_server", "operator", "runs_env", "server_factory"]
