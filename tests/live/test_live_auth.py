"""Auth and session plumbing through the test DSL: mount sees cookies, headers and the
signed session; `on_mount` hooks and `live_session` groups; join tokens bound to the
browser's session cookie; flash across patch, navigation and redirect; `PutSession`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.ws import start_transport
from lightflow_actors.isa import ErrorFrame, Mount, Render, Shutdown
from lightflow_actors.live import (
    ClearFlash,
    Halt,
    LiveHub,
    LiveSessionError,
    LiveView,
    Params,
    PushNavigate,
    PushPatch,
    PutFlash,
    PutSession,
    Redirect,
    Rendered,
    SessionInfo,
    Template,
    Update,
    ViewDefinitionError,
    ViewSpec,
    flash_group,
    live_session,
)
from lightflow_actors.live._program import ViewProgram
from lightflow_actors.testing.live import (
    DEFAULT_WAIT,
    LiveRedirect,
    LiveTest,
    LiveTestError,
    LiveViewHandle,
    MemorySocket,
    live_test,
)

pytestmark = pytest.mark.anyio

SECRET = b"a" * 32
CALLS: list[str] = []

PAGE = Template(
    '<p>user: <b id="user">{user}</b> theme: {theme} agent: {agent} n: {n}</p>'
    '<button lf-click="flash" lf-value-kind="info">f</button>'
)
LAYOUT = Template('<div id="layout">{flash}{inner}</div>')


class Info(msgspec.Struct, frozen=True):
    user: str = ""
    theme: str = ""
    agent: str = ""
    n: int = 0


class Flash(msgspec.Struct, frozen=True, tag="flash"):
    kind: str = "info"
    message: str = "hello"


class Clear(msgspec.Struct, frozen=True, tag="clear"):
    kind: str | None = None


class Patch(msgspec.Struct, frozen=True, tag="patch"):
    pass


class Go(msgspec.Struct, frozen=True, tag="go"):
    view: str = "other"


class Leave(msgspec.Struct, frozen=True, tag="leave"):
    to: str = "public"


class LogIn(msgspec.Struct, frozen=True, tag="login"):
    user: str = "ada"


class LogOut(msgspec.Struct, frozen=True, tag="logout"):
    pass


Events = Flash | Clear | Patch | Go | Leave | LogIn | LogOut


class Page(LiveView[Info, Events]):
    """Shows what mount was given; each event exercises one command."""

    def mount(self, params: Params, session: SessionInfo) -> Info:
        CALLS.append("mount")
        user = session.assigns.get("user", session.signed.get("user", ""))
        return Info(
            str(user), session.cookies.get("theme", ""), session.headers.get("user-agent", "")
        )

    def handle_params(self, params: Params, state: Info) -> Info:
        return Info(state.user, state.theme, state.agent, int(params.get("n", "0")))

    def handle_event(self, event: Events, state: Info) -> Info | Update[Info]:
        match event:
            case Flash(kind=kind, message=message):
                return Update(state, (PutFlash(kind=kind, message=message),))
            case Clear(kind=kind):
                return Update(state, (ClearFlash(kind=kind),))
            case Patch():
                patch = PushPatch({"n": str(state.n + 1)})
                return Update(state, (PutFlash(kind="info", message="patched"), patch))
            case Go(view=view):
                return Update(
                    state, (PutFlash(kind="info", message="went"), PushNavigate(view=view))
                )
            case Leave(to=to):
                return Update(state, (PutFlash(kind="info", message="left"), Redirect(url=to)))
            case LogIn(user=user):
                put = PutSession(to="secret", put={"user": user}, renew=True)
                return Update(state, (PutFlash(kind="info", message=f"hi {user}"), put))
            case LogOut():
                return Update(state, (PutSession(to="public", clear=True, renew=True),))
        return state

    def layout(self, inner: Rendered, flash: Mapping[str, str]) -> Rendered:
        return LAYOUT(flash=flash_group(flash), inner=inner)

    def render(self, state: Info) -> Rendered:
        return PAGE(user=state.user, theme=state.theme, agent=state.agent, n=state.n)


def needs_user(params: Params, session: SessionInfo) -> SessionInfo | Halt:
    CALLS.append("needs_user")
    user = session.signed.get("user")
    if not isinstance(user, str):
        return Halt("public?from=secret", flash={"error": "log in first"})
    return session.assign(user=user.upper())


async def audit(params: Params, session: SessionInfo) -> SessionInfo:
    CALLS.append(f"audit connected={session.connected}")
    return session


class Guarded(Page):
    on_mount = (audit,)


class HaltsOnJoin(Page):
    on_mount = (lambda params, session: Halt("public") if session.connected else session,)


class Junk(Page):
    on_mount = (lambda params, session: "yes",)  # type: ignore[arg-type,return-value]


def views() -> dict[str, object]:
    grouped = live_session(
        "signed_in", {"secret": Guarded(), "other": Page()}, on_mount=[needs_user]
    )
    return {"public": Page(), "joinhalt": HaltsOnJoin(), "junk": Junk(), **grouped}


def auth_test() -> object:
    return live_test(views(), secret=SECRET)  # type: ignore[arg-type]


def flash_of(view: LiveViewHandle) -> str:
    html = view.html()
    return html.split('<div class="lf-flash-group" aria-live="polite">')[1].split("</div><p>")[0]


async def test_mount_sees_cookies_headers_and_the_signed_session() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("public", cookies={"theme": "dark"}, session={"user": "ada"})
        assert 'user: <b id="user">ada</b> theme: dark agent: lightflow-live-test' in view.html()
        other = await live.mount("public", headers={"User-Agent": "Firefox"})
        assert "agent: Firefox" in other.html()
        assert live.session == {"user": "ada"}


async def test_a_hook_halts_the_get_and_the_redirect_carries_its_flash() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        with pytest.raises(LiveRedirect) as halted:
            await live.mount("secret")
        assert (halted.value.to, halted.value.flash) == (
            "public?from=secret",
            {"error": "log in first"},
        )
        page = await live.follow_redirect(halted.value)
        assert "log in first" in flash_of(page)
        again = await live.mount("public")  # the flash cookie was read once
        assert flash_of(again) == ""


async def test_hooks_run_group_first_then_the_view_and_assign_before_mount() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        CALLS.clear()
        view = await live.mount("secret", session={"user": "ada"})
        assert 'user: <b id="user">ADA</b>' in view.html()  # the hook's assign
        assert CALLS == [
            "needs_user", "audit connected=False", "mount",  # the page's GET
            "needs_user", "audit connected=True", "mount",  # the WebSocket join
        ]  # fmt: skip


async def test_a_hook_halts_the_websocket_join_too() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        with pytest.raises(LiveRedirect) as halted:
            await live.mount("joinhalt")
        assert halted.value.to == "public"
        assert await live.hub.sessions() == []  # the halted session stopped


async def test_a_hook_that_returns_something_else_is_a_definition_error() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        with pytest.raises(ViewDefinitionError, match="return the session info"):
            await live.mount("junk")


async def join_with(live: LiveTest, session_id: str, token: str) -> ErrorFrame | None:
    """Join `public` from the browser `live` with someone else's session id and token."""
    socket = MemorySocket()
    handle = LiveViewHandle(
        live.hub, await start_transport(live.hub, socket, live.request()), socket
    )
    await handle.send_raw(handle.client.hello())
    await handle.send(handle.client.mount_instruction("public", session_id, token, {}))
    await handle.send(Render())
    await handle.settle(lambda: bool(handle.errors) or handle.client.renders > 0)
    errors = [e for e in handle.errors if isinstance(e, ErrorFrame)]
    return errors[0] if errors else None


