"""The MCP server in-process (the SDK's own client on its in-memory transport): tools
drive runs through the host; resources name assets and runs; errors are tool errors or
JSON-RPC errors with a message, never a crash."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from lightflow_actors.adapters.mcp import build_mcp_server

from ...runs._support import RunsEnv

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
