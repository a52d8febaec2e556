"""The WebSocket edge of live sessions: one transport actor per connection, the socket it
writes to, the Starlette endpoint and the first-GET page with the client script.
"""

from ._page import client_script
from ._routes import LiveRoutes, live_routes
from ._socket import QueueSocket, Socket
from ._transport import Receive, SocketClosed, Transport, start_transport

__all__ = [
    "LiveRoutes",
    "QueueSocket",
    "Receive",
    "Socket",
    "SocketClosed",
    "Transport",
    "client_script",
    "live_routes",
    "start_transport",
]
