"""`POST /mcp`: the runs surface over MCP (the official `mcp` SDK, Streamable HTTP).

Tools list assets, preview/create/cancel/refresh/retry runs, submit steps (with an
explicit request body or not), read status, request, resolved workflow, events and
trace, show the `/ctx` ABI and the supervision tree; resources name assets and runs
(`lightflow://...`). Tool arguments are decoded once with msgspec (the input schemas are
msgspec's own), then every tool asks the runs host, as the HTTP routes do.

A refusal of the host is mapped here, once, by its reason: a tool answers with an error
result `{"error", "reason", "status"}` (the status of `adapters/_refusals.py`, as the HTTP
routes answer it); a resource read raises the JSON-RPC error of `JSONRPC_CODE`.

The SDK's session manager that serves this server over HTTP is owned by an actor
(`_mcp_endpoint.McpEndpoint`). See ADR 0031.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final, Generic, Protocol, TypeAlias, TypeVar
from urllib.parse import quote, unquote

import mcp_types as types
import msgspec
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from lightflow_actors.flow import FlowError
from lightflow_actors.isa import JSONValue
from lightflow_actors.kernel import ActorExited, ActorNotAlive, AskTimeout, RefusalReason, Refused
from lightflow_actors.runs import (
    CancelRun,
    CreateRun,
    RefreshRun,
    RetryRun,
    RunsError,
    RunsPort,
    SubmitStep,
)
from lightflow_actors.supervision import system_tree
from lightflow_actors.tenants import TenantId

from .._refusals import FAILURE_STATUS, HTTP_STATUS

__all__ = [
    "JSONRPC_CODE",
    "MCP_TOOLS",
    "McpTool",
    "ToolDef",
    "build_mcp_server",
    "refusal_result",
    "tool_schema",
]

Lifespan: TypeAlias = dict[str, object]
_encoder = msgspec.json.Encoder()
SCHEME = "lightflow://"

JSONRPC_CODE: Final[Mapping[RefusalReason, int]] = MappingProxyType(
    {
        # MCP answers an unknown resource, like bad arguments, with "invalid params".
        "not_found": types.INVALID_PARAMS,
        "invalid": types.INVALID_PARAMS,
        "too_large": types.INVALID_PARAMS,
        # The rest take codes of the implementation-defined band (-32000..-32019) the SDK
        # leaves free; the error's data names the reason either way.
        "conflict": -32010,
        "unavailable": -32011,
        "forbidden": -32012,
        "timeout": -32013,
        "over_budget": -32014,
    }
)
"""The JSON-RPC error code of a refused resource read, by its reason."""

_HOST_DOWN = (AskTimeout, ActorExited, ActorNotAlive)
"""The runs host did not answer: the surface says `unavailable`, as HTTP answers 503."""


# -- tool arguments (their JSON schema is what tools/list advertises) -------------------


class NoArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class AssetsArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str | None = None


class PreviewArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    workflow: str
    inputs: dict[str, JSONValue] = {}
    preset: str | None = None
    model: str | None = None


class CreateArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    workflow: str
    inputs: dict[str, JSONValue] = {}
    id: str | None = None
    preset: str | None = None
    model: str | None = None
    tenant: TenantId | None = None  # whose run it is (specs/tenants.md); else `default`


class RunArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    run_id: str


class CancelArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    run_id: str
    reason: str = "cancelled over MCP"


class SubmitArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    run_id: str
    step: str
    body: dict[str, JSONValue] | None = None  # the request to commit (else its rendered one)


A = TypeVar("A", bound=msgspec.Struct)


class McpTool(Protocol):
    """What the server needs of a tool: its name, description, argument type, and a call."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def args(self) -> type[msgspec.Struct]: ...

    async def call(self, hosting: RunsPort, arguments: Mapping[str, object]) -> object:
        """Decode `arguments` into `args` (msgspec.ValidationError names the field), run."""
        ...


