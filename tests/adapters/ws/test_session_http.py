"""The cookie session over real HTTP and WebSocket: the page sets the signed cookie, a
halted mount answers 303 with a flash cookie, ``{base}/session`` applies a view's
`PutSession` and refuses stale, forged or foreign tokens, a WebSocket without the
page's cookie is refused, and hostile cookie headers never get a 5xx."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import LiveHub, WebSocketView
from lightflow_actors.live_examples.auth import auth_views

from ...live.live_server import serving
from ._handshake import join_refused, page_ids

pytestmark = pytest.mark.anyio
SECRET = b"h" * 32


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[tuple[str, LiveHub]]:
    async with ActorSystem("session-http", seed=5) as system:
        hub = LiveHub(system, auth_views(), secret=SECRET)
        async with serving(LiveRoutes(hub).routes) as base:
            yield base, hub
        await hub.stop()


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def test_the_page_sets_a_signed_http_only_cookie_and_a_halt_redirects() -> None:
    async with server() as (base, hub), httpx.AsyncClient() as http:
        halted = await http.get(f"{base}/account")
        assert halted.status_code == 303
        assert halted.headers["location"] == "login?next=account"
        cookies = set_cookie_headers(halted)
        session = cookies["lf_live_session"].lower()
        assert "httponly" in session and "samesite=lax" in session and "path=/" in session
        assert "max-age=60" in cookies["lf_live_flash"].lower()
        login = await http.get(f"{base}/login?next=account")  # the jar sends both back
        assert login.status_code == 200
        assert "Log in to see that page." in login.text and "data-lf-flash=" in login.text
        assert (
            'lf_live_flash=""' in set_cookie_headers(login)["lf_live_flash"]
        )  # read once, deleted
        sid = hub.seal.read_session(http.cookies["lf_live_session"]).sid
        assert sid == hub.seal.read_session(halted.cookies["lf_live_session"]).sid


async def test_the_session_route_applies_only_good_tokens_of_this_browser() -> None:
    async with server() as (base, hub), httpx.AsyncClient() as http:
        await http.get(f"{base}/login")
        sid = hub.seal.read_session(http.cookies["lf_live_session"]).sid
        change = hub.seal.seal_change(
            sid, to="account", put={"user": "ada"}, drop=(), clear=False, renew=True,
            flash={"info": "hi"},
        )  # fmt: skip
        async with httpx.AsyncClient() as stranger:
            foreign = await stranger.get(f"{base}/session", params={"change": change})
        assert foreign.status_code == 403 and "wrong_session" in foreign.text
        garbage = await http.get(f"{base}/session", params={"change": "x" * 5000})
        assert garbage.status_code == 400 and "oversized" in garbage.text
        applied = await http.get(f"{base}/session", params={"change": change})
        assert (applied.status_code, applied.headers["location"]) == (303, "account")
        assert hub.seal.read_session(http.cookies["lf_live_session"]).data == {"user": "ada"}
        account = await http.get(f"{base}/account")
        assert 'Signed in as <b id="user">ada</b>' in account.text and "hi" in account.text


async def test_a_websocket_join_needs_the_cookie_its_page_set() -> None:
    async with server() as (base, _hub), httpx.AsyncClient() as http:
        await http.get(f"{base}/login")
        mine = http.cookies["lf_live_session"]
        async with httpx.AsyncClient() as stranger:
            await stranger.get(f"{base}/login")
            theirs = stranger.cookies["lf_live_session"]
        view = await WebSocketView.open(base, "login", http=http)  # sends the jar's cookie
        assert "Log in" in view.html()
        await view.close()
        page = await http.get(f"{base}/login")
        session_id, token = page_ids(page.text)
        port = int(base.split(":")[2].split("/")[0])
        for cookie in (
            None,
            "lf_live_session=forged.value",
            f"lf_live_session={mine}x",
            f"lf_live_session={theirs}",
        ):
            refusal = await join_refused(port, "login", session_id, token, cookie=cookie)
            assert refusal.code == "unauthorized", cookie


@contextlib.asynccontextmanager
async def asgi() -> AsyncIterator[httpx.AsyncClient]:
    async with ActorSystem("session-props", seed=6) as system:
        hub = LiveHub(system, auth_views(), secret=SECRET)
        app = Starlette(routes=[Mount("/live", routes=LiveRoutes(hub).routes)])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client
        await hub.stop()


cookie_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=6000),
    st.binary(max_size=600).map(lambda b: b.hex() + "." + b.hex()),
    st.sampled_from(["", ".", "..", "a.b", "=" * 10, "%FF%FE", "\\x00"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=cookie_values, flash=cookie_values, path=st.sampled_from(["login", "account"]))
async def test_hostile_cookies_never_get_a_server_error(
    session: str, flash: str, path: str
) -> None:
    async with asgi() as client:
        headers = {"cookie": f"lf_live_session={session}; lf_live_flash={flash}"}
        response = await client.get(f"/live/{path}", headers=headers)
        assert response.status_code in (200, 303)
        assert "lf_live_session=" in response.headers.get("set-cookie", "")  # a fresh session
        change = await client.get("/live/session", params={"change": session}, headers=headers)
        assert change.status_code in (400, 403)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(min_size=1, max_size=2000))
async def test_invalid_utf8_cookie_bytes_never_get_a_server_error(raw: bytes) -> None:
    async with asgi() as client:
        headers = [(b"cookie", b"lf_live_session=" + raw.replace(b"\r", b"").replace(b"\n", b""))]
        response = await client.get("/live/account", headers=headers)
        assert response.status_code == 303
