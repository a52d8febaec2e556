"""Real browser: a page with two live children (`live_render`, ADR 0115). Each child
paints its own renders into its container; a click inside one goes to it alone; the
parent's re-render leaves the children's content as it is; a crashed child comes back
alone; a child taken out of the template leaves the page and comes back new. The views
are those of tests/live/test_live_children.py (driven there through the test DSL)."""

from __future__ import annotations

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes

from ..live.live_server import serving
from ..live.test_live_children import Log, views
from .test_browser import (  # noqa: F401
    ANSWERED,
    ARGS,
    CHROMIUM,
    async_playwright,
    open_page,
    pytestmark,
    text_is,
)


async def test_a_page_with_two_children_in_chromium() -> None:
    log = Log()
    async with ActorSystem("browser-children", seed=17) as system:
        routes = live_routes(system, views(log), secret=b"c" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/page")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                warnings: list[str] = []
                page.on("console", lambda message: warnings.append(message.text))
                await text_is(page, "#counter-a p.count", "a: 110")  # its own tick
                await text_is(page, "#counter-b p.count", "b: 110")
                await page.click("#counter-a button.inc")
                await text_is(page, "#counter-a p.count", "a: 111")
                assert await page.text_content("#counter-b p.count") == "b: 110"
                # the child's answer settled its button's event
                await page.wait_for_function(ANSWERED)
                # a child's refused event is settled too (an error frame)
                set_by = "b => document.querySelector('#counter-a button.inc')" + (
                    ".setAttribute('lf-value-by', b)"
                )
                await page.evaluate(set_by, "x")
                await page.click("#counter-a button.inc")
                await page.wait_for_function(ANSWERED)
                assert await page.text_content("#counter-a p.count") == "a: 111"
                await page.evaluate(set_by, "1")
                # the parent re-renders: the children keep what they show, not mounted again
                await page.click("#retitle")
                await text_is(page, "#title", "page!")
                assert await page.text_content("#counter-a p.count") == "a: 111"
                assert log.mounts["a"] == 1 and log.mounts["b"] == 1
                # b crashes: it alone is mounted again (start 10, then its tick)
                await page.click("#counter-b button.inc")
                await text_is(page, "#counter-b p.count", "b: 111")
                await page.click("#counter-b button.boom")
                await text_is(page, "#counter-b p.count", "b: 110")
                assert log.mounts["b"] == 2 and log.mounts["page"] == 1
                assert await page.text_content("#counter-a p.count") == "a: 111"
                assert await page.text_content("#title") == "page!"
                await page.click("#counter-b button.inc")
                await text_is(page, "#counter-b p.count", "b: 111")
                # b leaves the template: its container goes; back, it is a new child
                await page.click("#toggle-b")
                await page.wait_for_selector("#counter-b", state="detached")
                await text_is(page, "#counter-a p.count", "a: 111")
                await page.click("#toggle-b")
                await text_is(page, "#counter-b p.count", "b: 110")
                await page.click("#counter-a button.inc")
                await text_is(page, "#counter-a p.count", "a: 112")
                # a child's patch that does not merge (its client state lost): the client asks
                # that child alone for a full render, and shows the server's state again
                await page.evaluate(
                    "() => { const c = window.lightflowLive.socket.children.get('counter-a');"
                    " c.state = {templates: new Map(), root: null, components: new Map()}; }"
                )
                await page.click("#counter-a button.inc")
                await text_is(page, "#counter-a p.count", "a: 113")
                assert any("live child counter-a" in w for w in warnings), warnings
                assert log.mounts["a"] == 1 and log.mounts["page"] == 1
                assert await page.get_attribute("[data-lf-root]", "data-lf-status") == "connected"
                assert not errors, errors
            finally:
                await browser.close()
