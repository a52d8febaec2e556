"""Real browser: log in, see the protected page, flash across a patch and a navigation,
log out (a second tab of that browser leaves the protected page by itself); a join token
lifted into a second browser context is refused and that page reloads into its own
(logged-out) session."""

from __future__ import annotations

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import LiveHub
from lightflow_actors.live_examples.auth import auth_views

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, pytestmark, text_is  # noqa: F401

CONNECTED = "[data-lf-status=connected]"


async def test_log_in_flash_navigation_log_out_and_a_lifted_token() -> None:
    async with ActorSystem("browser-auth", seed=12) as system:
        hub = LiveHub(system, auth_views(), secret=b"b" * 32)
        async with serving(LiveRoutes(hub).routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                ada = await (await browser.new_context()).new_page()
                ada.set_default_timeout(15_000)
                errors: list[str] = []
                ada.on("pageerror", lambda error: errors.append(str(error)))
                await ada.goto(f"{base}/account")  # not logged in: 303 to the login page
                assert ada.url.endswith("/live/login?next=account")
                await ada.wait_for_selector(CONNECTED)
                assert "Log in to see that page." in await ada.inner_text(".lf-flash-error")
                await ada.fill("input[name=name]", "ada")
                await ada.fill("input[name=password]", "nope")
                await ada.click("#log-in")
                await text_is(ada, "#login-error", "Unknown name or wrong password.")
                await ada.fill("input[name=password]", "lovelace")
                await ada.click("#log-in")
                await ada.wait_for_url(f"{base}/account")
                await ada.wait_for_selector(CONNECTED)
                await text_is(ada, "#user", "ada")
                await text_is(ada, ".lf-flash-info", "Welcome, ada!")
                # a marker that a full page load would wipe: what follows is all live
                await ada.evaluate("window.stayed = true")
                await ada.click("#save")
                await text_is(ada, "#saves", "1")
                await ada.wait_for_url(f"{base}/account?saves=1")
                await text_is(ada, ".lf-flash-info", "Saved.")
                await ada.click(".lf-flash-info")  # lf:clear-flash
                await ada.wait_for_selector(".lf-flash-info", state="detached")
                await ada.click("#to-profile")
                await ada.wait_for_url(f"{base}/profile")
                await text_is(ada, ".lf-flash-info", "Here is your profile.")
                await text_is(ada, "#user", "ada")
                assert await ada.evaluate("window.stayed === true")
                # a second browser (another context: its own cookies) gets hold of ada's
                # session id and token (say a script copied them) and joins with them
                lifted = await ada.evaluate(
                    "['lfSession', 'lfToken'].map(k => document.querySelector"
                    "('[data-lf-root]').dataset[k])"
                )
                thief = await (await browser.new_context()).new_page()
                thief.set_default_timeout(15_000)
                refusals: list[str] = []

                def frames(ws: object) -> None:
                    ws.on(  # type: ignore[attr-defined]
                        "framereceived",
                        lambda data: refusals.append(data) if "unauthorized" in str(data) else None,
                    )

                thief.on("websocket", frames)
                await thief.goto(f"{base}/login")
                await thief.wait_for_selector(CONNECTED)
                await thief.evaluate(
                    """([session, token]) => {
                        const live = window.lightflowLive.socket;
                        history.replaceState({}, "", "profile");
                        live.view = "profile";
                        live.session = session;
                        live.token = token;
                        live.ws.close();   // it reconnects and joins as ada's page
                    }""",
                    lifted,
                )
                # refused (the token is bound to ada's session cookie): the page reloads
                # into its own session, which has no user: off to the login page
                await thief.wait_for_url(f"{base}/login?next=account")
                await thief.wait_for_selector(CONNECTED)
                assert refusals and "the session token is not this browser's" in refusals[0]
                assert "Log in to see that page." in await thief.inner_text(".lf-flash-error")
                # ada is untouched; she opens a second tab, then logs out in the first
                await text_is(ada, "#user", "ada")
                second = await ada.context.new_page()
                second.set_default_timeout(15_000)
                await second.goto(f"{base}/profile")
                await second.wait_for_selector(CONNECTED)
                await ada.click("#log-out")
                await ada.wait_for_url(f"{base}/login")
                await ada.wait_for_selector(CONNECTED)
                await text_is(ada, ".lf-flash-info", "You are logged out.")
                # the second tab's socket was closed; its rejoin refused, it reloaded
                await second.wait_for_url(f"{base}/login?next=account")
                await second.wait_for_selector(CONNECTED)
                await ada.goto(f"{base}/account")
                assert ada.url.endswith("/live/login?next=account")
                assert not errors, errors
            finally:
                await browser.close()
        await hub.stop()
