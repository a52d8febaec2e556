"""The WebSocket edge of live sessions: one transport actor per connection, the socket it
writes to, the Starlette endpoint and the first-GET page with the client script; and the
same connection over server-sent events or long-polling when WebSockets are blocked.
"""

from ._fallback import FallbackConfig, FallbackRoutes
from ._front import SocketFront
from ._page import client_script
from ._poll import PollAnswer, PollPositionError, PollSocket
from ._routes import LiveRoutes, live_routes
from ._socket import QueueSocket, ReadPausing, Socket
from ._transport import Receive, SocketClosed, Transport, start_transport

__all__ = [
    "FallbackConfig",
    "FallbackRoutes",
    "LiveRoutes",
    "PollAnswer",
    "PollPositionError",
    "PollSocket",
    "QueueSocket",
    "ReadPausing",
    "Receive",
    "Socket",
    "SocketClosed",
    "SocketFront",
    "Transport",
    "client_script",
    "live_routes",
    "start_transport",
]