class ToolDef(Generic[A]):
    """A tool whose arguments decode into the struct `A` and whose `run` gets them."""

    def __init__(
        self,
        name: str,
        description: str,
        args: type[A],
        run: Callable[[RunsPort, A], Awaitable[object]],
    ) -> None:
        self.name = name
        self.description = description
        self.args = args
        self._run = run

    async def call(self, hosting: RunsPort, arguments: Mapping[str, object]) -> object:
        return await self._run(hosting, msgspec.convert(arguments, self.args))


def _lines(data: bytes) -> list[object]:
    return [msgspec.json.decode(line) for line in data.splitlines() if line]


async def _list_assets(h: RunsPort, a: AssetsArgs) -> object:
    # {"assets": [...], "problems": [...]}: the files that could not be read are named
    return await h.read("assets", lambda ops: ops.assets(a.kind))


async def _preview(h: RunsPort, a: PreviewArgs) -> object:
    inputs = _encoder.encode(a.inputs)
    return await h.read("preview", lambda ops: ops.preview(a.workflow, inputs, a.preset, a.model))


async def _create(h: RunsPort, a: CreateArgs) -> object:
    return await h.call(
        CreateRun(
            a.workflow, _encoder.encode(a.inputs), a.id, a.preset, model=a.model, tenant=a.tenant
        )
    )


async def _list_runs(h: RunsPort, a: NoArgs) -> object:
    return {"runs": await h.read("list", lambda ops: ops.list_runs())}


async def _get(h: RunsPort, a: RunArgs) -> object:
    return await h.read("get", lambda ops: ops.get(a.run_id))


async def _status(h: RunsPort, a: RunArgs) -> object:
    return await h.read("status", lambda ops: ops.status(a.run_id))


async def _events(h: RunsPort, a: RunArgs) -> object:
    return {"events": _lines(await h.read("events", lambda ops: ops.events_ndjson(a.run_id)))}


async def _trace(h: RunsPort, a: RunArgs) -> object:
    return {"trace": _lines(await h.read("trace", lambda ops: ops.trace_ndjson(a.run_id)))}


async def _cancel(h: RunsPort, a: CancelArgs) -> object:
    return await h.call(CancelRun(a.run_id, a.reason))


async def _submit(h: RunsPort, a: SubmitArgs) -> object:
    return await h.call(SubmitStep(a.run_id, a.step, a.body))


async def _refresh(h: RunsPort, a: RunArgs) -> object:
    return await h.call(RefreshRun(a.run_id))


async def _retry(h: RunsPort, a: RunArgs) -> object:
    return await h.call(RetryRun(a.run_id))


async def _request(h: RunsPort, a: RunArgs) -> object:
    return await h.read("request", lambda ops: ops.request(a.run_id))


async def _workflow(h: RunsPort, a: RunArgs) -> object:
    return await h.read("workflow", lambda ops: ops.workflow(a.run_id))


async def _abi(h: RunsPort, a: NoArgs) -> object:
    return await h.read("abi", lambda ops: ops.abi())


async def _tree(h: RunsPort, a: NoArgs) -> object:
    return system_tree(h.system)


def _tool(
    name: str, description: str, args: type[A], run: Callable[[RunsPort, A], Awaitable[object]]
) -> McpTool:
    return ToolDef(name, description, args, run)


