"""Connection limits of ``lightflow serve``, and a calm answer to running out of descriptors.

``Listener`` is the listening socket Hypercorn accepts on (asyncio calls its ``accept``).
It counts the connections it handed out (each one's ``close`` gives its place back) and,
at ``max_connections``, answers the next client itself with a 503 and closes it, so the
server never spends its last file descriptors on connections. If the process runs out of
descriptors anyway (``EMFILE``/``ENFILE``: other files, a lower limit than we thought),
it closes a reserve descriptor kept for that, accepts the waiting client, answers it 503,
and reopens the reserve, until the backlog is empty: no busy loop, no client left
hanging, and one log line per interval with the count instead of one traceback per
failure (asyncio's own accept loop logged ~10 000 a second). See ADR 0052.

``WebSocketLimit`` bounds the open WebSockets (they live for hours, unlike requests): one
over the limit is accepted and closed at once with 1013 (try again later).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
from typing import Any, Final

import msgspec
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("lightflow_actors.http")

RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""What ``accept`` fails with when the process or the system has no descriptor (or buffer)
left for a new connection."""

LOG_INTERVAL: Final = 10.0
"""Seconds between two log lines about refused connections (the first is logged at once)."""

MAX_DEFAULT_CONNECTIONS: Final = 10_000
WS_TRY_AGAIN_LATER: Final = 1013
"""The WebSocket close code (RFC 6455 registry: "Try Again Later") past the limit."""

_RETRY_AFTER_S = 1
_ACCEPT_ERROR = "socket.accept() out of system resource"  # asyncio's message for the same