async def test_a_token_lifted_into_another_browser_is_refused() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        ada = await live.mount("public", session={"user": "ada"})
        sid = ada.client.session_id or ""
        assert await join_with(live, sid, ada.token) is None  # her own browser rejoins
        thief = live.new_browser()
        refused = await join_with(thief, sid, ada.token)
        assert refused is not None
        assert (refused.code, refused.path) == ("unauthorized", "$.instruction.params.token")
        assert "no session cookie came with the WebSocket" in refused.message
        await thief.mount("public")  # with a session cookie of its own: still not hers
        refused = await join_with(thief, sid, ada.token)
        assert refused is not None and "another browser session" in refused.message
        thief.cookies[live.hub.session_cookie.name] = "tampered.cookie"
        refused = await join_with(thief, sid, ada.token)
        assert (
            refused is not None
            and "its session cookie was refused (bad_signature" in refused.message
        )


async def test_live_navigation_stays_inside_its_live_session() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("secret", session={"user": "ada"})
        await view.navigate("other")  # same group: no page load
        assert view.view == "other" and "ADA" in view.html()
        with pytest.raises(LiveTestError, match="in live_session '', this page's in 'signed_in'"):
            await view.navigate("public")
        assert view.errors[-2].code == "unexpected_frame"  # type: ignore[union-attr]


