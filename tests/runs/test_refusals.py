"""Refusals of the runs host at every edge: one typed refusal, mapped once.

A request the host declines raises a kernel `Refused` (a `FlowError`/`RunsError` with a
reason) in the asker and never crashes the host: the HTTP routes answer the reason's
status, MCP a tool error or the JSON-RPC error of the reason, and random sequences of
mutations with bad ids never get a 500.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from urllib.parse import quote

import mcp_types as types
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError
from starlette.testclient import TestClient

from lightflow_actors.adapters._refusals import HTTP_STATUS
from lightflow_actors.adapters.mcp import build_mcp_server
from lightflow_actors.adapters.mcp._server import JSONRPC_CODE
from lightflow_actors.kernel import ActorInfo, RefusalReason, Refused
from lightflow_actors.runs import HostNames, HostNotRunning, RefreshRun, RunsPort

from ..adapters.http.test_runs_routes import make_client
from ._support import RunsEnv

REASONS = typing.get_args(RefusalReason)


def test_every_reason_has_one_status_and_one_json_rpc_code() -> None:
    assert set(HTTP_STATUS) == set(REASONS) == set(JSONRPC_CODE)
    assert dict(HTTP_STATUS) == {
        "not_found": 404,
        "invalid": 400,
        "conflict": 409,
        "unavailable": 503,
        "forbidden": 403,
        "too_large": 413,
        "timeout": 504,
        "over_budget": 429,
    }
    for code in JSONRPC_CODE.values():
        assert code == types.INVALID_PARAMS or -32019 <= code <= -32000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> RunsEnv:
    return RunsEnv(tmp_path_factory.mktemp("refusals"))


@pytest.fixture(scope="module")
def client(env: RunsEnv) -> Iterator[TestClient]:
    with make_client(env) as c:
        yield c


def host_info(client: TestClient) -> ActorInfo:
    system = client.app.system  # type: ignore[attr-defined]
    ref = system.whereis("lightflow.runs.host")
    assert ref is not None
    info: ActorInfo = system.info(ref)
    return info


def test_a_refusal_of_the_host_is_its_reasons_status_and_the_host_keeps_running(
    client: TestClient,
) -> None:
    before = host_info(client)
    greet = {"workflow": "greet", "id": "r1", "inputs": {"name": "a"}}
    assert client.post("/runs", json=greet).status_code == 201
    answers = [
        (client.get("/runs/nope"), 404),  # a read: refused on the worker thread
        (client.post("/runs/nope/cancel"), 404),  # a change
        (client.post("/runs/nope/refresh"), 404),
        (client.post("/runs", json=greet), 409),
        (client.post("/runs", json={"workflow": "nope"}), 404),
        (client.post("/runs", json={"workflow": "greet", "inputs": {"name": 5}}), 400),
        (client.post("/runs/r1/steps/nope/submit"), 404),
    ]
    for response, status in answers:
        assert response.status_code == status, response.text
        assert set(response.json()) <= {"error", "field"}
        assert isinstance(response.json()["error"], str)
    after = host_info(client)
    assert (after.id, after.restarts) == (before.id, before.restarts)
    assert after.status != "exited"
    assert after.processed >= before.processed + len(answers)
    assert client.get("/runs/r1").status_code == 200  # and it still answers


ids = st.one_of(
    st.sampled_from(["q1", "q2", "q3"]),  # a few good ids, so sequences clash
    st.sampled_from(["..", ".", "a/b", "a\x00b", "x" * 300, "%2e%2e", " ", "é" * 120]),
    st.text(max_size=20),
)
workflows = st.sampled_from(["greet", "chain", "fanout", "nope", "mock", ""])
requests = st.one_of(
    st.tuples(st.just("create"), workflows, ids),
    st.tuples(st.just("cancel"), ids),
    st.tuples(st.just("submit"), ids, st.sampled_from(["hello", "plan", "nope", "..", ""])),
    st.tuples(st.just("refresh"), ids),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(requests, min_size=1, max_size=6))
def test_random_mutations_with_bad_ids_never_get_a_500(
    client: TestClient, sequence: list[tuple[str, ...]]
) -> None:
    for request in sequence:
        kind = request[0]
        if kind == "create":
            _, workflow, run_id = request
            inputs = {"name": "x"} if workflow == "greet" else {}
            body = {"workflow": workflow, "id": run_id, "inputs": inputs}
            response = client.post("/runs", json=body)
        elif kind == "submit":
            _, run_id, step = request
            path = f"/runs/{quote(run_id, safe='')}/steps/{quote(step, safe='')}/submit"
            response = client.post(path)
        else:
            _, run_id = request
            response = client.post(f"/runs/{quote(run_id, safe='')}/{kind}")
        assert response.status_code < 500, (request, response.text)
        if response.status_code >= 400:
            assert isinstance(response.json()["error"], str)
    assert host_info(client).restarts == 0


# -- MCP --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_mcp_maps_reasons_to_tool_errors_and_json_rpc_errors(runs_env: RunsEnv, host) -> None:
    async with host(mcp=False) as hosting, Client(build_mcp_server(hosting)) as client:
        await client.call_tool("create_run", {"workflow": "chain", "id": "m1"})
        await client.call_tool("cancel_run", {"run_id": "m1"})
        again = await client.call_tool("cancel_run", {"run_id": "m1"})
        assert again.is_error
        assert again.structured_content == {
            "error": again.structured_content["error"],  # type: ignore[index]
            "reason": "conflict",
            "status": 409,
        }
        missing = await client.call_tool("get_run", {"run_id": "never"})
        assert missing.is_error and missing.structured_content["reason"] == "not_found"  # type: ignore[index]
        bad = await client.call_tool("get_run", {"run_id": ".."})
        assert bad.is_error and bad.structured_content["reason"] == "invalid"  # type: ignore[index]

        with pytest.raises(MCPError) as unknown:
            await client.read_resource("lightflow://runs/never")
        assert unknown.value.error.code == JSONRPC_CODE["not_found"]
        assert unknown.value.error.data == {"reason": "not_found"}
        with pytest.raises(MCPError) as invalid:
            await client.read_resource("lightflow://runs/%2E%2E")
        assert invalid.value.error.code == JSONRPC_CODE["invalid"]
        assert invalid.value.error.data == {"reason": "invalid"}


@pytest.mark.anyio
async def test_a_host_that_is_not_running_is_unavailable(runs_env: RunsEnv) -> None:
    port = RunsPort(HostNames("lightflow.test-down"))  # never started
    with pytest.raises(HostNotRunning) as down:
        await port.call(RefreshRun("x"))
    assert isinstance(down.value, Refused) and down.value.reason == "unavailable"
    async with Client(build_mcp_server(port)) as client:
        answer = await client.call_tool("cancel_run", {"run_id": "x"})
        assert answer.is_error
        assert answer.structured_content["reason"] == "unavailable"  # type: ignore[index]
        assert answer.structured_content["status"] == 503  # type: ignore[index]
