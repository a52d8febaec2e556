"""The operator HTTP surface: JSON API, lifecycle event stream (SSE), root and observer pages.

::

    from lightflow_actors.adapters.http import create_app
    app = create_app()                       # a Starlette/ASGI app owning its ActorSystem
    # or, inside a host service sharing its system:
    Mount("/ops", app=create_app(system, token="s3cret"))

Routes (``specs/openapi.yaml``): ``GET /health`` (liveness, answered without an actor),
``GET /ready`` (readiness: the root's subsystems), ``GET /system``, ``GET /system/tree``,
``GET /system/events`` (SSE), ``GET /actors/{id}``, ``POST /actors/{id}/stop|restart|kill``,
``GET /`` (root page), ``GET /openapi.yaml``. Every other route asks the ``Gateway`` actor
(DESIGN §9). ``GET /observer`` is a live view (``ObserverView``) on the app's own live hub,
fed by a ``TreeFeed`` actor; its actions go through the gateway too (``ActionDesk``).
``serve`` runs the app on Hypercorn (``lightflow serve``).
"""

from ..operator_api import (
    DEFAULT_HOST,
    DEFAULT_PORT,
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
from ._app import OperatorApp, Page, PageFactory, StartupHook, create_app
from ._cluster_tree import (
    TreeAgent,
    cluster_message_types,
    cluster_tree,
    peer_tree,
    start_tree_agent,
    tree_name,
)
from ._demo import start_demo
from ._errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    MethodNotAllowed,
    NotFound,
    NotRestartable,
    OperatorRefused,
    PayloadTooLarge,
    ServeRefused,
    ServeStartFailed,
    SupervisorGone,
    Unauthorized,
    Unavailable,
)
from ._events import EventStream, StreamEnd, StreamGap
from ._gateway import GATEWAY_NAME, Gateway
from ._inputs import TreeQuery
from ._limits import Listener, WebSocketLimit, default_max_connections
from ._link import OPERATION_WAIT, GatewayLink
from ._messages import GatewayMessage
from ._metrics import RateWindow, resident_memory, summarize
from ._negotiation import HtmlRuns, prefers_html
from ._pages import ROOT_LINKS, RootLink
from ._runs_routes import RUNS_LINKS, McpRoute, RunsRoutes, runs_routes
from ._security import TOKEN_ENV, Guard, check_bind, is_loopback
from ._server import (
    DEFAULT_MAX_WS_MESSAGE_BYTES,
    PartSource,
    ServeOptions,
    ServerPart,
    Serving,
    Stopped,
    run_server,
    serve,
)
from ._supervision import tree_nodes

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_WS_MESSAGE_BYTES",
    "DEFAULT_PORT",
    "GATEWAY_NAME",
    "OPERATION_WAIT",
    "ROOT_LINKS",
    "RUNS_LINKS",
    "TOKEN_ENV",
    "Action",
    "ActionResult",
    "ActorDetail",
    "BadRequest",
    "Conflict",
    "ErrorBody",
    "EventStream",
    "Forbidden",
    "Gateway",
    "GatewayLink",
    "GatewayMessage",
    "Guard",
    "Health",
    "HtmlRuns",
    "HttpError",
    "Listener",
    "McpRoute",
    "MethodNotAllowed",
    "NodeKind",
    "NotFound",
    "NotRestartable",
    "OperatorApp",
    "OperatorRefused",
    "Page",
    "PageFactory",
    "PartSource",
    "PayloadTooLarge",
    "RateWindow",
    "Readiness",
    "Restart",
    "RootLink",
    "RunsRoutes",
    "ServeOptions",
    "ServeRefused",
    "ServeStartFailed",
    "ServerPart",
    "Serving",
    "StartupHook",
    "Stopped",
    "StreamEnd",
    "StreamGap",
    "SupervisorGone",
    "SystemSummary",
    "TreeAgent",
    "TreeNode",
    "TreePage",
    "TreeQuery",
    "Unauthorized",
    "Unavailable",
    "WebSocketLimit",
    "check_bind",
    "cluster_message_types",
    "cluster_tree",
    "create_app",
    "default_max_connections",
    "is_loopback",
    "peer_tree",
    "prefers_html",
    "resident_memory",
    "run_server",
    "runs_routes",
    "serve",
    "start_demo",
    "start_tree_agent",
    "summarize",
    "tree_name",
    "tree_nodes",
]
