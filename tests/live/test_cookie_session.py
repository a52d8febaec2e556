"""The signed cookie session and its tokens: what checks, and what every bad input gets.

A session cookie, flash token or change token is hostile until its mac checks. Every
string a browser can send (random text, tampered tokens, oversized, non-ASCII, a valid
mac over bytes that are not UTF-8 or over deeply nested JSON) meets a
`SessionCookieError` with a reason from the closed set, never another exception.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import (
    CookieSession,
    PutFlash,
    PutSession,
    RequestInfo,
    SessionCookie,
    SessionCookieError,
    SessionSeal,
    relative_target,
)
from lightflow_actors.live._auth import MAX_COOKIES, MAX_HEADER_CHARS, MAX_HEADERS
from lightflow_actors.live._cookie import MAX_COOKIE_CHARS, FlashToken, SessionChange
from lightflow_actors.live._visit import apply_change, read_visit

KEY = b"k" * 32
SID = "0123456789abcdef0123456789abcdef"
OTHER_SID = "f" * 32
REASONS = {"oversized", "malformed", "bad_signature", "expired", "wrong_session"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def seal(clock: Clock | None = None, **cookie: object) -> SessionSeal:
    return SessionSeal(KEY, SessionCookie(**cookie), clock or Clock())  # type: ignore[arg-type]


def forged(payload: bytes, key: bytes = KEY, purpose: str = "cookie session") -> str:
    """A token with a valid mac over `payload`, as only the key holder could make."""
    derived = hmac.new(key, f"lightflow live {purpose}".encode(), hashlib.sha256).digest()
    text = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.new(derived, text.encode(), hashlib.sha256).digest()
    return f"{text}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_a_session_round_trips_and_checks_its_mac() -> None:
    s = seal()
    token = s.cookie.sign(CookieSession(sid=SID, at=s.now(), data={"user": "ada", "n": 3}))
    assert s.read_session(token).data == {"user": "ada", "n": 3}
    payload, mac = token.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    with pytest.raises(SessionCookieError) as error:
        s.read_session(f"{flipped}.{mac}")
    assert error.value.reason == "bad_signature"
    other = SessionSeal(b"o" * 32, SessionCookie(), s.now)
    with pytest.raises(SessionCookieError, match="tampered, or old key"):
        other.read_session(token)


def test_each_purpose_has_its_own_key() -> None:
    s = seal()
    flash = s.seal_flash({"info": "hi"}, SID)
    with pytest.raises(SessionCookieError) as error:
        s.read_session(flash)  # a flash token is not a session cookie
    assert error.value.reason == "bad_signature"


def test_an_old_session_cookie_expires() -> None:
    clock = Clock()
    s = seal(clock, max_age=3600)
    token = s.cookie.sign(CookieSession(sid=SID, at=clock.now))
    clock.now += 3601
    with pytest.raises(SessionCookieError) as error:
        s.read_session(token)
    assert error.value.reason == "expired"


def test_flash_and_change_tokens_are_for_one_browser_and_one_minute() -> None:
    clock = Clock()
    s = seal(clock)
    flash = s.seal_flash({"info": "saved"}, SID)
    assert s.read_flash(flash, SID) == {"info": "saved"}
    with pytest.raises(SessionCookieError) as wrong:
        s.read_flash(flash, OTHER_SID)
    assert wrong.value.reason == "wrong_session"
    change = s.seal_change(
        SID, to="account", put={"user": "ada"}, drop=(), clear=False, renew=True, flash={}
    )
    assert s.read_change(change, SID).put == {"user": "ada"}
    clock.now += 120
    with pytest.raises(SessionCookieError) as stale:
        s.read_change(change, SID)
    assert stale.value.reason == "expired"


def test_a_change_renews_the_sid_and_sets_the_cookie_and_flash() -> None:
    s = seal()
    cookie = s.cookie.sign(CookieSession(sid=SID, at=s.now(), data={"theme": "dark"}))
    visit = read_visit(s, RequestInfo({"lf_session": cookie}))
    assert (visit.fresh, visit.sid, visit.data) == (False, SID, {"theme": "dark"})
    token = s.seal_change(
        SID, to="account", put={"user": "ada"}, drop=("theme",), clear=False, renew=True,
        flash={"info": "welcome"},
    )  # fmt: skip
    applied = apply_change(s, visit, token)
    assert applied.location == "account"
    assert applied.session.sid != SID and applied.session.data == {"user": "ada"}
    session, flash = applied.cookies
    assert (session.name, session.http_only, session.same_site) == ("lf_session", True, "lax")
    assert s.read_session(session.value).data == {"user": "ada"}
    assert s.read_flash(flash.value, applied.session.sid) == {"info": "welcome"}
    # the same token from another browser (another sid) writes nothing
    stranger = read_visit(s, RequestInfo())
    with pytest.raises(SessionCookieError) as error:
        apply_change(s, stranger, token)
    assert error.value.reason == "wrong_session"


def test_a_bad_cookie_starts_a_fresh_session_and_says_why() -> None:
    s = seal()
    visit = read_visit(s, RequestInfo({"lf_session": "garbage", "theme": "dark"}))
    assert visit.fresh and len(visit.sid) == 32 and visit.data == {}
    assert visit.problem is not None and visit.problem.reason == "malformed"
    assert visit.cookies == {"theme": "dark"}  # the session cookie is not passed on


def test_writing_more_than_a_cookie_holds_is_refused() -> None:
    s = seal()
    with pytest.raises(SessionCookieError) as error:
        s.cookie.sign(CookieSession(sid=SID, at=0, data={f"k{i}": "x" * 100 for i in range(64)}))
    assert error.value.reason == "oversized"
    with pytest.raises(ValueError, match="a cookie is small"):
        PutSession(to="account", put={"blob": "x" * 4000})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"\xff\xfe not utf-8", "malformed"),
        (b'{"sid": "' + SID.encode() + b'", "at": 0, "data": {"a": ' + b"[" * 2000, "malformed"),
        (json.dumps({"sid": SID, "at": 0, "data": {"a": [[1]]}}).encode(), "$.data[...]"),
        (json.dumps({"sid": "short", "at": 0}).encode(), "$.sid"),
        (json.dumps({"sid": SID, "at": 0, "extra": 1}).encode(), "extra"),
        (json.dumps({"sid": SID, "at": 0, "data": {"": 1}}).encode(), "$.data"),
    ],
)
def test_signed_garbage_is_malformed_with_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(SessionCookieError) as error:
        seal().read_session(forged(payload))
    assert error.value.reason == "malformed"
    assert field in str(error.value) or field == "malformed"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=5000))
def test_any_text_as_a_cookie_meets_a_typed_error(text: str) -> None:
    s = seal()
    with pytest.raises(SessionCookieError) as error:
        s.read_session(text)
    assert error.value.reason in REASONS
    with pytest.raises(SessionCookieError):
        s.read_flash(text, SID)
    with pytest.raises(SessionCookieError):
        s.read_change(text, SID)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.characters(codec="ascii"))
def test_a_changed_character_of_a_good_token_is_refused(position: int, char: str) -> None:
    s = seal()
    token = s.cookie.sign(CookieSession(sid=SID, at=s.now(), data={"user": "ada"}))
    at = position % len(token)
    changed = token[:at] + char + token[at + 1 :]
    if changed == token:
        return
    try:
        s.read_session(changed)
    except SessionCookieError as error:
        assert error.reason in ("malformed", "bad_signature")
    else:  # base64 padding bits: a different text for the same bytes is the same token
        assert s.read_session(changed) == s.read_session(token)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_signed_random_bytes_are_malformed(payload: bytes) -> None:
    with pytest.raises(SessionCookieError) as error:
        seal().read_session(forged(payload))
    assert error.value.reason in ("malformed", "expired")


def test_an_oversized_cookie_is_refused_before_any_work() -> None:
    with pytest.raises(SessionCookieError) as error:
        seal().read_session("a" * (MAX_COOKIE_CHARS + 1) + ".b")
    assert error.value.reason == "oversized"


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=300), st.text(max_size=10_000), max_size=100),
    st.lists(st.tuples(st.text(max_size=300), st.text(max_size=10_000)), max_size=100),
)
def test_request_info_keeps_within_its_bounds(
    cookies: dict[str, str], headers: list[tuple[str, str]]
) -> None:
    info = RequestInfo.from_request(cookies, headers)
    assert len(info.cookies) <= MAX_COOKIES and len(info.headers) <= MAX_HEADERS
    assert all(len(v) <= MAX_HEADER_CHARS for v in info.headers.values())
    assert "cookie" not in info.headers
    read_visit(seal(), info)  # whatever came, reading it raises nothing


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_a_relative_target_never_leaves_the_hub(to: str) -> None:
    from urllib.parse import urljoin, urlsplit

    if relative_target(to):
        resolved = urlsplit(urljoin("http://host/live/login", to))
        assert (resolved.netloc, resolved.path.rsplit("/", 1)[0]) == ("host", "/live")


def test_commands_validate_what_they_are_given() -> None:
    with pytest.raises(ValueError, match=r"PutFlash\.kind"):
        PutFlash(kind="Info!", message="x")
    with pytest.raises(ValueError, match=r"PutSession\.to"):
        PutSession(to="https://evil.example/")
    with pytest.raises(ValueError, match="not a cookie name"):
        SessionCookie(name="bad name")


def test_the_token_structs_refuse_unknown_fields() -> None:
    for struct in (FlashToken, SessionChange):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(b'{"sid": "' + SID.encode() + b'", "at": 0, "x": 1}', type=struct)
