"""Bearer token, Origin and Host checks, and the refusal to bind beyond loopback bare."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lightflow_actors.adapters.http import (
    Forbidden,
    Guard,
    ServeRefused,
    Unauthorized,
    check_bind,
    is_loopback,
)
from lightflow_actors.adapters.http._security import LoopbackHostGuard


def test_no_token_configured_lets_everyone_through() -> None:
    Guard(None).require_token({})


def test_missing_malformed_and_wrong_tokens() -> None:
    guard = Guard("s3cret")
    with pytest.raises(Unauthorized) as missing:
        guard.require_token({})
    assert missing.value.field == "Authorization"
    for header in ("s3cret", "Basic s3cret", "Bearer", "Bearer   "):
        with pytest.raises(Unauthorized):
            guard.require_token({"authorization": header})
    with pytest.raises(Forbidden):
        guard.require_token({"authorization": "Bearer nope"})
    guard.require_token({"authorization": "Bearer s3cret"})
    guard.require_token({"authorization": "bearer s3cret"})


@given(st.text(max_size=80))
def test_any_other_header_is_refused(header: str) -> None:
    guard = Guard("s3cret")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip() == "s3cret":
        guard.require_token({"authorization": header})
        return
    with pytest.raises((Unauthorized, Forbidden)):
        guard.require_token({"authorization": header})


def test_empty_token_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        Guard("  ")


def test_origin_check() -> None:
    guard = Guard(None, allowed_origins=["https://ops.example.com/"])
    host = {"host": "127.0.0.1:5174"}
    guard.check_origin(host, "http")  # no Origin: not a browser cross-site request
    guard.check_origin({**host, "origin": "http://127.0.0.1:5174"}, "http")
    guard.check_origin({**host, "origin": "https://ops.example.com"}, "http")
    for origin in (
        "http://evil.example",
        "null",
        "http://127.0.0.1:5175",
        "https://127.0.0.1:5174",
    ):
        with pytest.raises(Forbidden) as info:
            guard.check_origin({**host, "origin": origin}, "http")
        assert info.value.field == "Origin"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.4", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_bind(host, None)
    else:
        with pytest.raises(ServeRefused, match="token"):
            check_bind(host, None)
        check_bind(host, "a-token")


@pytest.mark.anyio
async def test_host_guard_refuses_foreign_host_headers() -> None:
    inner = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    app = LoopbackHostGuard(inner)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5174") as client:
        assert (await client.get("/")).text == "ok"
        for host in ("localhost:5174", "[::1]:5174", "127.0.0.1"):
            assert (await client.get("/", headers={"host": host})).status_code == 200
        refused = await client.get("/", headers={"host": "rebind.evil.example:5174"})
        assert refused.status_code == 403
        assert refused.json()["field"] == "Host"


NON_ASCII_TOKEN = "pässwört-🔑-ключ"


def _guarded_app(token: str) -> Starlette:
    guard = Guard(token)

    def endpoint(request):  # type: ignore[no-untyped-def]
        try:
            guard.require_token(request.headers)
        except (Unauthorized, Forbidden) as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


async def _post(app: Starlette, authorization: bytes | None) -> int:
    # Raw header bytes, as a client puts them on the wire (httpx sends bytes as they are).
    headers = [(b"authorization", authorization)] if authorization is not None else []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return (await client.post("/", headers=headers)).status_code


@pytest.mark.anyio
async def test_a_non_ascii_token_is_compared_as_its_utf8_bytes() -> None:
    app = _guarded_app(NON_ASCII_TOKEN)
    assert await _post(app, b"Bearer " + NON_ASCII_TOKEN.encode()) == 200
    assert await _post(app, b"bearer  " + NON_ASCII_TOKEN.encode() + b" ") == 200
    assert await _post(app, b"Bearer " + NON_ASCII_TOKEN.encode()[:-1]) == 403
    assert await _post(app, b"Bearer " + "pässwört".encode("latin-1")) == 403
    assert await _post(app, None) == 401


def test_a_non_ascii_token_typed_as_text_matches_too() -> None:
    # The observer page builds the header from the text an operator typed.
    Guard(NON_ASCII_TOKEN).require_token({"authorization": f"Bearer {NON_ASCII_TOKEN}"})
    Guard("é").require_token({"authorization": "Bearer é"})  # latin-1-encodable text
    Guard("é").require_token({"authorization": "Bearer " + "é".encode().decode("latin-1")})
    with pytest.raises(Forbidden):
        Guard("é").require_token({"authorization": "Bearer e"})


@pytest.mark.anyio
async def test_hostile_authorization_headers_are_only_ever_wrong_tokens() -> None:
    app = _guarded_app(NON_ASCII_TOKEN)
    for raw in (
        b"Bearer \xff\xfe\xfd",  # not UTF-8
        b"Bearer " + NON_ASCII_TOKEN.encode()[:5] + b"\xc3",  # cut mid-character
        b"Bearer " + b"\x80" * 64,
        b"Bearer " + b"A" * 200_000,  # huge
        b"Bearer \x00token",
    ):
        assert await _post(app, raw) == 403, raw[:20]
    with pytest.raises(Forbidden, match="too long"):
        Guard("s3cret").require_token({"authorization": "Bearer " + "s" * 100_000})


@given(st.binary(max_size=120))
def test_any_header_bytes_are_refused_unless_they_are_the_token(raw: bytes) -> None:
    guard = Guard(NON_ASCII_TOKEN)
    header = raw.decode("latin-1")  # what ASGI servers hand Starlette
    try:
        guard.require_token({"authorization": header})
    except (Unauthorized, Forbidden):
        return
    assert header.strip().partition(" ")[2].strip().encode("latin-1") == NON_ASCII_TOKEN.encode()
