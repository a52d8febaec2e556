"""`GET /health` (liveness) and `GET /ready` (readiness), on the ASGI transport.

A subsystem is started with `start_subsystem` (a supervisor whose one worker can be made
to fail its starts); crashing its worker with a failure budget makes it give up, so the
root restarts it after a backoff: `/ready` answers 503 naming it meanwhile, `/health` stays
200, and `/ready` is 200 again once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, cast

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorRef, ActorSystem, handler
from lightflow_actors.supervision import Backoff, ChildSpec, Supervisor, start_subsystem

from .conftest import Started

Operator = Callable[..., contextlib.AbstractAsyncContextManager[Started]]

# Long enough that the test sees the restarting state; short enough to wait for.
BACKOFF = Backoff(min_delay=0.2, max_delay=0.4, jitter=0.1)


class Crash(msgspec.Struct, frozen=True):
    pass


class Flaky(Actor[Crash]):
    def __init__(self, budget: list[int]) -> None:
        self.budget = budget

    def on_start(self) -> None:
        if self.budget[0] > 0:
            self.budget[0] -= 1
            raise RuntimeError("flaky start")

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("worker crash")


def flaky_hook(budget: list[int]) -> Callable[[ActorSystem], Any]:
    spec = ChildSpec(id="worker", start=lambda: Flaky(budget), name="flaky.worker")

    async def start(system: ActorSystem) -> None:
        await start_subsystem(
            system,
            "flaky",
            lambda: Supervisor([spec], intensity=1, period=30.0),
            backoff=BACKOFF,
        )

    return start


@pytest.mark.anyio
async def test_ready_goes_503_while_a_subsystem_restarts_and_back_to_200(
    operator: Operator,
) -> None:
    budget = [0]
    async with operator(on_startup=flaky_hook(budget)) as (app, client):
        system = app.system
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready" and body["down"] == []
        assert [(s["id"], s["status"]) for s in body["subsystems"]] == [("flaky", "running")]

        worker = cast(ActorRef[Crash], system.whereis("flaky.worker"))
        subsystem = system.get(body["subsystems"][0]["actor"])
        assert subsystem is not None
        budget[0] = 2  # the subsystem's own retry fails, then the root's first attempt
        worker.tell(Crash())
        await system.wait_exit(subsystem)
        for _ in range(100):  # the root handles the subsystem's exit signal next
            not_ready = await client.get("/ready")
            if not_ready.json()["subsystems"][0]["restart_at_ms"] is not None:
                break
            await asyncio.sleep(0)
        assert not_ready.status_code == 503, not_ready.text
        body = not_ready.json()
        assert body["status"] == "not_ready" and body["down"] == ["flaky"]
        (flaky,) = body["subsystems"]
        assert flaky["status"] == "restarting" and flaky["actor"] is None
        assert flaky["restart_at_ms"] >= system.clock.wall_ms()
        assert flaky["last_exit"] == "shutdown: 'reached_max_restart_intensity'"

        health = await client.get("/health")
        assert health.status_code == 200, "liveness does not depend on the subsystems"
        assert health.json()["status"] == "ok"

        # The operator's tree shows it as pending under the root, with the next attempt.
        page = (await client.get("/system/tree", params={"limit": 10_000})).json()
        (root,) = [n for n in page["nodes"] if n["actor_class"] == "RootSupervisor"]
        assert [(p["child_id"], p["status"]) for p in root["pending"]] == [("flaky", "restarting")]
        assert root["pending"][0]["restart_at_ms"] is not None

        for _ in range(500):
            ready = await client.get("/ready")
            if ready.status_code == 200:
                break
            assert ready.json()["down"] == ["flaky"]
            await asyncio.sleep(0.02)
        assert ready.status_code == 200, ready.text
        (flaky,) = ready.json()["subsystems"]
        assert flaky["status"] == "running" and flaky["restarts"] == 1
        assert flaky["restart_at_ms"] is None
        kinds = [e.kind for e in system.events(limit=0) if e.child == "flaky"]
        assert kinds == ["restart_scheduled", "restart_scheduled"]


@pytest.mark.anyio
async def test_health_answers_without_the_gateway(operator: Operator) -> None:
    async with operator() as (app, client):
        gateway = app.system.whereis(app.gateway_name)
        assert gateway is not None
        sup = app.system.whereis(app.supervisor_name)
        assert sup is not None
        await app.system.terminate(sup)
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json() == {
            "status": "ok",
            "system": app.system.name,
            "actors": app.system.actor_count(),
        }


@pytest.mark.anyio
async def test_ready_without_subsystems_is_ready(operator: Operator) -> None:
    async with operator() as (app, client):
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "system": app.system.name,
            "subsystems": [],
            "down": [],
        }


names = st.text(min_size=1, max_size=300)
values = st.text(max_size=2000) | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))


@pytest.mark.anyio
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/health", "/ready"]),
    params=st.lists(st.tuples(names, values), min_size=1, max_size=5),
)
async def test_health_and_ready_refuse_any_query(
    operator: Operator, path: str, params: list[tuple[str, str]]
) -> None:
    async with operator() as (_app, client):
        response = await client.get(path, params=params)
        assert response.status_code == 400, response.text
        assert "error" in response.json()


@pytest.mark.anyio
async def test_health_and_ready_refuse_invalid_utf8_and_nested_queries(operator: Operator) -> None:
    async with operator() as (_app, client):
        for raw in ("?%ff%fe=1", "?a[b][c][d]=1", "?" + "x=1&" * 500, "?%00=%00"):
            for path in ("/health", "/ready"):
                response = await client.get(path + raw)
                assert response.status_code == 400, (path, raw, response.text)


@pytest.mark.anyio
async def test_ready_is_503_naming_the_root_once_the_root_supervisor_exited(
    operator: Operator,
) -> None:
    async with operator() as (app, client):
        root = app.system.root
        assert root is not None
        exited = app.system.exit_future(root)
        app.system.kill(root)
        await asyncio.wait_for(exited, 10)
        # The root's children (the gateway among them) end after it: until the gateway is
        # back, /ready is the gateway's own 503 ("retry"), with an error body.
        for _ in range(200):
            ready = await client.get("/ready")
            if "status" in ready.json():
                break
            await asyncio.sleep(0.01)
        assert ready.status_code == 503, ready.text
        assert ready.json().get("status") == "not_ready", ready.text
        assert ready.json()["down"] == ["root"]
        assert (await client.get("/health")).status_code == 200  # liveness is not readiness
