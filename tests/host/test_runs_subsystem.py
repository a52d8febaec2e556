"""The runs subtree is a subsystem of the root: when it gives up (more than 5 restarts in
30 s), the root restarts it after a backoff and `/runs` answers again by itself.

The runs host is crashed from outside with an exit signal carrying an exception (as a bug
in one of its handlers would), six times, each time after its supervisor restarted it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from lightflow_actors import ActorSystem, LifecycleEvent
from lightflow_actors.adapters.http import create_app
from lightflow_actors.host import DEFAULT_PREFIX, runs_part
from lightflow_actors.supervision import subsystems

from ..runs._support import RunsEnv


async def crash_host(system: ActorSystem, name: str) -> None:
    """Crash the runs host once and wait until it is gone."""
    ref = system.whereis(name)
    assert ref is not None
    system.exit(ref, RuntimeError("injected crash of the runs host"))
    await system.wait_exit(ref)


async def wait_for(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


@pytest.mark.anyio
async def test_runs_come_back_after_the_runs_subtree_gave_up(runs_env: RunsEnv) -> None:
    part = runs_part(runs_env.config, environ=runs_env.environ)
    app = create_app(routes=part.routes, links=part.links, on_startup=part.on_startup)
    await app.start()
    system = app.system
    events: list[LifecycleEvent] = []
    system.subscribe(events.append)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            assert (await client.get("/runs")).status_code == 200
            host_name = f"{DEFAULT_PREFIX}.host"
            for _ in range(6):  # intensity 5 in 30 s: the sixth crash makes it give up
                await wait_for("the host is up", _up(system, host_name))
                await crash_host(system, host_name)
            await wait_for("the runs subtree gave up", _gave_up(events))
            down = await client.get("/runs")
            if down.status_code == 503:  # still waiting for its backoff (0.5-0.6 s)
                assert "not running" in down.json()["error"]
                ready = await client.get("/ready")
                if ready.status_code == 503:
                    assert ready.json()["down"] == [DEFAULT_PREFIX]

            async def answers() -> bool:
                return (await client.get("/runs")).status_code == 200

            await wait_for("/runs answers again", answers)
            (runs,) = [s for s in subsystems(system) if s.id == DEFAULT_PREFIX]
            assert runs.status == "running" and runs.restarts == 1
            ready = await client.get("/ready")
            assert ready.status_code == 200 and ready.json()["down"] == [], ready.text
            kinds = [
                e.kind for e in events if e.name == DEFAULT_PREFIX or e.child == DEFAULT_PREFIX
            ]
            assert "escalated" in kinds and "restart_scheduled" in kinds
            assert kinds.index("escalated") < kinds.index("restart_scheduled")
            assert "restarted" in kinds[kinds.index("restart_scheduled") :], kinds
            created = await client.post(
                "/runs", json={"workflow": "fanout", "inputs": {"topic": "tea"}}
            )
            assert created.status_code == 201, created.text
    finally:
        await app.stop()
        await system.shutdown()


def _up(system: ActorSystem, name: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        ref = system.whereis(name)
        return ref is not None and system.info(ref).status != "starting"

    return check


def _gave_up(events: list[LifecycleEvent]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(e.kind == "escalated" and e.name == DEFAULT_PREFIX for e in events)

    return check
