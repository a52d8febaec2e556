"""Workflow runs, hosted: the run actors' supervision, the embedded `/ctx` substrate, and
every surface (HTTP routes, MCP endpoint, live streams) the CLI and servers expose.

::

    from lightflow_actors.adapters.http import create_app, run_server
    from lightflow_actors.adapters.runs import RUNS_LINKS, RunsHosting, runs_part, runs_routes

    run_server(options, announce, [runs_part(token=options.token)])   # lightflow serve
    # or by hand:
    hosting = RunsHosting()             # $LIGHTFLOW_RUNS_CONFIG, or the embedded defaults
    app = create_app(routes=runs_routes(hosting), links=RUNS_LINKS, on_startup=hosting.start)

See specs/runs-http.md (configuration, routes, streams, MCP) and ADRs 0030-0034.
"""

from ._catalog import CatalogCache
from ._config import (
    CONFIG_ENV,
    BuiltinToolsProvider,
    CtxConfig,
    EchoProvider,
    OpenAIProvider,
    ProviderConfig,
    PythonProvider,
    RunsConfig,
    RunsSettings,
    SubprocessProvider,
    config_path,
    decode_runs_config,
    load_runs_config,
)
from ._errors import (
    HostNotRunning,
    InvalidRequest,
    PayloadTooLarge,
    RunHostedElsewhere,
    RunsConfigError,
    RunsError,
)
from ._frames import (
    FRAMES_MEDIA_TYPE,
    RunStreamInfo,
    StreamsInfo,
    event_frame,
    run_stream_info,
    snapshot_frame,
    streams_info,
)
from ._host import HostedRun, HostNames, RunsHost, RunStartFailed
from ._hosting import DEFAULT_PREFIX, EmbeddedSubstrate, RunsHosting
from ._leases import Lease, run_lease_path, tree_lease_path
from ._local import (
    create_and_settle,
    hosted,
    local_operations,
    refresh_and_settle,
    run_hosted,
    submit_and_settle,
)
from ._mcp import MCP_TOOLS, McpTool, ToolDef, build_mcp_server
from ._mcp_endpoint import GetMcpHandler, McpEndpoint, McpHandler
from ._messages import (
    AwaitSettled,
    CancelRun,
    CloseTail,
    CreateRun,
    HostMessage,
    OpenStream,
    Read,
    RefreshRun,
    RunEnded,
    StreamHandle,
    SubmitStep,
)
from ._operations import RunsOperations
from ._part import runs_part
from ._providers import build_providers, echo_reply, load_callable
from ._routes import RUNS_LINKS, McpRoute, RunsRoutes, runs_routes
from ._tail import RunTail
from ._tools import BUILTIN_TOOLS, WordCount, WordCountInput, word_count

__all__ = [
    "BUILTIN_TOOLS",
    "CONFIG_ENV",
    "DEFAULT_PREFIX",
    "FRAMES_MEDIA_TYPE",
    "MCP_TOOLS",
    "RUNS_LINKS",
    "AwaitSettled",
    "BuiltinToolsProvider",
    "CancelRun",
    "CatalogCache",
    "CloseTail",
    "CreateRun",
    "CtxConfig",
    "EchoProvider",
    "EmbeddedSubstrate",
    "GetMcpHandler",
    "HostMessage",
    "HostNames",
    "HostNotRunning",
    "HostedRun",
    "InvalidRequest",
    "Lease",
    "McpEndpoint",
    "McpHandler",
    "McpRoute",
    "McpTool",
    "OpenAIProvider",
    "OpenStream",
    "PayloadTooLarge",
    "ProviderConfig",
    "PythonProvider",
    "Read",
    "RefreshRun",
    "RunEnded",
    "RunHostedElsewhere",
    "RunStartFailed",
    "RunStreamInfo",
    "RunTail",
    "RunsConfig",
    "RunsConfigError",
    "RunsError",
    "RunsHost",
    "RunsHosting",
    "RunsOperations",
    "RunsRoutes",
    "RunsSettings",
    "StreamHandle",
    "StreamsInfo",
    "SubmitStep",
    "SubprocessProvider",
    "ToolDef",
    "WordCount",
    "WordCountInput",
    "build_mcp_server",
    "build_providers",
    "config_path",
    "create_and_settle",
    "decode_runs_config",
    "echo_reply",
    "event_frame",
    "hosted",
    "load_callable",
    "load_runs_config",
    "local_operations",
    "refresh_and_settle",
    "run_hosted",
    "run_lease_path",
    "run_stream_info",
    "runs_part",
    "runs_routes",
    "snapshot_frame",
    "streams_info",
    "submit_and_settle",
    "tree_lease_path",
    "word_count",
]
