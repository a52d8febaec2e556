"""Real browser: the JS commands no other Chromium test runs. ``show``,
``remove_attribute``, a standalone ``transition``, ``dispatch`` (with detail, bubbling
to a document listener), ``focus`` and ``focus_first`` run at once with no round trip;
``patch`` changes the URL and calls ``handle_params``; ``navigate`` mounts another view;
neither reloads the page."""

from __future__ import annotations

import msgspec
from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import JS, LiveView, Params, Rendered, SessionInfo, Template

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401


async def click_then(page: Page, selector: str, expression: str) -> object:
    """Click `selector` and read `expression` in the same task (before any answer)."""
    return await page.evaluate(
        "([s, e]) => { document.querySelector(s).click(); return eval(e); }", [selector, expression]
    )


class Noop(msgspec.Struct, frozen=True, tag="noop"):
    pass


PAGE = Template(
    '<div><p>n=<b id="n">{n}</b></p>'
    '<div id="panel" style="display:none" data-x="1">panel</div>'
    '<button id="show" lf-click="{show}">show</button>'
    '<button id="unset" lf-click="{unset}">unset</button>'
    '<button id="fade" lf-click="{fade}">fade</button>'
    '<button id="ping" lf-click="{ping}">ping</button>'
    '<input id="field" name="field"><button id="focus" lf-click="{focus}">focus</button>'
    '<div id="box"><span>no focus</span><input id="inner" name="inner"></div>'
    '<button id="focus-first" lf-click="{focus_first}">focus first</button>'
    '<button id="patch" lf-click="{patch}">patch</button>'
    '<button id="nav" lf-click="{nav}">navigate</button></div>'
)


class Commands(LiveView[int, Noop]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        n = params.get("n", "0")
        return int(n) if n.isdigit() else 0

    def handle_params(self, params: Params, state: int) -> int:
        n = params.get("n", "0")
        return int(n) if n.isdigit() else state

    def handle_event(self, event: Noop, state: int) -> int:
        return state

    def render(self, state: int) -> Rendered:
        return PAGE(
            n=state,
            show=JS.show("#panel", display="flex"),
            unset=JS.remove_attribute("data-x", "#panel"),
            fade=JS.transition(("fade", "fade-from", "fade-to"), "#panel", time=300),
            ping=JS.dispatch("lf:pinged", "#panel", detail={"n": 7}),
            focus=JS.focus("#field"),
            focus_first=JS.focus_first("#box"),
            patch=JS.patch("commands?n=5"),
            nav=JS.navigate("other"),
        )


class Other(LiveView[str, Noop]):
    def mount(self, params: Params, session: SessionInfo) -> str:
        return "other"

    def handle_event(self, event: Noop, state: str) -> str:
        return state

    def render(self, state: str) -> Rendered:
        return Template('<h1 id="other">{s}</h1>')(s=state)


async def test_show_remove_attribute_transition_dispatch_focus_patch_and_navigate() -> None:
    async with ActorSystem("browser-js-more", seed=8) as system:
        views = {"commands": Commands(), "other": Other()}
        routes = live_routes(system, views, secret=b"j" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/commands")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.evaluate(
                    """() => { window.stayed = true;
                        document.addEventListener('lf:pinged', e => {
                          window.pinged = [e.target.id, e.detail.n]; }); }"""
                )
                # Each command runs in the click's own task: checked in the same evaluate.
                shown = await click_then(page, "#show", "getComputedStyle(panel).display")
                assert shown == "flex"
                unset = await click_then(page, "#unset", "panel.dataset.x")
                assert unset is None
                classes = await click_then(page, "#fade", "[...panel.classList].sort()")
                assert classes == ["fade", "fade-from"]
                await page.wait_for_function("document.querySelector('#panel').className === ''")
                pinged = await click_then(page, "#ping", "window.pinged")
                assert pinged == ["panel", 7]
                focused = await click_then(page, "#focus", "document.activeElement.id")
                assert focused == "field"
                first = await click_then(page, "#focus-first", "document.activeElement.id")
                assert first == "inner"
                # patch: the URL changes and handle_params runs; the page stays
                await page.click("#patch")
                await page.wait_for_url(f"{base}/commands?n=5")
                await text_is(page, "#n", "5")
                assert await page.evaluate("getComputedStyle(panel).display") == "flex"
                # navigate: another view mounts over the same socket, no reload
                await page.click("#nav")
                await page.wait_for_url(f"{base}/other")
                await text_is(page, "#other", "other")
                assert await page.evaluate("window.stayed === true")
                await page.go_back()
                await text_is(page, "#n", "5")
                assert not errors, errors
            finally:
                await browser.close()
