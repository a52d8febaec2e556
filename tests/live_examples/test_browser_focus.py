"""Real browser: the focus stack. ``JS.push_focus`` remembers the element that opened a
modal, ``JS.pop_focus`` gives focus back to it when the modal closes (Phoenix's
``show_modal`` / ``hide_modal``); stacks nest; a patch that replaced the remembered
element meanwhile does not lose it (found again by its id); popping an empty stack does
nothing."""

from __future__ import annotations

import msgspec
from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import JS, LiveView, Params, Rendered, SessionInfo, Template

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401


class Save(msgspec.Struct, frozen=True, tag="save"):
    pass


PAGE = Template(
    '<div><p>saved=<b id="n">{n}</b></p>{opener}'
    '<button id="other">other</button>'
    '<div id="modal" style="display:none"><input id="name" name="name">'
    '<button id="save" lf-click="save">save</button>'
    '<button id="nested" lf-click="{open_inner}">more</button>'
    '<button id="close" lf-click="{close}">close</button></div>'
    '<div id="inner" style="display:none"><button id="inner-ok" lf-click="{close_inner}">ok'
    "</button></div>"
    '<button id="pop" lf-click="{pop}">pop</button></div>'
)
# The opener is a button, then (after a save) a link: the morph replaces the element.
BUTTON = Template('<button id="open" lf-click="{open}">open</button>')
LINK = Template('<a id="open" href="#" lf-click="{open}">open</a>')


class Modal(LiveView[int, Save]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Save, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        open_ = JS.show("#modal").push_focus().focus_first("#modal")
        return PAGE(
            n=state,
            opener=(BUTTON if state % 2 == 0 else LINK)(open=open_),
            open_inner=JS.show("#inner").push_focus().focus("#inner-ok"),
            close_inner=JS.hide("#inner").pop_focus(),
            close=JS.hide("#modal").pop_focus(),
            pop=JS.pop_focus(),
        )


async def focused(page: Page) -> object:
    return await page.evaluate("document.activeElement && document.activeElement.id")


async def test_push_focus_and_pop_focus_give_focus_back_to_the_opener() -> None:
    async with ActorSystem("browser-focus", seed=9) as system:
        routes = live_routes(system, {"modal": Modal()}, secret=b"f" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/modal")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                # An empty stack: pop does nothing (focus stays where the click put it).
                await page.click("#pop")
                assert await focused(page) == "pop"
                # Open: focus moves into the modal; close: back to the opener.
                await page.click("#open")
                assert await focused(page) == "name"
                await page.click("#close")
                assert await focused(page) == "open"
                assert await page.evaluate("getComputedStyle(modal).display") == "none"
                # Nested: each pop returns one level.
                await page.focus("#other")
                await page.click("#open")
                await page.click("#nested")
                assert await focused(page) == "inner-ok"
                await page.click("#inner-ok")
                assert await focused(page) == "nested"
                await page.click("#close")
                assert await focused(page) == "open"
                # A save re-renders the opener as another element while the modal is
                # open: the pop finds the new one by its id.
                await page.click("#open")
                await page.click("#save")
                await text_is(page, "#n", "1")
                assert await page.evaluate("document.querySelector('#open').tagName") == "A"
                await page.click("#close")
                assert await focused(page) == "open"
                assert await page.evaluate("document.activeElement.tagName") == "A"
                assert not errors, errors
            finally:
                await browser.close()