async def test_flash_stays_through_a_patch_and_clears() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("public")
        await view.click("flash")
        assert (
            'lf-flash-info" role="alert" lf-click="lf:clear-flash" lf-value-kind="info">hello'
            in view.html()
        )
        await view.push("patch", {})
        assert view.assert_patch("n=1") == {"n": "1"}
        await view.live_patch({"n": "1"})
        assert "n: 1" in view.html() and "patched" in flash_of(view)
        await view.push("flash", {"kind": "error", "message": "bad"})
        await view.push("clear", {"kind": "info"})
        assert "patched" not in flash_of(view) and "bad" in flash_of(view)
        await view.click("lf:clear-flash", {"kind": "error"})  # the flash's own button
        assert flash_of(view) == ""
        await view.push("lf:clear-flash", {"kind": 3})
        assert view.errors[-1].path == "$.instruction.payload.kind"  # type: ignore[union-attr]


async def test_flash_goes_with_a_live_navigation_and_a_redirect() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("secret", session={"user": "ada"})
        await view.push("go", {"view": "other"})
        assert view.assert_redirect() == "other"
        same = await live.follow_redirect(view)  # on the same connection
        assert same is view and view.view == "other" and "went" in flash_of(view)
        await view.push("leave", {"to": "public"})
        assert view.assert_redirect("public") == "public"  # through {base}/session
        page = await live.follow_redirect(view)
        assert page.view == "public" and "left" in flash_of(page)
        with pytest.raises(LiveTestError, match="did not patch"):
            page.assert_patch()


async def test_put_session_logs_in_renews_the_sid_and_old_pages_are_refused() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        public = await live.mount("public")
        before = live.hub.seal.read_session(live.cookies[live.hub.session_cookie.name]).sid
        await public.push("login", {"user": "grace"})
        assert public.assert_redirect() == "secret"
        secret = await live.follow_redirect(public)
        assert 'user: <b id="user">GRACE</b>' in secret.html() and "hi grace" in flash_of(secret)
        assert live.session == {"user": "grace"}
        after = live.hub.seal.read_session(live.cookies[live.hub.session_cookie.name]).sid
        assert after != before
        # the page served before the log in carries a token of the old sid: refused
        refused = await join_with(live, public.client.session_id or "", public.token)
        assert refused is not None and refused.code == "unauthorized"
        await secret.push("logout", {})
        await live.follow_redirect(secret)
        assert live.session == {}
        with pytest.raises(LiveRedirect):
            await live.mount("secret")


async def test_a_change_token_is_good_for_its_own_browser_only() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        public = await live.mount("public")
        await public.push("login", {"user": "ada"})
        stranger = live.new_browser()
        await stranger.mount("public")
        with pytest.raises(LiveTestError, match="issued for another browser session"):
            await stranger.follow_redirect(public)
        assert stranger.session == {}


async def test_a_bad_flash_token_in_a_mount_is_dropped() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("public")
        await view.navigate("public", flash="forged.flash")
        assert flash_of(view) == "" and not view.errors
        other = live.new_browser()
        await other.mount("public")
        mine = live.hub.seal.seal_flash({"info": "for someone else"}, "0" * 32)
        await view.navigate("public", flash=mine)
        assert flash_of(view) == "" and not view.errors