MCP_TOOLS: tuple[McpTool, ...] = (
    _tool(
        "list_assets",
        "Assets (never executed to list); kind: workflows, nodes, "
        "compositions, models, presets, policies, or all.",
        AssetsArgs,
        _list_assets,
    ),
    _tool("preview_run", "Resolve a workflow with inputs; writes nothing.", PreviewArgs, _preview),
    _tool(
        "create_run",
        "Create a run and start driving it; returns the planned run.",
        CreateArgs,
        _create,
    ),
    _tool("list_runs", "Every run, newest first.", NoArgs, _list_runs),
    _tool("get_run", "One run: status and every step.", RunArgs, _get),
    _tool("run_status", "The run status and each step's status.", RunArgs, _status),
    _tool("run_request", "What the run was created from (request.json).", RunArgs, _request),
    _tool(
        "run_workflow",
        "The run's resolved workflow (resolved_workflow.json): each step's request.",
        RunArgs,
        _workflow,
    ),
    _tool("run_events", "The run's events (events.jsonl).", RunArgs, _events),
    _tool("run_trace", "The run's CortexFS trace (trace.jsonl).", RunArgs, _trace),
    _tool("cancel_run", "Cancel a planned or running run.", CancelArgs, _cancel),
    _tool(
        "submit_step",
        "Submit a ready planned step now (skips its retry backoff); `body`, a JSON object, "
        "is committed as its request instead of the one its templates render.",
        SubmitArgs,
        _submit,
    ),
    _tool("refresh_run", "Re-plan a run; picks up a run nobody drives.", RunArgs, _refresh),
    _tool(
        "retry_run",
        "Retry a failed run from where it failed: failed and never-run steps run again, "
        "succeeded steps keep their outputs; the same run, attempts counting on.",
        RunArgs,
        _retry,
    ),
    _tool(
        "ctx_abi",
        "The CortexFS (/ctx) tree the runs use: mount point, uid, where requests and "
        "answers of api formats, tools, threads, channels, jobs and hooks live.",
        NoArgs,
        _abi,
    ),
    _tool("supervision_tree", "The actor system's supervision tree.", NoArgs, _tree),
)


def tool_schema(kind: type[msgspec.Struct]) -> dict[str, object]:
    """The JSON schema of a tool's arguments, with the object at the top (MCP wants it)."""
    # A `JSONValue` field (any JSON value) has the empty schema: anything goes.
    (ref,), components = msgspec.json.schema_components([kind], ref_template="#/$defs/{name}")
    name = str(ref["$ref"]).rsplit("/", 1)[1]
    schema = dict(components.pop(name))
    if components:
        schema["$defs"] = components
    return schema


# -- the server ---------------------------------------------------------------------------


