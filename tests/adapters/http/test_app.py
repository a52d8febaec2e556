"""The operator API through its ASGI app: answers, errors, actions, and system ownership."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, handler
from lightflow_actors.adapters.http import GATEWAY_NAME
from lightflow_actors.supervision import ChildSpec, Supervisor

from ._actors import Tree, Work, Worker, start_tree

AUTH = {"Authorization": "Bearer test-token"}
Operator = Callable[..., Any]


def tree_hook(box: dict[str, Tree]) -> Callable[[ActorSystem], Any]:
    async def hook(system: ActorSystem) -> None:
        box["tree"] = await start_tree(system)

    return hook


async def nodes_by_id(client: Any) -> dict[int, dict[str, Any]]:
    page = (await client.get("/system/tree", params={"limit": 10_000})).json()
    return {n["id"]: n for n in page["nodes"]}


@pytest.mark.anyio
async def test_health_summary_and_tree(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (app, client):
        t = box["tree"]
        health = (await client.get("/health")).json()
        assert health == {"status": "ok", "system": "lightflow", "actors": app.system.actor_count()}

        nodes = await nodes_by_id(client)
        top, a, dyn = nodes[t.top], nodes[t.a], nodes[t.dyn]
        # Top-level actors hang under the system's root supervisor when it has one.
        root = app.system.root.id if getattr(app.system, "root", None) else None
        base = 0 if root is None else 1
        assert (top["kind"], top["strategy"], top["depth"], top["parent"]) == (
            "supervisor",
            "one_for_one",
            base,
            root,
        )
        assert top["children"] == [t.a, t.b, t.temp, t.dyn]
        assert (a["child_id"], a["restart"], a["parent"], a["depth"]) == (
            "a",
            "permanent",
            t.top,
            base + 1,
        )
        assert nodes[t.temp]["restart"] == "temporary"
        assert dyn["kind"] == "supervisor" and nodes[t.dyn_child]["depth"] == base + 2
        assert nodes[t.loner]["child_id"] is None and nodes[t.loner]["name"] == "loner"
        gateway = next(n for n in nodes.values() if n["actor_class"] == "Gateway")
        assert nodes[gateway["parent"]]["kind"] == "supervisor"  # the gateway is supervised

        summary = (await client.get("/system")).json()
        assert summary["actors"] == len(nodes)
        # top, dyn, the gateway's own (and the root, if any)
        assert summary["supervisors"] == 3 + base
        assert summary["uptime_s"] >= 0 and summary["window_s"] == 10.0
        assert summary["last_event_id"] >= len(nodes)
        assert summary["memory_rss_bytes"] is None or summary["memory_rss_bytes"] > 0


@pytest.mark.anyio
async def test_messages_total_and_rate_follow_the_work(operator: Operator) -> None:
    async with operator() as (app, client):
        worker = app.system.spawn(Worker)
        before = (await client.get("/system")).json()["messages_total"]
        for _ in range(500):
            worker.tell(Work())
        await asyncio.sleep(0.05)
        after = (await client.get("/system")).json()
        assert after["messages_total"] >= before + 500
        assert after["messages_per_s"] > 0


@pytest.mark.anyio
async def test_tree_filters_and_paging(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (_, client):
        t = box["tree"]
        sub = (await client.get("/system/tree", params={"root": t.dyn})).json()
        assert [n["id"] for n in sub["nodes"]] == [t.dyn, t.dyn_child]
        assert sub["root"] == t.dyn and sub["total"] == 2

        idle = (await client.get("/system/tree", params={"status": "idle"})).json()
        assert idle["nodes"] and all(n["status"] == "idle" for n in idle["nodes"])

        everything = await nodes_by_id(client)
        seen: list[int] = []
        cursor = 0
        while True:
            page = (await client.get("/system/tree", params={"limit": 2, "cursor": cursor})).json()
            seen += [n["id"] for n in page["nodes"]]
            if page["next_cursor"] is None:
                break
            cursor = page["next_cursor"]
        assert seen == sorted(everything)

        missing = await client.get("/system/tree", params={"root": 99_999})
        assert missing.status_code == 404 and missing.json()["field"] == "root"


@pytest.mark.anyio
async def test_one_actor_with_links_monitors_children_and_events(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (app, client):
        t = box["tree"]
        loner = app.system.get(t.loner)
        a = app.system.get(t.a)
        assert loner is not None and a is not None
        app.system.monitor(loner, a)
        detail = (await client.get(f"/actors/{t.a}")).json()
        assert detail["supervisor"] == t.top and detail["child_id"] == "a"
        assert detail["links"] == [t.top] and detail["monitored_by"] == [t.loner]
        assert detail["kind"] == "Worker" and detail["status"] in ("idle", "busy")
        assert [e["kind"] for e in detail["events"]][:1] == ["spawned"]
        assert all(e["actor"] == t.a for e in detail["events"])

        top = (await client.get(f"/actors/{t.top}", params={"events": 0})).json()
        assert top["children"] == [t.a, t.b, t.temp, t.dyn] and top["events"] == []
        assert top["supervisor"] is None and top["trap_exit"] is True

        loner_detail = (await client.get(f"/actors/{t.loner}")).json()
        assert loner_detail["monitors"] == [t.a] and loner_detail["supervisor"] is None


@pytest.mark.anyio
async def test_errors_are_json_with_status_and_field(operator: Operator) -> None:
    async with operator(token="test-token") as (app, client):
        cases = [
            (await client.get("/actors/0"), 400, "id"),
            (await client.get("/actors/abc"), 400, "id"),
            (await client.get("/actors/-5"), 400, "id"),
            (await client.get("/actors/99999"), 404, None),
            (await client.get("/actors/1", params={"events": "x"}), 400, "events"),
            (await client.get("/system/tree", params={"depth": "1"}), 400, "depth"),
            (await client.get("/system/tree?limit=1&limit=2"), 400, "limit"),
            (await client.get("/health", params={"verbose": "1"}), 400, "verbose"),
            (await client.get("/no/such/route"), 404, None),
            (await client.get("/actors/1/kill"), 405, None),
            (await client.delete("/actors/1"), 405, None),
            (await client.post("/actors/1/kill"), 401, "Authorization"),
            (
                await client.post("/actors/1/kill", headers={"Authorization": "Bearer x"}),
                403,
                "Authorization",
            ),
            (await client.post("/actors/abc/kill", headers=AUTH), 400, "id"),
            (await client.post("/actors/99999/kill", headers=AUTH), 404, None),
            (await client.post("/actors/1/stop", headers=AUTH, content=b"{"), 400, "body"),
            (
                await client.post("/actors/1/stop", headers=AUTH, json={"timeout": -1}),
                400,
                "body.timeout",
            ),
            (
                await client.post("/actors/1/stop", headers=AUTH, json={"reason": "x"}),
                400,
                "body.reason",
            ),
            (
                await client.post("/actors/1/kill", headers=AUTH, json={"now": True}),
                400,
                "body.now",
            ),
            (await client.post("/actors/1/stop", headers=AUTH, content=b" " * 70_000), 413, "body"),
        ]
        for response, status, field in cases:
            assert response.status_code == status, (response.request.url, response.text)
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            assert isinstance(body["error"], str) and body["error"]
            assert body.get("field") == field, body
        unauthorized = await client.post("/actors/1/kill")
        assert unauthorized.headers["www-authenticate"] == "Bearer"
        assert (await client.get("/actors/1/kill")).headers["allow"] == "POST"
        worker = app.system.spawn(Worker)
        await worker.stop()
        gone = (await client.get(f"/actors/{worker.id}")).json()["error"]
        assert f"actor {worker.id} has exited (normal)" in gone


@pytest.mark.anyio
async def test_mutations_and_stream_refuse_foreign_origins(operator: Operator) -> None:
    async with operator(token="test-token") as (app, client):
        worker = app.system.spawn(Worker)
        evil = {**AUTH, "Origin": "http://evil.example"}
        for response in (
            await client.post(f"/actors/{worker.id}/kill", headers=evil),
            await client.get("/system/events", headers=evil),
        ):
            assert response.status_code == 403 and response.json()["field"] == "Origin"
        assert worker.alive
        # Reads are not guarded; same-origin mutations pass.
        assert (
            await client.get("/health", headers={"Origin": "http://evil.example"})
        ).status_code == 200
        same = {**AUTH, "Origin": "http://testserver"}
        killed = await client.post(f"/actors/{worker.id}/kill", headers=same)
        assert killed.status_code == 200 and not worker.alive


@pytest.mark.anyio
async def test_kill_a_supervised_child_and_see_it_restarted(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (_, client):
        t = box["tree"]
        result = (await client.post(f"/actors/{t.a}/kill")).json()
        assert result == {"id": t.a, "action": "kill", "exit_reason": "killed", "new_id": None}
        for _ in range(100):
            top = (await client.get(f"/actors/{t.top}")).json()
            if len(top["children"]) == 4 and t.a not in top["children"]:
                break
            await asyncio.sleep(0.01)
        nodes = await nodes_by_id(client)
        (node,) = [n for n in nodes.values() if n["child_id"] == "a"]
        new_a = node["id"]
        assert new_a != t.a and new_a in top["children"]
        assert (node["parent"], node["restarts"]) == (t.top, 1)
        kinds = [e["kind"] for e in (await client.get(f"/actors/{new_a}")).json()["events"]]
        assert "restarted" in kinds


@pytest.mark.anyio
async def test_restart_through_the_supervisor(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (_, client):
        t = box["tree"]
        Worker.stops.clear()
        response = await client.post(f"/actors/{t.b}/restart")
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["id"], result["action"], result["exit_reason"]) == (
            t.b,
            "restart",
            "shutdown",
        )
        assert Worker.stops == ["shutdown"]  # stopped gracefully, on_stop ran
        new_b = result["new_id"]
        node = (await nodes_by_id(client))[new_b]
        assert (node["child_id"], node["parent"], node["restarts"]) == ("b", t.top, 1)
        assert (await client.get(f"/actors/{t.b}")).status_code == 404


@pytest.mark.anyio
async def test_restart_refusals_are_409_and_change_nothing(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (app, client):
        t = box["tree"]
        for actor, phrase in (
            (t.loner, "nothing can restart it"),
            (t.top, "nothing can restart it"),
            (t.temp, "temporary"),
            (t.dyn_child, "DynamicSupervisor"),
        ):
            response = await client.post(f"/actors/{actor}/restart")
            assert response.status_code == 409, response.text
            assert phrase in response.json()["error"]
            ref = app.system.get(actor)
            assert ref is not None and ref.alive


@pytest.mark.anyio
@pytest.mark.parametrize("action", ["stop", "restart", "kill"])
async def test_every_action_on_the_root_supervisor_is_409_and_changes_nothing(
    operator: Operator, action: str
) -> None:
    async with operator() as (app, client):
        root = app.system.root
        assert root is not None
        response = await client.post(f"/actors/{root.id}/{action}")
        assert response.status_code == 409, response.text
        assert "root supervisor" in response.json()["error"]
        assert "SIGTERM" in response.json()["error"]
        await asyncio.sleep(0.05)
        assert root.alive
        assert (await client.get("/ready")).status_code == 200


@pytest.mark.anyio
async def test_stop_supervised_and_unsupervised(operator: Operator) -> None:
    box: dict[str, Tree] = {}
    async with operator(on_startup=tree_hook(box)) as (app, client):
        t = box["tree"]
        stopped = (await client.post(f"/actors/{t.b}/stop")).json()
        assert stopped == {"id": t.b, "action": "stop", "exit_reason": "shutdown", "new_id": None}
        await asyncio.sleep(0.05)
        top = (await client.get(f"/actors/{t.top}")).json()
        assert top["children"] == [t.a, t.temp, t.dyn]  # terminate_child: not restarted

        loner = await client.post(f"/actors/{t.loner}/stop", json={"timeout": 2})
        assert loner.json()["exit_reason"] == "shutdown"
        assert app.system.get(t.loner) is None

        dyn = (await client.post(f"/actors/{t.dyn_child}/stop")).json()
        assert dyn["exit_reason"] == "shutdown"
        assert (await client.get(f"/actors/{t.dyn}")).json()["children"] == []


@pytest.mark.anyio
async def test_a_killed_gateway_is_restarted_and_serves_again(operator: Operator) -> None:
    async with operator() as (app, client):
        gateway = app.system.whereis(GATEWAY_NAME)
        assert gateway is not None
        result = (await client.post(f"/actors/{gateway.id}/kill")).json()
        assert result["exit_reason"] == "killed"
        for _ in range(100):  # /system asks the gateway (/health does not)
            if (await client.get("/system")).status_code == 200:
                break
            await asyncio.sleep(0.01)
        again = app.system.whereis(GATEWAY_NAME)
        assert again is not None and again.id != gateway.id
        assert app.system.info(again).restarts == 1


@pytest.mark.anyio
async def test_shared_system_is_not_owned(operator: Operator) -> None:
    async with ActorSystem(name="host") as system:
        worker = system.spawn(Worker, name="host-worker")
        async with operator(system) as (app, client):
            assert not app.owns_system
            assert (await client.get("/health")).json()["system"] == "host"
        # The app stopped its gateway tree, not the host's system or actors.
        assert system.running and worker.alive
        assert system.whereis(GATEWAY_NAME) is None
        assert [a.kind for a in system.actors() if a.kind != "RootSupervisor"] == ["Worker"]


@pytest.mark.anyio
async def test_owned_system_is_shut_down_with_the_app(operator: Operator) -> None:
    async with operator() as (app, _):
        system = app.system
        assert app.owns_system and system.running
    assert not system.running and system.actor_count() == 0


@pytest.mark.anyio
async def test_pages_link_only_to_what_exists(operator: Operator) -> None:
    async with operator() as (_, client):
        root = await client.get("/")
        assert root.status_code == 200 and "text/html" in root.headers["content-type"]
        hrefs = [part.split('"', 1)[0] for part in root.text.split('href="')[1:]]
        hrefs = [h for h in hrefs if not h.startswith("data:")]  # the empty favicon
        assert "/observer" in hrefs and "/openapi.yaml" in hrefs
        for href in hrefs:
            assert (await client.get(href)).status_code == 200, href
        observer = (await client.get("/observer")).text
        assert 'src="/observer/static/lightflow-live.js"' in observer and "{{" not in observer
        spec = await client.get("/openapi.yaml")
        assert spec.headers["content-type"].startswith("application/yaml")
        assert spec.text.startswith("openapi: 3.1.0")


class Explode(msgspec.Struct, frozen=True):
    pass


class Exploding(Actor[Explode]):
    @handler
    def explode(self, msg: Explode) -> None:
        raise ZeroDivisionError("the division went wrong")


@pytest.mark.anyio
async def test_a_restarted_child_carries_its_last_crash_in_the_tree(operator: Operator) -> None:
    async with operator() as (app, client):
        system = app.system
        spec = ChildSpec(id="x", start=Exploding, name="exploding")
        sup = await system.start_actor(lambda: Supervisor([spec], intensity=5))
        first = system.whereis("exploding")
        assert first is not None
        node = (await nodes_by_id(client))[first.id]
        assert node["crash"] is None and node["last_crash"] is None
        cast(ActorRef[Explode], first).tell(Explode())
        await system.wait_exit(first)
        for _ in range(100):
            again = system.whereis("exploding")
            if again is not None and again.id != first.id:
                break
            await asyncio.sleep(0.01)
        assert again is not None
        node = (await nodes_by_id(client))[again.id]
        assert node["restarts"] == 1 and node["last_crash"] is None
        crash = node["crash"]
        assert crash["reason"] == "ZeroDivisionError: the division went wrong"
        assert crash["traceback"].startswith("Traceback (most recent call last):")
        assert 'raise ZeroDivisionError("the division went wrong")' in crash["traceback"]
        assert crash["restarts"] == 0 and crash["at_ms"] > 0
        await system.terminate(sup, "shutdown", None)
