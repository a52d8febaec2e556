"""The signed cookie session, and the signed tokens that carry flash and session writes.

A browser's session is one cookie (``lf_session`` by default): ``<payload>.<mac>``, the
payload a base64url JSON object ``{"sid", "at", "data"}`` and the mac its HMAC-SHA256
under a key derived from the hub's secret (ADR 0072's key file) for this one purpose.
As with Starlette's ``SessionMiddleware`` the browser holds the data and cannot change
it; unlike it, the session has an id (``sid``, 128 random bits) that the page's join
token is bound to (ADR 0081), so a token lifted into another browser is refused.

Two more tokens use the same envelope with their own keys: a *flash* token (messages a
redirect or a live navigation carries to the next mount) and a *change* token (a view's
`PutSession`, applied by ``{base}/session``, ADR 0082). Each names the sid it was issued
for and expires. Everything read here is hostile until its mac checks: a bad value
raises `SessionCookieError` with a `reason` from a closed set, never anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Final, Literal, TypeAlias, TypeVar

import msgspec

from ._errors import LiveError

SessionValue: TypeAlias = str | int | float | bool | None
"""A value the cookie session may hold: a JSON scalar (keep ids there, not objects)."""

SessionKey = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
FlashKind = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]
FlashText = Annotated[str, msgspec.Meta(max_length=1024)]
SessionData = Annotated[dict[SessionKey, SessionValue], msgspec.Meta(max_length=64)]
FlashData = Annotated[dict[FlashKind, FlashText], msgspec.Meta(max_length=8)]
Sid = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
Binding = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{32})?$")]
"""The sid a token is bound to ("" for a client without a session cookie)."""

MAX_COOKIE_CHARS: Final = 4000
"""Longest token read or written: browsers keep at most 4 096 bytes per cookie."""

FLASH_TTL: Final = 60
"""Seconds a flash token or a change token is good for (one redirect, one navigation)."""

SessionCookieErrorReason: TypeAlias = Literal[
    "oversized", "malformed", "bad_signature", "expired", "wrong_session"
]


class SessionCookieError(LiveError):
    """A session cookie, flash token or change token that cannot be trusted.

    `reason`: ``oversized`` (longer than `MAX_COOKIE_CHARS`), ``malformed`` (not
    ``<base64url>.<base64url>``, not JSON of the right shape; `path` names the field),
    ``bad_signature`` (tampered, or signed with another key), ``expired``,
    ``wrong_session`` (issued for another browser's session).
    """

    def __init__(self, what: str, reason: SessionCookieErrorReason, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.what = what
        self.reason: SessionCookieErrorReason = reason
        self.detail = detail


class CookieSession(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the session cookie holds: its id, when it was signed, the view's data."""

    sid: Sid
    at: int
    data: SessionData = msgspec.field(default_factory=dict)


class FlashToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Flash messages on their way to the next mount of the browser `sid`."""

    sid: Binding
    at: int
    flash: FlashData


class SessionChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A `PutSession` signed for the browser `sid`, for ``{base}/session`` to apply."""

    sid: Sid
    at: int
    to: Annotated[str, msgspec.Meta(max_length=2048)]
    put: SessionData = msgspec.field(default_factory=dict)
    drop: Annotated[list[SessionKey], msgspec.Meta(max_length=64)] = msgspec.field(
        default_factory=list
    )
    clear: bool = False
    renew: bool = False
    flash: FlashData = msgspec.field(default_factory=dict)


SameSite: TypeAlias = Literal["lax", "strict", "none"]
_COOKIE_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an RFC 6265 token


class SessionCookie(msgspec.Struct, frozen=True, kw_only=True):
    """How the session cookie is written: ``name`` (a hub's default is
    ``lf_<hub name>_session``, `default_session_cookie`), ``path``, ``max_age`` (seconds, also
    the oldest signature accepted), ``same_site``, ``secure`` (None: when the request came
    over https). It is always ``HttpOnly``: page scripts never read it."""

    name: str = "lf_session"
    flash_name: str = "lf_flash"
    path: str = "/"
    max_age: int = 14 * 24 * 3600
    same_site: SameSite = "lax"
    secure: bool | None = None

    def __post_init__(self) -> None:
        for field in ("name", "flash_name"):
            value = getattr(self, field)
            if not _COOKIE_NAME.match(value):
                raise ValueError(
                    f"SessionCookie.{field} {value!r} is not a cookie name (1-64 letters, "
                    "digits or !#$%&'*+.^_`|~-)"
                )
        if self.name == self.flash_name:
            raise ValueError("SessionCookie.name and flash_name must differ")
        if not self.path.startswith("/") or any(c in self.path for c in ";,\r\n "):
            raise ValueError(f"SessionCookie.path must be an absolute path, got {self.path!r}")
        if not isinstance(self.max_age, int) or self.max_age < 60:
            raise ValueError(f"SessionCookie.max_age must be >= 60 seconds, got {self.max_age!r}")


def default_session_cookie(hub: str) -> SessionCookie:
    """The cookies of the hub named `hub`: ``lf_<hub>_session`` and ``lf_<hub>_flash``
    (characters a cookie name cannot hold become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", hub)[:40] or "live"
    return SessionCookie(name=f"lf_{safe}_session", flash_name=f"lf_{safe}_flash")


class SetCookie(msgspec.Struct, frozen=True):
    """A cookie for the HTTP adapter to set (``max_age`` 0: delete it)."""

    name: str
    value: str
    max_age: int
    path: str
    http_only: bool
    same_site: SameSite
    secure: bool


T = TypeVar("T", bound=msgspec.Struct)


class Signer:
    """Signs and checks one kind of token with its own key (derived from the hub's key)."""

    __slots__ = ("_key", "what")

    def __init__(self, key: bytes, purpose: str, what: str) -> None:
        self._key = hmac.new(key, f"lightflow live {purpose}".encode(), hashlib.sha256).digest()
        self.what = what

    def sign(self, value: msgspec.Struct) -> str:
        payload = _b64(msgspec.json.encode(value))
        mac = hmac.digest(self._key, payload.encode("ascii"), "sha256")
        token = f"{payload}.{_b64(mac)}"
        if len(token) > MAX_COOKIE_CHARS:
            raise SessionCookieError(
                self.what,
                "oversized",
                f"{len(token)} characters signed, more than a cookie holds "
                f"({MAX_COOKIE_CHARS}); keep ids in the session, not whole objects",
            )
        return token

    def unsign(self, token: str, type: type[T]) -> T:
        """The struct `token` carries; `SessionCookieError` if anything is off."""
        if len(token) > MAX_COOKIE_CHARS:
            raise SessionCookieError(
                self.what, "oversized", f"{len(token)} characters, at most {MAX_COOKIE_CHARS}"
            )
        payload, dot, mac_text = token.partition(".")
        if not dot or not payload or not mac_text or not token.isascii():
            raise SessionCookieError(self.what, "malformed", "not <payload>.<signature>")
        try:
            mac = _unb64(mac_text)
            raw = _unb64(payload)
        except (binascii.Error, ValueError):
            raise SessionCookieError(self.what, "malformed", "not base64url") from None
        expected = hmac.digest(self._key, payload.encode("ascii"), "sha256")
        if not hmac.compare_digest(mac, expected):
            raise SessionCookieError(
                self.what, "bad_signature", "the signature does not match (tampered, or old key)"
            )
        try:
            return msgspec.json.decode(raw, type=type)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            # Signed by us yet unreadable: written by another version of this code.
            raise SessionCookieError(self.what, "malformed", str(error)) from None


class SessionSeal:
    """The three signers of a hub, and the wall clock their expiries read.

    ``now`` is wall seconds (the system clock's ``wall_ms() // 1000``: virtual under the
    deterministic scheduler).
    """

    __slots__ = ("change", "cookie", "flash", "now", "settings")

    def __init__(self, key: bytes, settings: SessionCookie, now: Callable[[], int]) -> None:
        self.cookie = Signer(key, "cookie session", "the session cookie")
        self.flash = Signer(key, "flash", "the flash token")
        self.change = Signer(key, "session change", "the session change token")
        self.settings = settings
        self.now = now

    def read_session(self, token: str) -> CookieSession:
        session = self.cookie.unsign(token, CookieSession)
        age = self.now() - session.at
        if age > self.settings.max_age:
            raise SessionCookieError("the session cookie", "expired", f"signed {age} s ago")
        return session

    def read_flash(self, token: str, sid: str) -> dict[str, str]:
        flash = self._fresh(self.flash.unsign(token, FlashToken), sid, "the flash token")
        return dict(flash.flash)

    def read_change(self, token: str, sid: str) -> SessionChange:
        return self._fresh(self.change.unsign(token, SessionChange), sid, "the change token")

    def seal_flash(self, flash: Mapping[str, str], sid: str) -> str:
        return self.flash.sign(FlashToken(sid=sid, at=self.now(), flash=dict(flash)))

    def seal_change(
        self,
        sid: str,
        *,
        to: str,
        put: Mapping[str, SessionValue],
        drop: tuple[str, ...],
        clear: bool,
        renew: bool,
        flash: Mapping[str, str],
    ) -> str:
        change = SessionChange(
            sid=sid,
            at=self.now(),
            to=to,
            put=dict(put),
            drop=list(drop),
            clear=clear,
            renew=renew,
            flash=dict(flash),
        )
        return self.change.sign(change)

    def _fresh(self, value: _Bound, sid: str, what: str) -> _Bound:
        age = self.now() - value.at
        if not 0 <= age <= FLASH_TTL + 5:  # 5 s of leeway for clocks a tick apart
            raise SessionCookieError(what, "expired", f"issued {age} s ago (good for {FLASH_TTL})")
        if not hmac.compare_digest(value.sid, sid):
            raise SessionCookieError(what, "wrong_session", "issued for another browser session")
        return value


_Bound = TypeVar("_Bound", FlashToken, SessionChange)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")  # bytes: str.translate is 10x slower


def _unb64(text: str) -> bytes:
    """base64url without padding (`text` is ASCII), strictly: any other character (``+``,
    ``/``, ``=``, a space) is refused, not skipped as the lenient decoder would."""
    data = text.encode("ascii")
    if b"+" in data or b"/" in data or b"=" in data:
        raise ValueError("not base64url")
    padded = data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4)
    return binascii.a2b_base64(padded, strict_mode=True)


class BrowserSeal:
    """The seal of one browser session: flash and change tokens bound to its `sid`
    (what a session actor signs with; "" for a client without a session cookie)."""

    __slots__ = ("seal", "sid")

    def __init__(self, seal: SessionSeal, sid: str) -> None:
        self.seal = seal
        self.sid = sid

    def flash(self, flash: Mapping[str, str]) -> str:
        return self.seal.seal_flash(flash, self.sid)

    def change(
        self,
        *,
        to: str,
        put: Mapping[str, SessionValue],
        drop: tuple[str, ...],
        clear: bool,
        renew: bool,
        flash: Mapping[str, str],
    ) -> str:
        if not self.sid:
            raise SessionCookieError(
                "PutSession",
                "wrong_session",
                "this browser sent no session cookie, so there is no session to write; "
                "serve the page through live_routes (it sets the cookie)",
            )
        return self.seal.seal_change(
            self.sid, to=to, put=put, drop=drop, clear=clear, renew=renew, flash=flash
        )
