"""Who may change the system: a bearer token for mutations and streams, and an Origin check.

With a token configured (``--token-file``, ``LIGHTFLOW_TOKEN`` or ``--token``), every
mutating request and the event stream must carry ``Authorization: Bearer <token>``: none is
401, a wrong one 403. The token is compared as bytes (its UTF-8 encoding against the
header's raw bytes), in constant time, so a non-ASCII token works and a hostile header
(invalid UTF-8, megabytes long) is only ever a wrong token.
Browsers attach an ``Origin`` header to cross-site requests; a mutation or a stream from an
origin other than the server's own (or one allowed explicitly) is refused with 403, so a
web page the operator happens to visit cannot drive a loopback server without a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Collection, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from ._errors import Forbidden, ServeRefused, Unauthorized

TOKEN_ENV = "LIGHTFLOW_TOKEN"


MAX_AUTHORIZATION_BYTES = 8192
"""An ``Authorization`` header longer than this is refused before any comparison."""


class Guard:
    """The checks the routes apply before acting. ``token=None`` disables the token check."""

    __slots__ = ("_allowed", "_token")

    def __init__(self, token: str | None, allowed_origins: Collection[str] = ()) -> None:
        if token is not None and not token.strip():
            raise ValueError("the bearer token must not be empty; give a token or None")
        # surrogateescape: a token taken from argv or the environment as undecodable bytes
        # is those bytes again.
        self._token = token.encode("utf-8", "surrogateescape") if token is not None else None
        self._allowed = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    @property
    def has_token(self) -> bool:
        return self._token is not None

    def require_token(self, headers: Mapping[str, str]) -> None:
        """Raise ``Unauthorized``/``Forbidden`` unless the request carries the bearer token."""
        if self._token is None:
            return
        header = headers.get("authorization")
        if header is None:
            raise Unauthorized(
                "this endpoint needs the header `Authorization: Bearer <token>` with the token "
                "the server was started with (--token-file, LIGHTFLOW_TOKEN or --token)",
                field="Authorization",
            )
        if len(header) > MAX_AUTHORIZATION_BYTES:
            raise Forbidden(
                "the bearer token is wrong (the header is too long)", field="Authorization"
            )
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(
                "the Authorization header must be `Bearer <token>`", field="Authorization"
            )
        if not _matches(value.strip(), self._token):
            raise Forbidden("the bearer token is wrong", field="Authorization")

    def check_origin(self, headers: Mapping[str, str], scheme: str) -> None:
        """Raise ``Forbidden`` when a browser sends the request from a foreign origin.

        Requests without ``Origin`` (curl, the CLI, same-origin GETs) pass.
        """
        origin = headers.get("origin")
        if origin is None:
            return
        normal = origin.strip().rstrip("/").lower()
        own = f"{scheme}://{headers.get('host', '')}".lower()
        if normal == own or normal in self._allowed:
            return
        raise Forbidden(
            f"cross-origin request from {origin[:200]!r} refused; open the page from this server "
            f"or allow that origin explicitly",
            field="Origin",
        )


def _matches(value: str, token: bytes) -> bool:
    """Whether the header value is the token, compared as bytes in constant time.

    Headers reach us as text decoded from the wire as latin-1 (ASGI), so their raw bytes
    are ``value.encode("latin-1")``: the UTF-8 bytes a client sent for a non-ASCII token.
    A header built in Python from real text (the observer page's token box) has no such
    byte form; its UTF-8 encoding is compared too. Both comparisons always run."""
    try:
        wire = value.encode("latin-1")
    except UnicodeEncodeError:
        wire = b""
    text = value.encode("utf-8", "surrogateescape")
    as_wire = hmac.compare_digest(wire, token)
    as_text = hmac.compare_digest(text, token)
    return as_wire or as_text


def is_loopback(host: str) -> bool:
    """True if binding ``host`` is reachable only from this machine."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token (the CLI turns this into exit 2)."""
    if token is None and not is_loopback(host):
        raise ServeRefused(
            f"refusing to bind {host!r} without a token: anyone who can reach it could stop "
            f"and kill actors; pass --token (or set {TOKEN_ENV}), or bind 127.0.0.1"
        )


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LoopbackHostGuard:
    """ASGI middleware: answer 403 unless the ``Host`` header names this machine.

    A server on loopback is reachable by a browser through DNS rebinding (a foreign name
    resolving to 127.0.0.1, so the page counts as same-origin); refusing foreign ``Host``
    headers closes that door. ``lightflow serve`` installs it on loopback binds.
    """

    def __init__(self, app: ASGIApp, allowed: Collection[str] = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _host_of(scope)
            if host not in self.allowed:
                body = json.dumps(
                    {
                        "error": f"Host {host[:100]!r} is not this machine; use "
                        f"http://127.0.0.1 (or bind beyond loopback with a token)",
                        "field": "Host",
                    }
                ).encode()
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def _host_of(scope: Scope) -> str:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key == b"host":
            text = value.decode("latin-1").strip().lower()
            if text.startswith("["):
                return text[1 : text.find("]")] if "]" in text else text
            return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return ""
