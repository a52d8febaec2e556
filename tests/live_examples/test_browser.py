"""Real browser: headless Debian Chromium driven by Playwright against a Hypercorn server.

The client script is the shipped one; the server is the examples app on 127.0.0.1.
Clicks, typing, submits and keys change the DOM; killing the session actor makes the
page rejoin and carry on; killing the connection's actor makes it reconnect; two
browser contexts chat and see each other come and go; links navigate without a reload.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from lightflow_actors import ActorSystem, AnyRef
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live_examples import start_examples

from ..live.live_server import serving

# One driver and one Chromium per module (shared_chromium.py): `async_playwright()` and
# `pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)` hand a test the shared browser.
from .shared_chromium import ARGS, CHROMIUM, async_playwright

try:
    from playwright.async_api import Browser, Page
except ImportError:  # pragma: no cover - playwright is a dev dependency
    async_playwright = None

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.skipif(async_playwright is None, reason="playwright is not installed"),
    pytest.mark.usefixtures("shared_chromium"),
]


@asynccontextmanager
async def app() -> AsyncIterator[tuple[str, LiveRoutes, ActorSystem, Browser]]:
    async with ActorSystem("browser", seed=11) as system:
        routes = await start_examples(system, tick_interval=0.2)
        async with serving(routes.routes) as base, async_playwright() as pw:
            # The module's Chromium (shared_chromium.py): each page gets its own isolated
            # context, and browser.close() closes this test's contexts.
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield base, routes, system, browser
            finally:
                await browser.close()
        await routes.hub.stop()


async def open_page(browser: Browser, url: str) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await page.wait_for_selector("[data-lf-status=connected]")
    page.set_default_timeout(15_000)
    assert not errors, errors
    return page


ANSWERED = "() => window.lightflowLive.socket.pending.size === 0"
"""Every event the page sent is answered (a patch with its ref, or an error frame). Not
the absence of ``.lf-loading``: a fast answer never shows the loading state (ADR 0130)."""


async def text_is(page: Page, selector: str, text: str) -> None:
    await page.wait_for_function(
        "([s, t]) => document.querySelector(s) && document.querySelector(s).textContent === t",
        arg=[selector, text],
    )


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never: {what}")


async def replaced(
    current: Callable[[], Awaitable[list[AnyRef]]], killed: AnyRef, what: str
) -> None:
    """Wait until ``killed`` has a successor. The page's "disconnected" status can last
    only milliseconds (the client reconnects at once), so tests wait for what stays."""

    async def check() -> bool:
        now = await current()
        return bool(now) and killed not in now

    await eventually(check, f"{what} after the kill")


async def test_counter_clicks_keys_loading_state_and_url() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/counter?count=5")
        # The click leaves the button as it was: no loading state in the click's task, so
        # the browser has no frame to paint before it reads a fast answer (ADR 0130;
        # before, lf-loading and aria-busy went on here).
        in_click = await page.evaluate(
            """() => {
                const inc = document.querySelector('#inc');
                inc.click();
                return [inc.className, inc.getAttribute('aria-busy')];
            }"""
        )
        assert "lf-loading" not in in_click[0] and in_click[1] is None, in_click
        await text_is(page, "#count", "6")
        await page.wait_for_function(ANSWERED)
        # A slow answer (the page reads frames 1 s late): the loading state goes on
        # once the event has waited LOADING_DELAY_MS (100 ms), and off with the answer.
        await page.evaluate(
            """() => {
                const socket = window.lightflowLive.socket, receive = socket.receive;
                window.restoreReceive = () => { socket.receive = receive; };
                socket.receive = function (text) {
                    setTimeout(() => receive.call(socket, text), 1000);
                };
            }"""
        )
        await page.click("#inc")
        await page.wait_for_selector("#inc.lf-loading[aria-busy=true]")
        await text_is(page, "#count", "7")
        await page.wait_for_selector("#inc.lf-loading", state="detached")
        assert await page.get_attribute("#inc", "aria-busy") is None
        await page.evaluate("window.restoreReceive()")
        await page.click("#inc10")
        await text_is(page, "#count", "17")
        await page.fill("#set", "99")
        await page.press("#set", "ArrowLeft")  # lf-key="Enter": other keys send nothing
        await page.press("#set", "Enter")
        await text_is(page, "#count", "99")
        assert page.url.endswith("/counter?count=99")  # pushed into the URL


async def test_killed_session_rejoins_and_continues() -> None:
    async with app() as (base, routes, system, browser):
        page = await open_page(browser, f"{base}/counter?count=1")
        await page.click("#inc")
        await text_is(page, "#count", "2")
        [session] = await routes.hub.sessions()
        system.kill(session)
        await replaced(routes.hub.sessions, session, "a rejoined session")
        await page.wait_for_selector("[data-lf-status=connected]")
        [again] = await routes.hub.sessions()
        assert again != session
        await text_is(page, "#count", "2")  # re-mounted from the URL the view kept
        await page.click("#inc")
        await text_is(page, "#count", "3")


async def test_killed_connection_reconnects_and_continues() -> None:
    async with app() as (base, routes, system, browser):
        page = await open_page(browser, f"{base}/counter")
        [transport] = await routes.hub.transports()
        system.kill(transport)
        await replaced(routes.hub.transports, transport, "a new connection")
        await page.wait_for_selector("[data-lf-status=connected]")
        await page.click("#inc")
        await text_is(page, "#count", "1")


async def test_two_browsers_chat_and_see_each_other() -> None:
    async with app() as (base, _routes, _system, browser):
        ada = await open_page(browser, f"{base}/chat?name=ada")
        bob = await open_page(browser, f"{base}/chat?name=bob")
        await ada.wait_for_selector("#person-bob")
        await bob.wait_for_selector("#person-ada")
        await ada.fill("#text", "hello bob")
        await ada.press("#text", "Enter")
        await bob.wait_for_selector("#messages li:has-text('hello bob')")
        await ada.wait_for_selector("#messages li:has-text('hello bob')")
        await ada.wait_for_function("document.querySelector('#text').value === ''")
        await bob.fill("#text", "hi ada")
        await bob.click("#send")
        await ada.wait_for_selector("#messages li:has-text('hi ada')")
        await bob.context.close()  # bob leaves: his session stops, presence diff goes out
        await ada.wait_for_selector("#person-bob", state="detached")
        await text_is(ada, "#count", "1")


async def test_form_recovery_after_a_session_crash() -> None:
    async with app() as (base, routes, system, browser):
        page = await open_page(browser, f"{base}/chat?name=cy")
        await page.fill("#text", "said before the crash")
        await page.press("#text", "Enter")
        await page.wait_for_selector("#messages li:has-text('said before the crash')")
        await page.type("#text", "half a thought")
        draft = "half a thought"
        await eventually(lambda: _equals(_server_draft(page), draft), "the draft on the server")
        [session] = await routes.hub.sessions()
        system.kill(session)
        await replaced(routes.hub.sessions, session, "a rejoined session")
        await page.wait_for_selector("[data-lf-status=connected]")
        assert await page.input_value("#text") == "half a thought"
        # the user's own message is still on the page: the room keeps it, not the session
        assert await page.locator("#messages li:has-text('said before the crash')").count() == 1
        # the new session learnt the draft from the form recovery event
        await eventually(lambda: _equals(_server_draft(page), draft), "the recovered draft")
        await page.press("#text", "Enter")
        await page.wait_for_selector("#messages li:has-text('half a thought')")


async def _server_draft(page: Page) -> str | None:
    # The server renders its draft as the field's value attribute; the morph copies it.
    value: str | None = await page.get_attribute("#text", "value")
    return value


async def test_navigation_without_a_full_reload() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/counter?count=4")
        await page.evaluate("window.marker = 'kept'")
        await page.click("#reset")  # lf-patch: same view, new params
        await text_is(page, "#count", "0")
        await page.wait_for_url("**/counter?count=0")  # the history entry may follow the paint
        await page.click("#to-chat")  # lf-navigate: another view, same page
        await page.wait_for_selector("#composer")
        await page.wait_for_url("**/live/chat")
        await page.go_back()
        await page.wait_for_selector("#count")
        await text_is(page, "#count", "0")
        await page.click("#to-table")
        await page.wait_for_selector("#row-999")
        version = await page.text_content("#version")
        await page.wait_for_function(
            "v => document.querySelector('#version').textContent !== v", arg=version
        )
        await page.click("#sort-price")
        assert await page.evaluate("window.marker") == "kept"  # never reloaded
