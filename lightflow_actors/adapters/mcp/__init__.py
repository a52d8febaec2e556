"""The MCP adapter: the runs surface as MCP tools (the official `mcp` SDK, Streamable HTTP),
served at `POST /mcp` by an endpoint actor.
"""

from ._endpoint import GetMcpHandler, McpEndpoint, McpHandler
from ._server import MCP_TOOLS, McpTool, ToolDef, build_mcp_server, refusal_result

__all__ = [
    "MCP_TOOLS",
    "GetMcpHandler",
    "McpEndpoint",
    "McpHandler",
    "McpTool",
    "ToolDef",
    "build_mcp_server",
    "refusal_result",
]
