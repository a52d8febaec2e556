"""Real browser: key and focus bindings. ``lf-keyup`` on a field sends the key and the
field's value; ``lf-keydown`` with ``lf-key`` only for that key; ``lf-window-keyup``
(filtered by ``lf-key``) for a key released anywhere; ``lf-window-blur`` /
``lf-window-focus`` when the window loses and regains focus; ``lf-focus`` / ``lf-blur``
on a field. The same view is driven through the test DSL in
tests/live/test_key_focus_bindings.py."""

from __future__ import annotations

from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes

from ..live.live_keys import Keys
from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark  # noqa: F401


async def log_ends_with(page: Page, entry: str) -> None:
    await page.wait_for_function(
        "e => document.querySelector('#log').textContent.endsWith(e)", arg=entry
    )


async def test_keyup_window_keyup_and_window_focus_and_blur() -> None:
    async with ActorSystem("browser-keys", seed=12) as system:
        routes = live_routes(system, {"keys": Keys()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/keys")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.press("#q", "a")  # keyup after the input: the value has the key
                await log_ends_with(page, "typed a a q")
                await page.press("#enter", "x")  # lf-key="Enter": nothing
                await page.press("#enter", "Enter")
                await log_ends_with(page, "pressed Enter x")
                # Released with no field focused: the window binding, Escape only.
                await page.evaluate("document.activeElement.blur()")
                await page.keyboard.press("a")
                await page.keyboard.press("Escape")
                await log_ends_with(page, "released Escape p")
                # Headless Chromium keeps every page focused: the window's own blur and
                # focus events are dispatched as the browser does (target: the window).
                await page.evaluate("window.dispatchEvent(new FocusEvent('blur'))")
                await log_ends_with(page, "away p")
                await page.evaluate("window.dispatchEvent(new FocusEvent('focus'))")
                await log_ends_with(page, "back p")
                await page.focus("#f")
                await log_ends_with(page, "entered ")
                await page.keyboard.type("xy")
                await page.focus("#q")
                await log_ends_with(page, "left xy f")
                assert await page.text_content("#log") == (
                    "typed a a q; pressed Enter x; released Escape p; away p; back p; "
                    "entered ; left xy f"
                )
                assert not errors, errors
            finally:
                await browser.close()
