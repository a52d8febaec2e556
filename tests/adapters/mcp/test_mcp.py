"""The MCP server in-process (the SDK's own client on its in-memory transport): tools
drive runs through the host; resources name assets and runs; errors are tool errors or
JSON-RPC errors with a message, never a crash."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from lightflow_actors.adapters.mcp import build_mcp_server
from lightflow_actors.runs import AwaitSettled

from ...runs._support import RunsEnv, running_host

pytestmark = pytest.mark.anyio


async def test_tools_and_resources_in_process(runs_env: RunsEnv, host) -> None:
    async with host(mcp=False) as hosting, Client(build_mcp_server(hosting)) as client:
        listed = await client.list_tools()
        create = next(t for t in listed.tools if t.name == "create_run")
        assert create.input_schema["required"] == ["workflow"]

        made = await client.call_tool("create_run", {"workflow": "chain", "id": "m1"})
        assert not made.is_error and made.structured_content["run_id"] == "m1"  # type: ignore[index]
        cancelled = await client.call_tool("cancel_run", {"run_id": "m1", "reason": "mcp"})
        assert cancelled.structured_content["status"] == "cancelled"  # type: ignore[index]
        again = await client.call_tool("cancel_run", {"run_id": "m1"})
        assert again.is_error and again.structured_content["status"] == 409  # type: ignore[index]

        await client.call_tool(
            "create_run", {"workflow": "greet", "inputs": {"name": "x"}, "id": "m2"}
        )
        refreshed = await client.call_tool("refresh_run", {"run_id": "m2"})
        assert not refreshed.is_error
        submit = await client.call_tool("submit_step", {"run_id": "m2", "step": "nope"})
        assert submit.is_error and "nope" in submit.structured_content["error"]  # type: ignore[index]
        runs = await client.call_tool("list_runs", {})
        assert {r["run_id"] for r in runs.structured_content["runs"]} == {"m1", "m2"}  # type: ignore[index]
        assets = await client.call_tool("list_assets", {"kind": "models"})
        assert [a["id"] for a in assets.structured_content["assets"]] == ["mock"]  # type: ignore[index]
        unknown = await client.call_tool("launch_rockets", {})
        assert unknown.is_error
        trace = await client.call_tool("run_trace", {"run_id": "m1"})
        assert "trace" in trace.structured_content  # type: ignore[operator]

        templates = await client.list_resource_templates()
        assert "lightflow://runs/{run_id}/events" in {
            t.uri_template for t in templates.resource_templates
        }
        workflows = await client.read_resource("lightflow://assets/workflows")
        assert '"greet"' in workflows.contents[0].text  # type: ignore[union-attr]
        events = await client.read_resource("lightflow://runs/m1/events")
        assert "run.cancelled" in events.contents[0].text  # type: ignore[union-attr]
        tree = await client.read_resource("lightflow://system/tree")
        assert "lightflow.runs.host" in tree.contents[0].text  # type: ignore[union-attr]
        for uri in (
            "lightflow://runs/none",
            "lightflow://nowhere",
            "file:///etc/passwd",
            "lightflow://runs/%2E%2E",
        ):
            with pytest.raises(MCPError):
                await client.read_resource(uri)


async def test_retry_request_workflow_and_abi_tools(tmp_path: Path, gate: Path) -> None:
    (tmp_path / "gated").mkdir()
    env = RunsEnv(tmp_path / "gated", provider="gated_chat")
    async with running_host(env, mcp=False) as hosting, Client(build_mcp_server(hosting)) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"retry_run", "run_request", "run_workflow", "ctx_abi"} <= names

        await c.call_tool("create_run", {"workflow": "chain", "id": "r1"})
        failed = await hosting.call(AwaitSettled("r1"))
        assert failed.status == "failed"
        await anyio.Path(gate).unlink()
        retried = await c.call_tool("retry_run", {"run_id": "r1"})
        assert not retried.is_error, retried.structured_content
        assert retried.structured_content["status"] in ("running", "succeeded")  # type: ignore[index]
        assert (await hosting.call(AwaitSettled("r1"))).status == "succeeded"
        again = await c.call_tool("retry_run", {"run_id": "r1"})
        assert again.is_error
        assert again.structured_content["reason"] == "conflict"  # type: ignore[index]
        assert again.structured_content["status"] == 409  # type: ignore[index]
        assert "nothing to retry" in again.structured_content["error"]  # type: ignore[index]

        request = await c.call_tool("run_request", {"run_id": "r1"})
        assert request.structured_content["workflow"] == "chain"  # type: ignore[index]
        assert request.structured_content["inputs"] == {"seed": "start"}  # type: ignore[index]
        workflow = await c.call_tool("run_workflow", {"run_id": "r1"})
        assert [s["id"] for s in workflow.structured_content["steps"]][:2] == ["s1", "s2"]  # type: ignore[index]
        abi = await c.call_tool("ctx_abi", {})
        assert abi.structured_content["mount"] == str(env.state / "ctx")  # type: ignore[index]

        await c.call_tool("create_run", {"workflow": "greet", "inputs": {"name": "x"}, "id": "g1"})
        await hosting.call(AwaitSettled("g1"))
        for name, arguments, reason in (
            ("retry_run", {"run_id": "none"}, "not_found"),
            ("retry_run", {"run_id": "../x"}, "invalid"),
            ("run_request", {"run_id": "none"}, "not_found"),
            ("run_workflow", {"run_id": ".."}, "invalid"),
            ("submit_step", {"run_id": "g1", "step": "hello", "body": {"a": 1}}, "conflict"),
        ):
            result = await c.call_tool(name, arguments)
            assert result.is_error, (name, arguments)
            assert result.structured_content["reason"] == reason, result.structured_content  # type: ignore[index]
        for name, arguments in (
            ("retry_run", {}),
            ("retry_run", {"run_id": 7}),
            ("retry_run", {"run_id": "r1", "extra": True}),
            ("ctx_abi", {"x": 1}),
            ("submit_step", {"run_id": "g1", "step": "hello", "body": [1, 2]}),
            ("submit_step", {"run_id": "g1", "step": "hello", "body": "text"}),
        ):
            result = await c.call_tool(name, arguments)
            assert result.is_error and "invalid arguments" in result.content[0].text  # type: ignore[union-attr]


async def test_create_run_takes_a_tenant_and_refuses_a_bad_one(runs_env: RunsEnv, host) -> None:
    async with host(mcp=False) as hosting, Client(build_mcp_server(hosting)) as client:
        listed = await client.list_tools()
        create = next(t for t in listed.tools if t.name == "create_run")
        assert "tenant" in create.input_schema["properties"]
        made = await client.call_tool(
            "create_run",
            {"workflow": "greet", "inputs": {"name": "x"}, "id": "t1", "tenant": "acme"},
        )
        assert not made.is_error and made.structured_content["tenant"] == "acme"  # type: ignore[index]
        view = await hosting.call(AwaitSettled("t1"))
        assert view.tenant == "acme"
        bad = await client.call_tool("create_run", {"workflow": "greet", "tenant": "../x"})
        assert bad.is_error and "tenant" in str(bad.content), bad
        runs = await client.call_tool("list_runs", {})
        assert [r["run_id"] for r in runs.structured_content["runs"]] == ["t1"]  # type: ignore[index]