def test_put_session_needs_a_browser_session() -> None:
    program = ViewProgram(ViewSpec("public", Page()), SessionInfo("s", True))
    program.state = Info()
    with pytest.raises(LiveSessionError, match="serve the view through"):
        program._apply(Update(Info(), (PutSession(to="public"),)), None)


async def test_each_hub_has_its_own_cookie() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        assert live.hub.session_cookie.name == "lf_live_session"
        other = LiveHub(live.system, {}, name="observer")
        names = (other.session_cookie.name, other.session_cookie.flash_name)
        assert names == ("lf_observer_session", "lf_observer_flash")
        odd = LiveHub(live.system, {}, name="runs page/2")
        assert odd.session_cookie.name == "lf_runs_page_2_session"


async def closed(view: LiveViewHandle) -> None:
    """Wait (at most the DSL's deadlock guard) until the server closes `view`'s socket."""

    async def poll() -> None:
        while True:
            view.socket.arrived.clear()  # before the check: a close in between sets it
            if view.closed:
                return
            await view.socket.arrived.wait()

    await asyncio.wait_for(poll(), DEFAULT_WAIT)


async def test_log_out_closes_the_other_tabs_of_that_browser_only() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        tab = await live.mount("secret", session={"user": "ada"})
        other_tab = await live.mount("other")  # the same browser: its jar, her session
        public_tab = await live.mount("public")
        before = live.hub.seal.read_session(live.cookies[live.hub.session_cookie.name]).sid
        grace = live.new_browser()
        graces = await grace.mount("secret", session={"user": "grace"})
        await tab.push("logout", {})
        await live.follow_redirect(tab)
        await closed(other_tab)
        assert other_tab.socket.close_code == 1000
        assert "the browser's session ended" in other_tab.socket.close_reason
        # its page reconnects and rejoins: refused (its token names the old sid), so it
        # reloads into the new, empty session
        refused = await join_with(live, other_tab.client.session_id or "", other_tab.token)
        assert refused is not None and refused.code == "unauthorized"
        assert before != live.hub.seal.read_session(live.cookies[live.hub.session_cookie.name]).sid
        await graces.click("flash")  # another browser's tab lives on
        assert not graces.closed and "hello" in flash_of(graces)
        await public_tab.settle()
        assert public_tab.closed  # a tab of that browser on a public view: closed too


async def test_an_oversized_flash_in_a_mount_is_malformed() -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("public")
        await view.send(Shutdown(reason="normal", detail="navigate"))
        sid = view.client.session_id or ""
        params = {"token": view.token, "params": {}, "flash": "x" * 4001}
        await view.send(Mount(id=sid, target="public", params=params))
        await view.settle(lambda: bool(view.errors))
        error = view.errors[-1]
        assert isinstance(error, ErrorFrame) and error.code == "malformed_frame"
        assert error.path == "$.instruction.params.flash"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flash=st.one_of(st.text(max_size=600), st.binary(max_size=300).map(lambda b: b.hex())))
async def test_any_flash_token_in_a_mount_is_dropped_or_refused_never_a_crash(flash: str) -> None:
    async with auth_test() as live:  # type: ignore[attr-defined]
        view = await live.mount("public")
        transport = view.transport
        await view.send(Shutdown(reason="normal", detail="navigate"))
        sid = view.client.session_id or ""
        renders = view.client.renders
        await view.send(
            Mount(id=sid, target="public", params={"token": view.token, "flash": flash})
        )
        await view.send(Render())
        await view.settle(lambda: view.client.renders > renders or bool(view.errors))
        if view.client.renders > renders:
            assert flash_of(view) == ""  # nothing the hub did not sign shows
        else:
            error = view.errors[-1]
            assert isinstance(error, ErrorFrame) and error.path == "$.instruction.params.flash"
        assert not view.closed and transport in await live.hub.transports()
