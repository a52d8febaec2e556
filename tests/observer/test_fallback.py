"""The observer over server-sent events and long-polling, as a browser whose WebSockets a
proxy blocks uses it (specs/live-wire.md §17): `lightflow serve --demo` on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import httpx
import pytest

from lightflow_actors.live import HttpTransport, HttpTransportView

pytestmark = pytest.mark.anyio

DemoProcess = Callable[[str], contextlib.AbstractContextManager[str]]  # conftest.py


@pytest.mark.parametrize("transport", ["sse", "poll"])
async def test_the_observer_joins_and_updates_over_a_fallback(
    demo_process: DemoProcess, transport: HttpTransport
) -> None:
    with demo_process("fallback-token") as url:
        async with httpx.AsyncClient(timeout=30) as http:
            view = await HttpTransportView.open(
                url,
                "observer",
                transport=transport,
                http=http,
                endpoint=f"{url}/observer/{transport}",
            )
            assert "worker-1" in view.html() and "worker-3" in view.html()
            await view.push("filter", {"q": "worker-2"})  # an event answered over the fallback
            assert "worker-2" in view.html() and "worker-1" not in view.html()
            assert view.client.errors == []
            await view.close()
            # Closed, the connection is gone; another site cannot open one.
            gone = await http.get(f"{url}/observer/poll", params={"conn": view.conn})
            assert gone.status_code == 410
            assert gone.headers["content-type"].startswith("application/json")
            foreign = await http.post(f"{url}/observer/poll", headers={"Origin": "https://evil"})
            assert foreign.status_code == 403