def default_max_connections(soft_limit: int | None = None) -> int:
    """The connection limit when none is configured: the descriptor limit (``ulimit -n``)
    less an eighth (at least 64) for files, threads' pipes and the listener itself,
    at most ``MAX_DEFAULT_CONNECTIONS``."""
    if soft_limit is None:
        soft_limit, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft_limit == resource.RLIM_INFINITY or soft_limit <= 0:
        return MAX_DEFAULT_CONNECTIONS
    return max(1, min(MAX_DEFAULT_CONNECTIONS, soft_limit - max(64, soft_limit // 8)))


def busy_response(message: str) -> bytes:
    """The whole HTTP/1.1 503 a refused client gets (``{"error": ...}``, ``Retry-After``)."""
    body = msgspec.json.encode({"error": message, "field": None})
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {_RETRY_AFTER_S}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class Refusals:
    """Counts refused connections by cause and logs them at most once per ``interval``
    (on the loop's clock): the first at once, then a summary with the count."""

    def __init__(self, interval: float = LOG_INTERVAL) -> None:
        self.interval = interval
        self.total: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._flushing = False

    def count(self, cause: str, detail: str) -> None:
        self.total[cause] = self.total.get(cause, 0) + 1
        self._pending[cause] = self._pending.get(cause, 0) + 1
        if self._flushing:
            return
        self._flushing = True
        logger.warning(
            "refusing connections: %s (a summary follows every %gs)", detail, self.interval
        )
        self._pending.clear()
        asyncio.get_running_loop().call_later(self.interval, self._flush)

    def close(self) -> None:
        """Log what is still pending (the server is stopping)."""
        if self._pending:
            self._summarize()

    def _flush(self) -> None:
        if not self._pending:
            self._flushing = False
            return
        self._summarize()
        asyncio.get_running_loop().call_later(self.interval, self._flush)

    def _summarize(self) -> None:
        causes = ", ".join(f"{n} {cause}" for cause, n in sorted(self._pending.items()))
        logger.warning(
            "refused %d connections in the last %gs (%s)",
            sum(self._pending.values()),
            self.interval,
            causes,
        )
        self._pending.clear()


class Listener(socket.socket):
    """A listening TCP socket whose ``accept`` keeps to ``max_connections`` and survives
    descriptor exhaustion (see the module docstring). ``open_connections`` is exact as long
    as every accepted socket is closed through ``close`` (asyncio's transports do)."""

    def __init__(
        self, family: int, *, max_connections: int, refusals: Refusals | None = None
    ) -> None:
        super().__init__(family, socket.SOCK_STREAM)
        self.max_connections = max_connections
        self.open_connections = 0
        self.refusals = refusals if refusals is not None else Refusals()
        self._reserve: int | None = _open_reserve()

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            try:
                fd, address = self._accept()  # type: ignore[attr-defined]
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS or not self._shed_one(exc):
                    # BlockingIOError ends asyncio's accept loop until the next readable
                    # event; without a reserve, asyncio backs off a second (its log line
                    # is quieted by `quiet_accept_errors`, ours counts the refusal).
                    raise
                continue
            if self.open_connections >= self.max_connections:
                self.refusals.count(
                    "at the connection limit",
                    f"{self.open_connections} connections are open, the limit "
                    f"(--max-connections) is {self.max_connections}",
                )
                _refuse(fd, f"the server has its maximum of {self.max_connections} connections")
                continue
            self.open_connections += 1
            conn = _Connection(self, self.family, self.type, self.proto, fileno=fd)
            return conn, address

    def close(self) -> None:
        self.refusals.close()
        if self._reserve is not None:
            with contextlib.suppress(OSError):
                os.close(self._reserve)
            self._reserve = None
        super().close()

    def released(self) -> None:
        """An accepted connection was closed: its place is free."""
        self.open_connections -= 1

    def _shed_one(self, error: OSError) -> bool:
        """Out of descriptors: answer one waiting client with the reserve descriptor.
        False when there is no reserve (the caller lets asyncio back off)."""
        if self._reserve is None:
            self._reserve = _open_reserve()
            self.refusals.count("out of file descriptors", f"accept failed: {error}")
            return False
        os.close(self._reserve)
        self._reserve = None
        try:
            fd, _ = self._accept()  # type: ignore[attr-defined]
        except BlockingIOError:
            self._reserve = _open_reserve()
            raise
        except OSError:
            self._reserve = _open_reserve()
            return False
        self.refusals.count(
            "out of file descriptors",
            f"accept failed: {error.strerror} ({errno.errorcode.get(error.errno or 0, '?')}); "
            "lower --max-connections or raise the descriptor limit (ulimit -n)",
        )
        _refuse(fd, "the server is out of file descriptors")
        self._reserve = _open_reserve()
        return True


class _Connection(socket.socket):
    """An accepted connection that gives its place back to its listener when closed."""

    def __init__(self, listener: Listener, family: int, kind: int, proto: int, fileno: int) -> None:
        super().__init__(family, kind, proto, fileno)
        self._listener: Listener | None = listener

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.released()
        super().close()


def _open_reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _refuse(fd: int, message: str) -> None:
    """Answer a connection we will not serve with a 503 and close it, never blocking.

    What the client already sent is read first (without waiting), so the close is a FIN
    and not a reset that could destroy the 503 before the client reads it.
    """
    conn = socket.socket(fileno=fd)
    try:
        conn.setblocking(False)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        with contextlib.suppress(OSError):
            conn.send(busy_response(message))
            conn.shutdown(socket.SHUT_WR)
    finally:
        conn.close()


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Drop asyncio's per-failure "socket.accept() out of system resource" log (with its
    traceback) on ``loop``: the ``Listener`` counts and logs those refusals itself."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _ACCEPT_ERROR:
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class WebSocketLimit:
    """ASGI middleware: at most ``max_websockets`` WebSockets open at once; the next is
    accepted and closed with 1013 and a reason naming the limit. HTTP passes untouched."""

    def __init__(self, app: ASGIApp, max_websockets: int, refusals: Refusals | None = None) -> None:
        self.app = app
        self.max_websockets = max_websockets
        self.open_websockets = 0
        self.refusals = refusals if refusals is not None else Refusals()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.open_websockets >= self.max_websockets:
            self.refusals.count(
                "at the WebSocket limit",
                f"{self.open_websockets} WebSockets are open, the limit (--max-websockets) "
                f"is {self.max_websockets}",
            )
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send(
                    {
                        "type": "websocket.close",
                        "code": WS_TRY_AGAIN_LATER,
                        "reason": f"too many WebSockets (limit {self.max_websockets}); "
                        "try again later",
                    }
                )
            return
        self.open_websockets += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open_websockets -= 1