def build_mcp_server(hosting: RunsPort) -> Server[Lifespan]:
    """The MCP server of one runs hosting (tools and resources)."""
    tools = {tool.name: tool for tool in MCP_TOOLS}
    listed = [
        types.Tool(name=t.name, description=t.description, input_schema=tool_schema(t.args))
        for t in MCP_TOOLS
    ]

    async def list_tools(
        ctx: ServerRequestContext[Lifespan], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        ctx: ServerRequestContext[Lifespan], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            return _tool_error(f"unknown tool {params.name!r}; tools/list names the tools")
        try:
            result = msgspec.to_builtins(await tool.call(hosting, params.arguments or {}))
        except msgspec.ValidationError as exc:
            return _tool_error(f"invalid arguments for {tool.name}: {exc}")
        except Refused as exc:
            return _tool_error(str(exc), exc.reason)
        except (FlowError, RunsError) as exc:
            return _tool_error(str(exc), None)
        except _HOST_DOWN as exc:
            return _tool_error(f"the runs host did not answer: {exc}; try again", "unavailable")
        structured = result if isinstance(result, dict) else {"result": result}
        text = _encoder.encode(result).decode()
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured
        )

    async def list_resources(
        ctx: ServerRequestContext[Lifespan], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resources = [
            _resource("assets", "Every asset"),
            _resource("runs", "Every run, newest first"),
            _resource("system/tree", "The supervision tree"),
        ]
        with contextlib.suppress(FlowError, RunsError):
            runs = await hosting.read("list", lambda ops: ops.list_runs())
            resources += [
                _resource(f"runs/{quote(r.run_id, safe='')}", f"Run {r.run_id} ({r.status})")
                for r in runs[:50]
            ]
        return types.ListResourcesResult(resources=resources)

    async def list_templates(
        ctx: ServerRequestContext[Lifespan], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                _template("assets/{kind}", "The assets of one kind"),
                _template("runs/{run_id}", "One run: status and steps"),
                _template("runs/{run_id}/events", "A run's events"),
                _template("runs/{run_id}/trace", "A run's trace"),
            ]
        )

    async def read_resource(
        ctx: ServerRequestContext[Lifespan], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            value = await _read(hosting, uri)
        except Refused as exc:
            raise MCPError(JSONRPC_CODE[exc.reason], str(exc), {"reason": exc.reason}) from None
        except (FlowError, RunsError) as exc:
            raise MCPError(types.INTERNAL_ERROR, str(exc)) from None
        except _HOST_DOWN as exc:
            message = f"the runs host did not answer: {exc}; try again"
            code = JSONRPC_CODE["unavailable"]
            raise MCPError(code, message, {"reason": "unavailable"}) from None
        text = _encoder.encode(value).decode()
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    return Server(
        "lightflow-runs",
        lifespan=_lifespan,
        version="0.1.0",
        instructions="Workflow runs of a lightflow server: list assets, preview and create "
        "runs, follow their status, events and trace.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def _read(hosting: RunsPort, uri: str) -> object:
    if not uri.startswith(SCHEME):
        raise MCPError(types.INVALID_PARAMS, f"unknown resource {uri[:200]!r}; use lightflow://")
    parts = [unquote(p) for p in uri[len(SCHEME) :].split("/")]
    if parts == ["assets"]:
        return await hosting.read("assets", lambda ops: ops.assets(None))
    if len(parts) == 2 and parts[0] == "assets":
        return await hosting.read("assets", lambda ops: ops.assets(parts[1]))
    if parts == ["runs"]:
        return await hosting.read("list", lambda ops: ops.list_runs())
    if parts == ["system", "tree"]:
        return system_tree(hosting.system)
    if len(parts) == 2 and parts[0] == "runs":
        return await hosting.read("get", lambda ops: ops.get(parts[1]))
    if len(parts) == 3 and parts[0] == "runs" and parts[2] in ("events", "trace"):
        run_id = parts[1]
        if parts[2] == "events":
            return _lines(await hosting.read("events", lambda ops: ops.events_ndjson(run_id)))
        return _lines(await hosting.read("trace", lambda ops: ops.trace_ndjson(run_id)))
    raise MCPError(types.INVALID_PARAMS, f"unknown resource {uri[:200]!r}; see resources/list")


@contextlib.asynccontextmanager
async def _lifespan(server: Server[Lifespan]) -> AsyncIterator[Lifespan]:
    """Nothing to set up per server: the runs host is already running."""
    yield {}


def _resource(path: str, title: str) -> types.Resource:
    return types.Resource(name=path, title=title, uri=SCHEME + path, mime_type="application/json")


def _template(path: str, title: str) -> types.ResourceTemplate:
    return types.ResourceTemplate(
        name=path, title=title, uri_template=SCHEME + path, mime_type="application/json"
    )


def refusal_result(refusal: Refused) -> dict[str, object]:
    """A tool call's refusal as the JSON of its `CallToolResult`, exactly as a tool that
    raised it answers through the SDK (the HTTP route refuses a `create_run` past its
    tenant's budget with it before the SDK reads the request, ADR 0119)."""
    result = _tool_error(str(refusal), refusal.reason)
    dumped: dict[str, object] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _tool_error(message: str, reason: RefusalReason | None = "invalid") -> types.CallToolResult:
    """A tool's error result: a refusal names its `reason`; `None` is a failure of ours."""
    structured: dict[str, object] = {"error": message}
    if reason is None:
        structured["status"] = FAILURE_STATUS
    else:
        structured.update(reason=reason, status=HTTP_STATUS[reason])
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)],
        structured_content=structured,
        is_error=True,
    )
