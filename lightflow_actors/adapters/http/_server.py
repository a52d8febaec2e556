"""``serve``: run the operator app on Hypercorn, and stop it gracefully on SIGTERM/SIGINT.

Order on a signal: end the event streams (so no connection hangs), stop accepting, let
in-flight requests finish (up to ``graceful_timeout``), then the app's lifespan shuts the
actor system down (actors stop in reverse start order). Beyond loopback a token is
mandatory; on loopback a ``Host`` check stops DNS-rebinding pages from reaching the API.
Limits: connections (the listener answers 503 past them), WebSockets (closed with 1013),
the size of a WebSocket message (closed with 1009 before more is buffered); see ``_limits``.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Sequence

import msgspec
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config, Sockets
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from ...kernel import ActorSystem
from ...supervision import ActorSystem as SupervisedSystem
from ..operator_api import DEFAULT_HOST, DEFAULT_PORT
from ..ws import SocketFront
from ._app import PageFactory, StartupHook, create_app
from ._demo import start_demo
from ._errors import ServeStartFailed
from ._limits import Listener, WebSocketLimit, default_max_connections, quiet_accept_errors
from ._pages import RootLink
from ._security import LoopbackHostGuard, check_bind, is_loopback

DEFAULT_MAX_WS_MESSAGE_BYTES = 256 * 1024


class ServeOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``lightflow serve`` was asked for. ``port=0`` picks a free port.

    ``max_connections``: open TCP connections at most; the next client gets a 503 (None:
    the descriptor limit less an eighth, see ``default_max_connections``).
    ``max_websockets``: open WebSockets at most; the next is closed with 1013 (None: half
    the connection limit). ``max_ws_message_bytes``: a larger WebSocket message closes
    the connection with 1009 before more of it is buffered (the live transport refuses
    frames over its own ``max_frame_bytes``, 64 KiB, with a typed error first).
    ``cluster``: the NATS servers of the cluster this node joins (empty: a single node, no
    NATS needed); ``node``: this node's name in it (specs/cluster.md);
    ``run_events_max_age_s`` / ``run_events_max_bytes``: the retention of the cluster's
    run events stream (None: its default, 30 days / 1 GiB).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    demo: bool = False
    allowed_origins: tuple[str, ...] = ()
    graceful_timeout: float = 5.0
    keepalive: float = 15.0
    max_connections: int | None = None
    max_websockets: int | None = None
    max_ws_message_bytes: int = DEFAULT_MAX_WS_MESSAGE_BYTES
    cluster: tuple[str, ...] = ()
    node: str | None = None
    run_events_max_age_s: float | None = None
    run_events_max_bytes: int | None = None
    ctx_mount: str | None = None  # the /ctx tree here (with `fuse`: the FUSE mount point)
    fuse: bool = False  # mount the tree with the FUSE backend (at ctx_mount, default /ctx)


class ServerPart(msgspec.Struct, frozen=True, kw_only=True):
    """Another area's share of ``lightflow serve``: its routes, root-page links, and a hook
    that starts its actors once the system runs (hooks run in the order parts are given)."""

    routes: tuple[BaseRoute, ...] = ()
    # WebSocket endpoints by full path, served in front of the app's routing (the live
    # socket: an idle one then holds one frame, not Starlette's stack; ADR 0108).
    sockets: tuple[tuple[str, ASGIApp], ...] = ()
    links: tuple[RootLink, ...] = ()
    on_startup: StartupHook | None = None
    pages: tuple[PageFactory, ...] = ()


PartSource = ServerPart | Callable[[ActorSystem], ServerPart]
"""A part, or a function that builds it from the server's (not yet started) system, for
areas whose routes hold the system (the live views' hub)."""


class Serving(msgspec.Struct, frozen=True, kw_only=True):
    """Announced once the server accepts connections (the CLI prints it as JSON)."""

    url: str
    observer: str
    host: str
    port: int
    token_required: bool
    demo: bool


class Stopped(msgspec.Struct, frozen=True, kw_only=True):
    """Announced after a graceful stop: how many actors are left running (0)."""

    stopped: bool
    actors_left: int


class _ListenerConfig(Config):
    """Hypercorn's config, serving on our ``Listener`` (whose ``accept`` keeps the limit)."""

    def __init__(self, listener: Listener) -> None:
        super().__init__()
        self.listener = listener

    def create_sockets(self) -> Sockets:
        return Sockets(secure_sockets=[], insecure_sockets=[self.listener], quic_sockets=[])


def _listen(host: str, port: int, max_connections: int) -> Listener:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = Listener(family, max_connections=max_connections)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        # Listening now means clients that connect during startup wait in the backlog.
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(
    options: ServeOptions,
    *,
    parts: Sequence[PartSource] = (),
    ready: Callable[[Serving], None] | None = None,
    shutdown: asyncio.Event | None = None,
) -> Stopped:
    """Serve until ``shutdown`` is set (default: until SIGTERM or SIGINT); then stop.

    ``parts`` add other areas (the runs API, live views) to the same app and system.

    Raises ``ServeRefused`` for a non-loopback host without a token, ``OSError`` if the
    address cannot be bound.
    """
    check_bind(options.host, options.token)
    max_connections = options.max_connections or default_max_connections()
    sock = _listen(options.host, options.port, max_connections)
    bound_port = sock.getsockname()[1]
    host_text = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host_text}:{bound_port}/"

    failed: list[str] = []

    async def started(system: ActorSystem) -> None:
        if options.demo:
            await start_demo(system)
        for part in built:
            if part.on_startup is not None:
                try:
                    await part.on_startup(system)
                except Exception as exc:
                    # A part that cannot start (its cluster unreachable, its state folder
                    # unusable) stops the server before it announces itself: one clear
                    # line from the CLI (ServeStartFailed), not a lifespan traceback.
                    failed.append(str(exc) or type(exc).__name__)
                    stop.set()
                    return
        if ready is not None:
            ready(
                Serving(
                    url=url,
                    observer=url + "observer",
                    host=options.host,
                    port=bound_port,
                    token_required=options.token is not None,
                    demo=options.demo,
                )
            )

    system: ActorSystem = SupervisedSystem()
    built = [part(system) if callable(part) else part for part in parts]
    app = create_app(
        system,
        owns_system=True,
        token=options.token,
        allowed_origins=options.allowed_origins,
        links=[link for part in built for link in part.links],
        routes=[route for part in built for route in part.routes],
        pages=[page for part in built for page in part.pages],
        on_startup=started,
        keepalive=options.keepalive,
    )
    sockets = {path: endpoint for part in built for path, endpoint in part.sockets}
    # The host guard and the connection limit stay in front of the fronted sockets.
    fronted: ASGIApp = SocketFront(app, sockets) if sockets else app
    guarded: ASGIApp = LoopbackHostGuard(fronted) if is_loopback(options.host) else fronted
    asgi = WebSocketLimit(
        guarded, options.max_websockets or max(1, max_connections // 2), sock.refusals
    )

    config = _ListenerConfig(sock)
    config.accesslog = None
    config.graceful_timeout = options.graceful_timeout
    config.websocket_max_message_size = options.max_ws_message_bytes

    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    quiet_accept_errors(loop)
    stop = shutdown if shutdown is not None else asyncio.Event()
    installed: list[signal.Signals] = []
    if shutdown is None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)

    async def trigger() -> None:
        await stop.wait()
        await app.drain()

    try:
        await hypercorn_serve(asgi, config, shutdown_trigger=trigger)  # type: ignore[arg-type]
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        loop.set_exception_handler(previous_handler)
        sock.close()
    if failed:
        raise ServeStartFailed(failed[0])
    return Stopped(stopped=True, actors_left=app.system.actor_count())


def run_server(
    options: ServeOptions,
    announce: Callable[[msgspec.Struct], None],
    parts: Sequence[PartSource] = (),
) -> None:
    """Run ``serve`` on a fresh event loop, announcing start and stop (the CLI's entry)."""
    stopped = asyncio.run(serve(options, parts=parts, ready=announce))
    announce(stopped)
