"""Real browser: infinite scroll. A stream container with ``lf-viewport-bottom`` loads
the next page when its last item scrolls into view, and ``lf-viewport-top`` the page
before when its first item does; the stream's limit keeps 60 items in the page. Nothing
fires at mount (the list's edges are not scrolled to), and each scroll to an edge sends
one event with the edge item's id. The same view is driven through the test DSL in
tests/live/test_viewport_bindings.py."""

from __future__ import annotations

from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes

from ..live.live_feed import FeedView
from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401


async def item_ids(page: Page) -> list[int]:
    ids: list[int] = await page.evaluate(
        "[...document.querySelectorAll('#items > li')].map(li => +li.id.slice(5))"
    )
    return ids


async def test_scrolling_to_either_edge_of_a_stream_loads_a_page() -> None:
    async with ActorSystem("browser-viewport", seed=15) as system:
        routes = live_routes(system, {"feed": FeedView()}, secret=b"v" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/feed")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                assert await item_ids(page) == list(range(1, 31))
                await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
                await text_is(page, "#range", "1-60")
                assert await item_ids(page) == list(range(1, 61))
                await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
                await text_is(page, "#range", "31-90")
                assert await item_ids(page) == list(range(31, 91))
                await page.evaluate("window.scrollTo(0, 0)")
                await text_is(page, "#range", "1-60")
                assert await item_ids(page) == list(range(1, 61))
                # One event per scroll to an edge, none at mount, each with the edge's id.
                await text_is(
                    page, "#log", "more news item-30; more news item-60; prev news item-31"
                )
                assert not errors, errors
            finally:
                await browser.close()
