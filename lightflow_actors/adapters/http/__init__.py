"""The operator HTTP surface: JSON API, lifecycle event stream (SSE), root and observer pages.

::

    from lightflow_actors.adapters.http import create_app
    app = create_app()                       # a Starlette/ASGI app owning its ActorSystem
    # or, inside a host service sharing its system:
    Mount("/ops", app=create_app(system, token="s3cret"))

Routes (``specs/openapi.yaml``): ``GET /health``, ``GET /system``, ``GET /system/tree``,
``GET /system/events`` (SSE), ``GET /actors/{id}``, ``POST /actors/{id}/stop|restart|kill``,
``GET /`` (root page), ``GET /openapi.yaml``. Every route asks the ``Gateway`` actor
(DESIGN §9). ``GET /observer`` is a live view (``ObserverView``) on the app's own live hub,
fed by a ``TreeFeed`` actor; its actions go through the gateway too (``ActionDesk``).
``serve`` runs the app on Hypercorn (``lightflow serve``).
"""

from ._app import OperatorApp, StartupHook, create_app
from ._demo import start_demo
from ._errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    MethodNotAllowed,
    NotFound,
    NotRestartable,
    PayloadTooLarge,
    ServeRefused,
    SupervisorGone,
    Unauthorized,
    Unavailable,
)
from ._events import EventStream, StreamEnd, StreamGap
from ._gateway import GATEWAY_NAME, Gateway
from ._messages import GatewayMessage
from ._observer import OBSERVER_NAME, ObserverPage, observer_view, start_observer_actors
from ._observer_actions import ActionDesk, ActionOutcome, ActionRequest
from ._observer_feed import GetSnapshot, ObservedActor, TreeFeed, TreeSnapshot
from ._observer_view import ObserverView
from ._pages import ROOT_LINKS, RootLink
from ._records import (
    Action,
    ActionResult,
    ActorDetail,
    ErrorBody,
    Health,
    SystemSummary,
    TreeNode,
    TreePage,
)
from ._security import TOKEN_ENV, Guard, check_bind, is_loopback
from ._server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    PartSource,
    ServeOptions,
    ServerPart,
    Serving,
    Stopped,
    run_server,
    serve,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "GATEWAY_NAME",
    "OBSERVER_NAME",
    "ROOT_LINKS",
    "TOKEN_ENV",
    "Action",
    "ActionDesk",
    "ActionOutcome",
    "ActionRequest",
    "ActionResult",
    "ActorDetail",
    "BadRequest",
    "Conflict",
    "ErrorBody",
    "EventStream",
    "Forbidden",
    "Gateway",
    "GatewayMessage",
    "GetSnapshot",
    "Guard",
    "Health",
    "HttpError",
    "MethodNotAllowed",
    "NotFound",
    "NotRestartable",
    "ObservedActor",
    "ObserverPage",
    "ObserverView",
    "OperatorApp",
    "PartSource",
    "PayloadTooLarge",
    "RootLink",
    "ServeOptions",
    "ServeRefused",
    "ServerPart",
    "Serving",
    "StartupHook",
    "Stopped",
    "StreamEnd",
    "StreamGap",
    "SupervisorGone",
    "SystemSummary",
    "TreeFeed",
    "TreeNode",
    "TreePage",
    "TreeSnapshot",
    "Unauthorized",
    "Unavailable",
    "check_bind",
    "create_app",
    "is_loopback",
    "observer_view",
    "run_server",
    "serve",
    "start_demo",
    "start_observer_actors",
]
