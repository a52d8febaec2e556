"""Real browser: ``document.title``. The page's GET already carries the mount's
`PageTitle` in its ``<title>`` (no flicker at the join); each `PageTitle` of an event
changes ``document.title``; an event without one leaves it. The view is the one of
tests/live/test_page_title_push_events.py (driven there through the test DSL)."""

from __future__ import annotations

import httpx

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes

from ..live.live_server import serving
from ..live.test_page_title_push_events import Inbox
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401


async def test_document_title_follows_page_title_from_the_get_to_each_event() -> None:
    async with ActorSystem("browser-title", seed=13) as system:
        routes = live_routes(system, {"inbox": Inbox()}, secret=b"t" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            async with httpx.AsyncClient() as http:
                page_html = (await http.get(f"{base}/inbox")).text
            assert "<title>Inbox (0)</title>" in page_html
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/inbox")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                assert await page.title() == "Inbox (0)"
                await page.click("#receive")
                await page.wait_for_function("document.title === 'Inbox (1)'")
                await page.click("#quiet")
                await text_is(page, "#n", "2")
                assert await page.title() == "Inbox (1)"
                await page.click("#receive")
                await page.wait_for_function("document.title === 'Inbox (3)'")
                assert not errors, errors
            finally:
                await browser.close()
