"""Live sessions: server-rendered stateful views over WebSocket (LiveView for Python).

Rendering core: compile a `Template` once, call it to get a `Rendered`, keep one
`DiffState` per connection and send `DiffState.diff(rendered)` as the patch; the
Python reference client is `apply_patch` / `client_html` (specs/live-diff.md).

Sessions: write a `LiveView` (mount, handle_event, handle_info, render), serve it
with `live_routes(system, {"name": View()})`; each browser gets a `Transport` actor
(its WebSocket) and a `LiveSession` actor (its view), supervised by the `LiveHub`,
with `PubSubServer` and `PresenceServer` beside them (specs/live-wire.md).
"""

from ._commands import (
    Broadcast,
    Command,
    ListPresence,
    MetaValue,
    PageTitle,
    PushNavigate,
    PushPatch,
    Redirect,
    SendAfter,
    SubscribeTo,
    Track,
    UnsubscribeFrom,
    Untrack,
    Update,
)
from ._component import AnyLiveView, LiveView, Params, SessionInfo, ViewSpec, event_name
from ._config import LiveConfig
from ._diff import DiffState
from ._envelope import (
    LiveEnvelope,
    MountParams,
    Nav,
    ParamsChange,
    decode_envelope,
    live_patch_of,
)
from ._errors import (
    EventError,
    FingerprintCollisionError,
    HubNotStartedError,
    LiveError,
    PatchDecodeError,
    PatchError,
    PeerError,
    RenderedError,
    TemplateSyntaxError,
    TemplateValueError,
    UnknownViewError,
    ViewDefinitionError,
)
from ._hub import LiveHub, StaticRender
from ._markup import Markup, escape, safe
from ._merge import (
    ClientComprehension,
    ClientNode,
    ClientState,
    ClientValue,
    apply_patch,
    client_html,
)
from ._page import client_script
from ._patch import Patch, decode_patch, encode_patch
from ._peer import LiveClient, WebSocketView
from ._presence import (
    GetPresences,
    ListPresences,
    PresenceDiff,
    PresenceEntry,
    Presences,
    PresenceServer,
    PresenceState,
    TrackPresence,
    UntrackPresence,
    apply_diff,
)
from ._pubsub import (
    CountSubscribers,
    Delivery,
    InMemoryBroker,
    LocalAdapter,
    Publish,
    PubSubAdapter,
    PubSubServer,
    SubscribeTopic,
    UnsubscribeTopic,
)
from ._rendered import Comprehension, Dynamic, Rendered, to_html
from ._routes import LiveRoutes, live_routes
from ._session import Info, LiveSession, Problem, SessionOutput, SessionServices
from ._socket import QueueSocket, Socket
from ._template import Key, Template, Value, each, keyed
from ._transport import Receive, SocketClosed, Transport
from ._wsclient import WebSocketClient, WebSocketClientError

__all__ = [
    "AnyLiveView",
    "Broadcast",
    "ClientComprehension",
    "ClientNode",
    "ClientState",
    "ClientValue",
    "Command",
    "Comprehension",
    "CountSubscribers",
    "Delivery",
    "DiffState",
    "Dynamic",
    "EventError",
    "FingerprintCollisionError",
    "GetPresences",
    "HubNotStartedError",
    "InMemoryBroker",
    "Info",
    "Key",
    "ListPresence",
    "ListPresences",
    "LiveClient",
    "LiveConfig",
    "LiveEnvelope",
    "LiveError",
    "LiveHub",
    "LiveRoutes",
    "LiveSession",
    "LiveView",
    "LocalAdapter",
    "Markup",
    "MetaValue",
    "MountParams",
    "Nav",
    "PageTitle",
    "Params",
    "ParamsChange",
    "Patch",
    "PatchDecodeError",
    "PatchError",
    "PeerError",
    "PresenceDiff",
    "PresenceEntry",
    "PresenceServer",
    "PresenceState",
    "Presences",
    "Problem",
    "PubSubAdapter",
    "PubSubServer",
    "Publish",
    "PushNavigate",
    "PushPatch",
    "QueueSocket",
    "Receive",
    "Redirect",
    "Rendered",
    "RenderedError",
    "SendAfter",
    "SessionInfo",
    "SessionOutput",
    "SessionServices",
    "Socket",
    "SocketClosed",
    "StaticRender",
    "SubscribeTo",
    "SubscribeTopic",
    "Template",
    "TemplateSyntaxError",
    "TemplateValueError",
    "Track",
    "TrackPresence",
    "Transport",
    "UnknownViewError",
    "UnsubscribeFrom",
    "UnsubscribeTopic",
    "Untrack",
    "UntrackPresence",
    "Update",
    "Value",
    "ViewDefinitionError",
    "ViewSpec",
    "WebSocketClient",
    "WebSocketClientError",
    "WebSocketView",
    "apply_diff",
    "apply_patch",
    "client_html",
    "client_script",
    "decode_envelope",
    "decode_patch",
    "each",
    "encode_patch",
    "escape",
    "event_name",
    "keyed",
    "live_patch_of",
    "live_routes",
    "safe",
    "to_html",
]
