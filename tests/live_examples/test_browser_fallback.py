"""Real browser with WebSockets blocked: the page falls back to server-sent events, then to
long-polling, and everything works as over a WebSocket (specs/live-wire.md §17).

A proxy in front of the server (`Blocker`) refuses the WebSocket upgrade, and for the
long-poll cases also the event stream, as corporate proxies do. The counter, the chat
with presence, a form with validation and a real upload, a log-in and a protected page
run over each fallback; a page on either fallback moves to a WebSocket once the proxy
lets it through, and its view goes on where it was, without a reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.live import LiveConfig, LiveHub
from lightflow_actors.live_examples import start_examples
from lightflow_actors.live_examples.auth import auth_views
from lightflow_actors.live_examples.settings import SettingsView

from ..live.live_server import serving
from .test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    Browser,
    Page,
    async_playwright,
    eventually,
    pytestmark,
    text_is,
)

Fallback = Literal["sse", "longpoll"]
FALLBACKS: list[Fallback] = ["sse", "longpoll"]


class Blocker:
    """A proxy that refuses WebSocket upgrades (403) while `websockets` is False, and
    event streams (``GET …/sse``, 404) while `streams` is False."""

    def __init__(self, app: ASGIApp, fallback: Fallback) -> None:
        self.app = app
        self.websockets = False
        self.streams = fallback == "sse"
        self.refused: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not self.websockets:
            self.refused.append("websocket")
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        sse = scope["type"] == "http" and scope["path"].endswith("/sse")
        if sse and scope["method"] == "GET" and not self.streams:
            self.refused.append("sse")
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"blocked"})
            return
        await self.app(scope, receive, send)


@asynccontextmanager
async def blocked(
    routes: LiveRoutes, fallback: Fallback
) -> AsyncIterator[tuple[str, Blocker, Browser]]:
    proxies: list[Blocker] = []

    def wrap(app: ASGIApp) -> ASGIApp:
        proxies.append(Blocker(app, fallback))
        return proxies[0]

    async with serving(routes.routes, wrap=wrap) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield base, proxies[0], browser
        finally:
            await browser.close()


@asynccontextmanager
async def examples(fallback: Fallback) -> AsyncIterator[tuple[str, Blocker, Browser, LiveRoutes]]:
    async with ActorSystem("browser-fallback", seed=5) as system:
        routes = await start_examples(system, tick_interval=0.2)
        async with blocked(routes, fallback) as (base, proxy, browser):
            yield base, proxy, browser, routes
        await routes.hub.stop()


async def open_page(browser: Browser, url: str, fallback: Fallback, options: str = "") -> Page:
    context = await browser.new_context()
    # Probe for a WebSocket often, so a test sees the probes refused and (once let
    # through) the upgrade; fall back quickly.
    await context.add_init_script(
        f"window.lightflowLiveOptions = {{upgradeMs: 300, fallbackMs: 1500{options}}};"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await page.wait_for_selector(f"[data-lf-status=connected][data-lf-transport={fallback}]")
    page.set_default_timeout(15_000)
    assert not errors, errors
    return page


@pytest.mark.parametrize("fallback", FALLBACKS)
async def test_counter_over_a_fallback(fallback: Fallback) -> None:
    async with examples(fallback) as (base, proxy, browser, _):
        page = await open_page(browser, f"{base}/counter?count=5", fallback)
        assert "websocket" in proxy.refused
        assert ("sse" in proxy.refused) == (fallback == "longpoll")
        await page.click("#inc")
        await text_is(page, "#count", "6")
        await page.click("#inc10")
        await text_is(page, "#count", "16")
        await page.fill("#set", "99")
        await page.press("#set", "Enter")
        await text_is(page, "#count", "99")
        assert page.url.endswith("/counter?count=99")
        for _ in range(30):  # a burst: every click answered, in order
            await page.click("#inc")
        await text_is(page, "#count", "129")
        assert "lf-loading" not in (await page.get_attribute("#inc", "class") or "")
        # The tab remembers the fallback (as Phoenix's LongPoll memory): no new wait.
        remembered = await page.evaluate("sessionStorage.getItem('lightflow:transport')")
        assert remembered == fallback


@pytest.mark.parametrize("fallback", FALLBACKS)
async def test_chat_with_presence_over_a_fallback(fallback: Fallback) -> None:
    async with examples(fallback) as (base, _, browser, routes):
        ada = await open_page(browser, f"{base}/chat?name=ada", fallback)
        bob = await open_page(browser, f"{base}/chat?name=bob", fallback)
        await ada.wait_for_selector("#person-bob")
        await bob.wait_for_selector("#person-ada")
        await ada.fill("#text", "hello bob")
        await ada.press("#text", "Enter")
        await bob.wait_for_selector("#messages li:has-text('hello bob')")
        await ada.wait_for_function("document.querySelector('#text').value === ''")
        await bob.fill("#text", "hi ada")
        await bob.click("#send")
        await ada.wait_for_selector("#messages li:has-text('hi ada')")
        await bob.goto("about:blank")  # bob leaves: the page says so on its way out
        await ada.wait_for_selector("#person-bob", state="detached")
        await text_is(ada, "#count", "1")

        async def one_left() -> bool:
            return routes.fallback.open_connections == 1

        await eventually(one_left, "bob's connection closed")


@pytest.mark.parametrize("fallback", FALLBACKS)
async def test_a_form_and_an_upload_over_a_fallback(fallback: Fallback, tmp_path: Path) -> None:
    content = bytes(range(256)) * 600  # 153 600 bytes: five chunks of 32 KiB
    avatar = tmp_path / "me.png"
    avatar.write_bytes(content)
    async with ActorSystem("browser-fallback-form", seed=6) as system:
        hub = LiveHub(
            system,
            {"settings": SettingsView(stats_delay=0.01)},
            config=LiveConfig(upload_dir=str(tmp_path / "uploads")),
        )
        async with blocked(LiveRoutes(hub), fallback) as (base, _, browser):
            page = await open_page(browser, f"{base}/settings", fallback)
            await page.set_input_files("#lf-upload-avatar", str(avatar))
            await text_is(page, "#entry-0 .pct", "100%")
            await page.fill("#f-name", "A")
            await text_is(page, "#name-error", "Expected `str` of length >= 2")
            assert await page.text_content("#email-error") == ""  # not touched yet
            await page.fill("#f-name", "Ada")
            await page.fill("#f-email", "ada@example.org")
            await text_is(page, "#name-error", "")
            await page.click("#save")
            digest = hashlib.sha256(content).hexdigest()[:16]
            await text_is(page, "#avatars li", f"me.png: {len(content)} bytes, sha256 {digest}")
            await text_is(page, "#saved", "Saved Ada <ada@example.org>")
        await hub.stop()


@pytest.mark.parametrize("fallback", FALLBACKS)
async def test_log_in_and_a_protected_page_over_a_fallback(fallback: Fallback) -> None:
    # The join token is bound to the session cookie, which each POST and poll carries.
    async with ActorSystem("browser-fallback-auth", seed=7) as system:
        hub = LiveHub(system, auth_views(), secret=b"f" * 32)
        routes = LiveRoutes(hub)
        async with blocked(routes, fallback) as (base, _, browser):
            page = await open_page(browser, f"{base}/login", fallback)
            await page.fill("input[name=name]", "ada")
            await page.fill("input[name=password]", "lovelace")
            await page.click("#log-in")
            await page.wait_for_url(f"{base}/account")
            await page.wait_for_selector(
                f"[data-lf-status=connected][data-lf-transport={fallback}]"
            )
            await text_is(page, "#user", "ada")
            await text_is(page, ".lf-flash-info", "Welcome, ada!")
            await page.click("#save")
            await text_is(page, "#saves", "1")
            await page.wait_for_url(f"{base}/account?saves=1")
        await hub.stop()


@pytest.mark.parametrize("fallback", FALLBACKS)
async def test_a_page_on_a_fallback_moves_to_a_websocket_and_goes_on(fallback: Fallback) -> None:
    async with examples(fallback) as (base, proxy, browser, routes):
        page = await open_page(browser, f"{base}/counter?count=1", fallback)
        await page.evaluate(
            """() => {
                window.marker = 'kept';
                window.moves = [];
                window.statuses = [];
                document.addEventListener('lf:transport', e => window.moves.push(e.detail));
                const root = document.querySelector('[data-lf-root]');
                new MutationObserver(() => window.statuses.push(root.dataset.lfStatus))
                  .observe(root, {attributes: true, attributeFilter: ['data-lf-status']});
            }"""
        )
        await page.click("#inc")
        await page.click("#inc")
        await text_is(page, "#count", "3")
        proxy.websockets = True  # the proxy lets WebSockets through now
        await page.wait_for_selector("[data-lf-transport=websocket][data-lf-status=connected]")
        await text_is(page, "#count", "3")
        await page.click("#inc")
        await text_is(page, "#count", "4")
        assert await page.evaluate("window.marker") == "kept"  # never reloaded
        assert await page.evaluate("window.moves") == [{"transport": "websocket", "from": fallback}]
        assert "disconnected" not in await page.evaluate("window.statuses")
        assert await page.evaluate("sessionStorage.getItem('lightflow:transport')") is None

        async def only_the_websocket() -> bool:
            return (
                routes.fallback.open_connections == 0
                and len(await routes.hub.transports()) == 1
                and len(await routes.hub.sessions()) == 1
            )

        await eventually(only_the_websocket, "the long-poll connection and its session gone")
