"""The operator HTTP API's wire records and default address, without the server.

``lightflow_actors.adapters.http`` serves these bodies (``specs/openapi.yaml``); a client
of a running server (``lightflow tree``) reads them with msgspec and needs nothing else,
so it does not import Starlette, Hypercorn, the runs host or MCP to print a tree.
"""

from ._records import (
    ROOT_DOWN,
    Action,
    ActionResult,
    ActorDetail,
    ErrorBody,
    Health,
    NodeKind,
    Readiness,
    Restart,
    SystemSummary,
    TreeNode,
    TreePage,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5174

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ROOT_DOWN",
    "Action",
    "ActionResult",
    "ActorDetail",
    "ErrorBody",
    "Health",
    "NodeKind",
    "Readiness",
    "Restart",
    "SystemSummary",
    "TreeNode",
    "TreePage",
]
