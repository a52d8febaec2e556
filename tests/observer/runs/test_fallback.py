"""The runs page over server-sent events and long-polling, as a browser whose WebSockets a
proxy blocks uses it (specs/live-wire.md §17), against a runs server process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lightflow_actors.live import HttpTransport, HttpTransportView

from ...runs._support import RunsEnv, ServerProcess

pytestmark = pytest.mark.anyio

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("transport", ["sse", "poll"])
async def test_the_runs_page_lists_runs_over_a_fallback(
    tmp_path: Path, transport: HttpTransport
) -> None:
    server = ServerProcess(RunsEnv(tmp_path))
    try:
        async with httpx.AsyncClient(timeout=30, headers=BROWSER, trust_env=False) as http:
            made = await http.post(
                f"{server.url}/runs",
                json={"workflow": "greet", "inputs": {"name": "Ada"}, "id": "over-http"},
                headers={"Accept": "application/json"},
            )
            assert made.status_code == 201, made.text
            view = await HttpTransportView.open(
                server.url,
                "runs",
                transport=transport,
                http=http,
                endpoint=f"{server.url}/runs/{transport}",
            )
            await view.until(lambda: "over-http" in view.html(), "the run in the list")
            assert view.client.errors == []
            await view.close()
            gone = await http.post(f"{server.url}/runs/{transport}", params={"conn": view.conn})
            assert gone.status_code == 410
    finally:
        assert server.stop() == 0
