"""A visit: what the hub reads from one request's cookies, and the cookies it answers with.

Every page GET and every WebSocket handshake is read the same way (`read_visit`): the
session cookie, if it checks, gives the browser's session (its `sid` and data); if it
is missing, tampered, expired or unreadable, the visit starts a fresh session with a
new sid (the problem is kept in `Visit.problem`, for logs and tests: a bad cookie is
never an error page). The flash cookie a redirect left is read once and deleted.
`apply_change` is the other half of `PutSession`: ``{base}/session`` checks the change
token against the visit's sid and writes the new cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

import msgspec

from ._auth import RequestInfo
from ._commands import relative_target
from ._cookie import (
    CookieSession,
    SessionChange,
    SessionCookieError,
    SessionSeal,
    SessionValue,
    SetCookie,
)


class Visit:
    """One request as the hub sees it.

    `session` is the cookie session (a fresh one when `fresh`); `problem` why the
    cookie the browser sent was not used (None if it was, or there was none);
    `flash` the messages the flash cookie carried; `cookies` and `headers` the request's
    others (the session and flash cookies left out); `secure` whether it came over https.
    """

    __slots__ = (
        "cookies",
        "flash",
        "flash_problem",
        "fresh",
        "headers",
        "problem",
        "secure",
        "session",
    )

    def __init__(
        self,
        session: CookieSession,
        *,
        fresh: bool,
        problem: SessionCookieError | None,
        flash: dict[str, str],
        flash_problem: SessionCookieError | None,
        cookies: Mapping[str, str],
        headers: Mapping[str, str],
        secure: bool,
    ) -> None:
        self.session = session
        self.fresh = fresh
        self.problem = problem
        self.flash = flash
        self.flash_problem = flash_problem
        self.cookies = cookies
        self.headers = headers
        self.secure = secure

    @property
    def sid(self) -> str:
        return self.session.sid

    @property
    def data(self) -> dict[str, SessionValue]:
        return dict(self.session.data)


class SessionEnded(msgspec.Struct, frozen=True):
    """Published on a browser's topic (`browser_topic`) when ``{base}/session`` renewed or
    cleared its session: every socket of that browser closes, and its pages, refused at
    their rejoin (their tokens name the old sid), reload into the new session."""

    reason: str


def browser_topic(sid: str) -> str:
    """The pubsub topic of the browser whose session id is `sid`: a hash of it, so the sid
    (which join tokens are bound to) never travels in a topic name, across a broker."""
    digest = hashlib.sha256(f"lightflow live browser:{sid}".encode()).hexdigest()[:32]
    return f"lf:browser:{digest}"


def new_sid() -> str:
    """128 bits from the OS CSPRNG, as hex: a session id must not be guessable, so not
    the system's seeded RNG (whose stream a replay reproduces)."""
    return secrets.token_hex(16)


def read_visit(seal: SessionSeal, request: RequestInfo) -> Visit:
    settings = seal.settings
    problem: SessionCookieError | None = None
    session: CookieSession | None = None
    token = request.cookies.get(settings.name)
    if token is not None:
        try:
            session = seal.read_session(token)
        except SessionCookieError as error:
            problem = error
    fresh = session is None
    if session is None:
        session = CookieSession(sid=new_sid(), at=seal.now())
    flash: dict[str, str] = {}
    flash_problem: SessionCookieError | None = None
    flash_token = request.cookies.get(settings.flash_name)
    if flash_token:
        try:
            flash = seal.read_flash(flash_token, session.sid)
        except SessionCookieError as error:
            flash_problem = error
    others = {
        name: value
        for name, value in request.cookies.items()
        if name not in (settings.name, settings.flash_name)
    }
    return Visit(
        session,
        fresh=fresh,
        problem=problem,
        flash=flash,
        flash_problem=flash_problem,
        cookies=others,
        headers=request.headers,
        secure=request.secure,
    )


def visit_cookies(
    seal: SessionSeal,
    visit: Visit,
    session: CookieSession,
    flash: Mapping[str, str] | None = None,
) -> tuple[SetCookie, ...]:
    """The cookies to answer `visit` with: `session`, signed now (so its age counts from
    the last visit, as Starlette's does), and `flash` for the next page (bound to the
    session's sid), or the flash cookie deleted if one came."""
    settings = seal.settings
    secure = settings.secure if settings.secure is not None else visit.secure
    signed = CookieSession(sid=session.sid, at=seal.now(), data=dict(session.data))
    cookies = [
        SetCookie(
            settings.name,
            seal.cookie.sign(signed),
            settings.max_age,
            settings.path,
            True,
            settings.same_site,
            secure,
        )
    ]
    if flash:
        cookies.append(_flash_cookie(seal, seal.seal_flash(flash, session.sid), 60, secure))
    elif visit.flash or visit.flash_problem is not None:
        cookies.append(_flash_cookie(seal, "", 0, secure))
    return tuple(cookies)


def _flash_cookie(seal: SessionSeal, value: str, max_age: int, secure: bool) -> SetCookie:
    settings = seal.settings
    return SetCookie(
        settings.flash_name, value, max_age, settings.path, True, settings.same_site, secure
    )


class ChangeApplied:
    """What ``{base}/session`` answers: go to `location` (relative to the hub) with
    `cookies` set."""

    __slots__ = ("cookies", "ended", "location", "session")

    def __init__(
        self,
        location: str,
        cookies: tuple[SetCookie, ...],
        session: CookieSession,
        ended: str | None = None,
    ) -> None:
        self.location = location
        self.cookies = cookies
        self.session = session
        self.ended = ended  # the sid whose sockets must close (renewed or cleared), or None


def apply_change(seal: SessionSeal, visit: Visit, token: str) -> ChangeApplied:
    """Apply the `PutSession` signed in `token` to the visit's session.

    Raises `SessionCookieError` when the token is bad, stale or was signed for another
    browser's session (a link someone else sent: login CSRF is refused).
    """
    change: SessionChange = seal.read_change(token, visit.sid)
    if not relative_target(change.to):
        raise SessionCookieError("the change token", "malformed", "its target leaves the hub")
    data: dict[str, SessionValue] = {} if change.clear else dict(visit.session.data)
    for key in change.drop:
        data.pop(key, None)
    data.update(change.put)
    sid = new_sid() if change.renew else visit.sid
    session = CookieSession(sid=sid, at=seal.now(), data=data)
    cookies = visit_cookies(seal, visit, session, change.flash)
    ended = visit.sid if change.renew or change.clear else None
    return ChangeApplied(change.to, cookies, session, ended)
