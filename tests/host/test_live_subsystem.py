"""The live views' hub is a subsystem of the root: killed (or giving up), the root starts
it again after its backoff, `/ready` names it meanwhile, and a page then serves again."""

from __future__ import annotations

import httpx
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import ServeOptions, ServerPart, create_app
from lightflow_actors.host import live_examples
from lightflow_actors.supervision import subsystems

from .test_runs_subsystem import wait_for


@pytest.mark.anyio
async def test_a_killed_live_hub_comes_back_and_ready_says_so() -> None:
    system = ActorSystem()
    build = live_examples(ServeOptions())
    assert callable(build)
    part: ServerPart = build(system)
    # The socket is served in front of the routes (ADR 0108), at the mounted route's path.
    assert [path for path, _ in part.sockets] == ["/live/socket"]
    app = create_app(
        system, owns_system=True, routes=part.routes, links=part.links, on_startup=part.on_startup
    )
    await app.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.get("/live/counter")).status_code == 200
            hub = system.whereis("live")
            assert hub is not None
            assert [s.status for s in subsystems(system) if s.id == "live"] == ["running"]
            system.kill(hub)
            await system.wait_exit(hub)
            ready = await client.get("/ready")
            assert ready.status_code == 503 and "live" in ready.json()["down"], ready.text

            async def back() -> bool:
                return (await client.get("/ready")).status_code == 200

            await wait_for("the hub is back", back)
            again = system.whereis("live")
            assert again is not None and again.id != hub.id
            page = await client.get("/live/counter")
            assert page.status_code == 200 and "lf-click" in page.text
            (live,) = [s for s in subsystems(system) if s.id == "live"]
            assert live.restarts == 1
    finally:
        await app.stop()
        await system.shutdown()
