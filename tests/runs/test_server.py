"""End to end on a real server process on 127.0.0.1 (tests/runs/_serve_runs.py: the
operator app with the runs routes): a run created over HTTP executes its DAG against the
directory substrate with the Python-callable provider; the same through MCP, with the
official SDK's client over Streamable HTTP."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from random import Random

import httpx
import msgspec
from mcp import Client

from lightflow_actors.flow import AssetCatalog, FlowService, RunStore
from lightflow_actors.flow.streams import RuntimeStreamReader
from lightflow_actors.runs import Lease, run_lease_path

from ._support import ASSETS, RunsEnv, ServerProcess


def test_a_run_over_http_succeeds_with_its_events_and_trace(
    server_factory: Callable[..., ServerProcess], runs_env: RunsEnv
) -> None:
    server = server_factory()
    with server.client() as http:
        created = http.post(
            "/runs", json={"workflow": "chain", "inputs": {"seed": "go"}, "id": "e2e"}
        )
        assert created.status_code == 201, created.text
        reader = RuntimeStreamReader()
        frames = []
        with http.stream("GET", "/runtime/streams/e2e/events") as stream:
            for chunk in stream.iter_bytes():
                frames += reader.feed(chunk)
        reader.close()
        assert [f.sequence for f in frames] == list(range(1, 22))  # run.created, then 10 steps x 2
        assert frames[-1].status == "succeeded"
        status = http.get("/runs/e2e/status").json()
        assert status["status"] == "succeeded" and len(status["steps"]) == 10
        events = [msgspec.json.decode(x) for x in http.get("/runs/e2e/events").content.splitlines()]
        trace = [msgspec.json.decode(x) for x in http.get("/runs/e2e/trace").content.splitlines()]
    assert [e["event"] for e in events].count("step.succeeded") == 10
    assert len(trace) == 20
    last = msgspec.json.decode((runs_env.runs / "e2e" / "outputs" / "s10.json").read_bytes())
    assert last["text"].startswith("done: step 10 after: done: step 9 after:")
    assert last["text"].endswith("step 1 after: go")


async def _mcp_session(url: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    async with Client(f"{url}/mcp") as client:
        tools = await client.list_tools()
        seen["tools"] = sorted(t.name for t in tools.tools)
        created = await client.call_tool(
            "create_run", {"workflow": "greet", "inputs": {"name": "mcp"}, "id": "via-mcp"}
        )
        assert not created.is_error, created.content
        seen["created"] = created.structured_content
        for _ in range(200):
            status = await client.call_tool("run_status", {"run_id": "via-mcp"})
            assert status.structured_content is not None
            if status.structured_content["status"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        seen["status"] = status.structured_content
        events = await client.call_tool("run_events", {"run_id": "via-mcp"})
        seen["events"] = events.structured_content
        bad = await client.call_tool("create_run", {"workflow": "greet", "inputs": {"name": 1}})
        seen["bad"] = (bad.is_error, bad.structured_content)
        hostile = await client.call_tool("get_run", {"run_id": "../../etc"})
        seen["hostile"] = (hostile.is_error, hostile.structured_content)
        unknown = await client.call_tool("get_run", {"run": "x"})
        seen["unknown_arg"] = unknown.is_error
        tree = await client.call_tool("supervision_tree", {})
        seen["tree"] = tree.structured_content
        resources = await client.list_resources()
        seen["resources"] = [str(r.uri) for r in resources.resources]
        run = await client.read_resource("lightflow://runs/via-mcp")
        seen["resource"] = msgspec.json.decode(run.contents[0].text)  # type: ignore[union-attr]
        preview = await client.call_tool(
            "preview_run", {"workflow": "greet", "inputs": {"name": "p"}}
        )
        seen["preview_steps"] = len(preview.structured_content["steps"])  # type: ignore[index]
    return seen


def test_mcp_over_streamable_http_with_the_sdk_client(
    server_factory: Callable[..., ServerProcess], runs_env: RunsEnv
) -> None:
    server = server_factory()
    seen = asyncio.run(_mcp_session(server.url))
    assert seen["tools"] == sorted(
        [
            "cancel_run",
            "create_run",
            "ctx_abi",
            "get_run",
            "list_assets",
            "list_runs",
            "preview_run",
            "refresh_run",
            "retry_run",
            "run_events",
            "run_request",
            "run_status",
            "run_trace",
            "run_workflow",
            "submit_step",
            "supervision_tree",
        ]
    )
    assert seen["status"] == {
        "run_id": "via-mcp",
        "status": "succeeded",
        "steps": {"hello": "succeeded"},
    }
    events = seen["events"]
    assert isinstance(events, dict)
    assert [e["event"] for e in events["events"]] == [
        "run.created",
        "step.submitted",
        "step.succeeded",
    ]
    is_error, body = seen["bad"]  # type: ignore[misc]
    assert is_error and body["status"] == 400 and "$.name" in body["error"]
    is_error, body = seen["hostile"]  # type: ignore[misc]
    assert is_error and body["status"] == 400
    assert seen["unknown_arg"] is True
    tree = seen["tree"]
    assert isinstance(tree, dict) and tree["actors"] > 5
    names = {node["name"] for root in tree["roots"] for node in _walk(root)}
    assert {"lightflow.runs", "lightflow.runs.host", "lightflow.runs.active"} <= names
    assert "lightflow://runs/via-mcp" in seen["resources"]  # type: ignore[operator]
    assert seen["resource"]["status"] == "succeeded"  # type: ignore[index]
    assert seen["preview_steps"] == 1
    assert not (runs_env.runs / "../../etc").resolve().joinpath("manifest.json").exists()


def _walk(node: dict[str, object]) -> list[dict[str, object]]:
    out = [node]
    for child in node["children"]:  # type: ignore[attr-defined]
        out += _walk(child)
    return out


class _Clock:
    def wall_ms(self) -> int:
        return 1_800_000_000_000


def test_a_client_that_goes_away_ends_its_stream_actor(
    server_factory: Callable[..., ServerProcess], runs_env: RunsEnv
) -> None:
    server = server_factory()
    # Created behind the server's back, its lease held here: nobody drives it, so its
    # stream would never end by itself.
    lease = Lease.try_acquire(run_lease_path(runs_env.state, "never"))
    assert lease is not None
    service = FlowService(AssetCatalog.scan(ASSETS), RunStore(runs_env.state), _Clock(), Random(1))
    try:
        service.create("chain", b"{}", run_id="never")
    finally:
        service.evaluator.close()  # its fork server is a process: not left to the GC

    def tails(http: httpx.Client) -> int:
        nodes = http.get("/system/tree", params={"limit": 10_000}).json()["nodes"]
        return sum(1 for node in nodes if node["actor_class"] == "RunTail")

    with server.client() as http:
        made = http.post("/runs", json={"workflow": "greet", "inputs": {"name": "x"}, "id": "idle"})
        assert made.status_code == 201
        http.post("/runs/idle/cancel")  # settled: its stream ends by itself
        with http.stream("GET", "/runtime/streams/idle/events") as stream:
            assert b"".join(stream.iter_bytes())
        with http.stream("GET", "/runtime/streams/never/events.sse") as stream:
            lines = stream.iter_lines()  # held: dropping it would close the response
            assert next(lines) == "id: 1"
            assert tails(http) == 1  # following a run that does not settle
        deadline = time.monotonic() + 10
        while tails(http) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tails(http) == 0
        refused = http.post("/runs/never/refresh")
        assert refused.status_code == 409 and f"pid {os.getpid()}" in refused.json()["error"]
    lease.release()
