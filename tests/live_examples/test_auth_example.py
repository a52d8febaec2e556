"""The login example driven by the test DSL: the protected page sends a stranger to log
in (with a flash), a wrong password stays on the form, the right one writes the signed
session through ``{base}/session`` and lands on the account with a welcome, flash
survives a save (a live patch) and a live navigation, log out empties the session, and
a join token lifted into another browser is refused."""

from __future__ import annotations

import pytest

from lightflow_actors.adapters.ws import start_transport
from lightflow_actors.isa import ErrorFrame, Render
from lightflow_actors.live_examples.auth import auth_views, check_password
from lightflow_actors.testing.live import LiveRedirect, LiveViewHandle, MemorySocket, live_test

pytestmark = pytest.mark.anyio


def test_the_demo_passwords() -> None:
    assert check_password("ada", "lovelace") and check_password("grace", "hopper")
    assert not check_password("ada", "hopper") and not check_password("nobody", "")


async def test_log_in_see_the_account_flash_and_log_out() -> None:
    async with live_test(auth_views(), secret=b"e" * 32) as live:
        with pytest.raises(LiveRedirect) as halted:
            await live.mount("account")
        assert halted.value.to == "login?next=account"
        login = await live.follow_redirect(halted.value)
        assert "Log in to see that page." in login.html()
        await login.submit("login", {"name": "ada", "password": "wrong"})
        assert "Unknown name or wrong password." in login.html()
        assert login.last_nav is None  # no redirect: still on the form
        await login.submit("login", {"name": "ada", "password": "lovelace"})
        assert login.assert_redirect() == "account"
        account = await live.follow_redirect(login)
        assert 'Signed in as <b id="user">ada</b>' in account.html()
        assert "Welcome, ada!" in account.html()
        assert "Log in to see that page." not in account.html()  # the old flash was cleared
        assert live.session == {"user": "ada"}
        await account.click("save")
        assert account.assert_patch({"saves": "1"}) == {"saves": "1"}
        assert "Saved." in account.html() and '<span id="saves">1</span>' in account.html()
        await account.click("profile")
        same = await live.follow_redirect(account)
        assert same.view == "profile" and "Here is your profile." in same.html()
        await same.click("logout")
        assert same.assert_redirect() == "login"
        back = await live.follow_redirect(same)
        assert "You are logged out." in back.html()
        assert live.session == {}
        with pytest.raises(LiveRedirect):
            await live.mount("profile")


async def test_a_token_lifted_into_another_browser_is_refused() -> None:
    async with live_test(auth_views(), secret=b"e" * 32) as live:
        account = await live.mount("account", session={"user": "grace"})
        other = live.new_browser()
        socket = MemorySocket()
        transport = await start_transport(live.hub, socket, other.request())
        thief = LiveViewHandle(live.hub, transport, socket)
        await thief.send_raw(thief.client.hello())
        sid = account.client.session_id or ""
        await thief.send(thief.client.mount_instruction("account", sid, account.token, {}))
        await thief.send(Render())
        await thief.settle(lambda: bool(thief.errors))
        refusal = thief.errors[0]
        assert isinstance(refusal, ErrorFrame) and refusal.code == "unauthorized"
        assert thief.client.renders == 0 and "grace" not in thief.html()
