"""Real browser: JS commands, client hooks, pushed events and the extra bindings.

Driven on the widgets example (lightflow_actors/live_examples/widgets.py) in headless
Chromium: a JS.toggle shows the menu before any answer, keeps it open through patches
of the menu itself (sticky state) and tells the server; lf-click-away and a window
Escape close it; a hook mounts, handles a pushed event, pushes one back, sees its
element updated, is told of a disconnect and of the reconnect, and is destroyed when
the view goes; lf-throttle, lf-focus/lf-blur and lf-disable-with do what they say.
"""

from __future__ import annotations

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes, live_routes
from lightflow_actors.live import (
    JS,
    LiveHub,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    keyed,
)

from ..live.live_server import serving
from .test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    app,
    async_playwright,
    open_page,
    pytestmark,
    replaced,
    text_is,
)


async def test_js_toggle_runs_at_once_and_survives_patches_of_its_element() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/widgets")
        # The toggle runs in the click's own task: no frame has come back yet.
        shown_at_once = await page.evaluate(
            """() => {
                document.querySelector('#menu-button').click();
                const menu = document.querySelector('#menu');
                return [getComputedStyle(menu).display, [...menu.classList].sort()];
            }"""
        )
        # Shown at once, with the transition's running and start classes (in_=...).
        assert shown_at_once == ["block", ["fade", "fade-from"]]
        await page.wait_for_function("document.querySelector('#menu').classList.length === 0")
        await text_is(page, "#opens", "1")  # the pipeline's push reached the server
        # The menu's own content was patched ("opened 1 times"); the server still says
        # display:none, and the client's show stays.
        await page.wait_for_selector("#menu li:has-text('opened 1 times')")
        assert await page.evaluate("getComputedStyle(menu).display") == "block"
        await page.click("h1")  # lf-click-away
        assert await page.evaluate("getComputedStyle(menu).display") == "none"
        await page.click("#menu-button")
        await text_is(page, "#opens", "2")
        assert await page.evaluate("getComputedStyle(menu).display") == "block"
        await page.keyboard.press("Escape")  # lf-window-keydown with lf-key="Escape"
        await text_is(page, "#escapes", "1")
        assert await page.evaluate("getComputedStyle(menu).display") == "none"
        await page.keyboard.press("a")  # other keys send nothing
        await page.click("#bump")
        await text_is(page, "#bumps", "1")
        assert await page.text_content("#escapes") == "1"


async def test_a_hook_lives_through_push_events_updates_and_a_reconnect() -> None:
    async with app() as (base, routes, system, browser):
        page = await open_page(browser, f"{base}/widgets")
        await text_is(page, "#pinger", "mounted")
        await page.evaluate(
            "window.addEventListener('lf:highlight', e => { window.seen = e.detail.color; })"
        )
        await page.click("#nudge")
        # The server's PushEvent reached the hook's handleEvent (which pushed "ping"
        # back) and the window listener.
        await text_is(page, "#pings", "1")
        assert await page.evaluate("window.seen") == "#ffd"
        assert await page.evaluate("pinger.style.background") != ""
        # lf-update="ignore": the hook's content stays; data-* follow the server, and
        # that change is the hook's `updated`.
        assert await page.get_attribute("#pinger", "data-nudges") == "1"
        assert await page.text_content("#pinger") == "mounted"
        assert int(await page.get_attribute("#pinger", "data-updates") or "0") >= 1
        await page.click("#nudge")
        await text_is(page, "#pings", "2")
        # pushEvent's Promise resolved with the handler's EventReply, after the patch
        # answering the event was on the page.
        await page.wait_for_function("(window.pingReplies || []).length === 2")
        assert await page.evaluate("window.pingReplies") == [[1, "1"], [2, "2"]]
        [session] = await routes.hub.sessions()
        await page.evaluate(
            """() => { window.said = [];
                new MutationObserver(() => window.said.push(pinger.textContent))
                  .observe(pinger, {childList: true}); }"""
        )
        system.kill(session)
        await replaced(routes.hub.sessions, session, "a rejoined session")
        await text_is(page, "#pinger", "reconnected")
        assert "disconnected" in await page.evaluate("window.said")
        await page.click("#nudge")  # the same hook instance handles events after it
        await text_is(page, "#pings", "3")
        await page.evaluate("window.destroyed = false")
        await page.click("#menu-button")
        await page.click("#menu a")  # live navigation away: the hook is destroyed
        await page.wait_for_selector("#count")
        assert await page.evaluate("window.lightflowPingerDestroyed") is True


async def test_throttle_focus_blur_and_disable_with() -> None:
    async with app() as (base, _, _, browser):
        page = await open_page(browser, f"{base}/widgets")
        await page.evaluate("for (let i = 0; i < 5; i++) document.querySelector('#bump').click()")
        await text_is(page, "#bumps", "1")  # lf-throttle="1000": the first goes, not the rest
        await page.wait_for_timeout(300)
        assert await page.text_content("#bumps") == "1"
        await page.wait_for_timeout(900)
        await page.click("#bump")
        await text_is(page, "#bumps", "2")
        await page.focus("#title")
        await text_is(page, "#focus", "focused")
        await page.fill("#title", "draft")
        await page.focus("#nudge")
        await text_is(page, "#focus", "blurred")
        await page.evaluate(
            """() => { window.states = [];
                const save = document.querySelector('#save');
                new MutationObserver(() => window.states.push([save.textContent, save.disabled]))
                  .observe(save, {childList: true, attributes: true, characterData: true,
                                  subtree: true}); }"""
        )
        await page.click("#save")
        await text_is(page, "#saved", "draft")
        await page.wait_for_function("!document.querySelector('#save').disabled")
        assert await page.text_content("#save") == "Save"
        states = await page.evaluate("window.states")
        assert ["Saving…", True] in states


class Flip(msgspec.Struct, frozen=True, tag="flip"):
    pass


class Hostile(LiveView[int, Flip]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Flip, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return HOSTILE(
            n=state,
            cls="even" if state % 2 == 0 else "odd",
            good=JS.add_class("picked", "#box").remove_class("server", "#box").push("flip"),
        )


HOSTILE = Template(
    '<div><button id="junk" lf-click="[not json">junk</button>'
    '<button id="unknown" lf-click=\'[["nope",{{}}],'
    '["set_attr",{{"to":"#box","attr":["data-x","1"]}}]]\'>unknown</button>'
    '<button id="badsel" lf-click=\'[["show",{{"to":"##bad"}}]]\'>bad selector</button>'
    '<button id="deep" lf-click=\'[["exec",{{"attr":"lf-click"}}]]\'>exec itself</button>'
    '<button id="good" lf-click="{good}">good</button>'
    '<p id="box" class="server {cls}">n=<b id="n">{n}</b></p></div>'
)


async def test_hostile_command_lists_warn_and_the_rest_runs() -> None:
    async with ActorSystem("hostile-js", seed=5) as system:
        routes = live_routes(system, {"hostile": Hostile()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/hostile")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                for button in ("#junk", "#unknown", "#badsel", "#deep"):
                    await page.click(button)
                assert await page.get_attribute("#box", "data-x") == "1"  # after the unknown one
                await page.click("#good")
                await text_is(page, "#n", "1")
                # Sticky classes: "picked" added and "server" removed by the client stay
                # through the patch that changed the server's class (even -> odd).
                classes = (await page.get_attribute("#box", "class") or "").split()
                assert sorted(classes) == ["odd", "picked"]
                await page.click("#good")
                await text_is(page, "#n", "2")
                classes = (await page.get_attribute("#box", "class") or "").split()
                assert sorted(classes) == ["even", "picked"]
                assert await page.get_attribute("#box", "data-x") == "1"  # sticky attribute
                assert errors == []
            finally:
                await browser.close()


class Hit(msgspec.Struct, frozen=True, tag="hit"):
    pass


class Add(msgspec.Struct, frozen=True, tag="add"):
    pass


class Extras(msgspec.Struct, frozen=True):
    hits: int = 0
    items: int = 0


EXTRAS = Template(
    '<div><p id="m" lf-mounted="{appear}">mounted?</p>'
    '<div id="status" lf-connected="{on}" lf-disconnected="{off}">status</div>'
    '<button id="deb" lf-click="hit" lf-debounce="200">hit</button> <b id="hits">{hits}</b>'
    '<button id="ta" lf-click="{expand}">expand</button><div id="panel">panel</div>'
    '<button id="add" lf-click="add">add</button><ul id="items">{items}</ul>'
    '<div id="hooked" lf-hook="Counted">{hits}</div></div>'
)
EXTRA_ITEM = Template('<li id="item-{n}" lf-mounted="{appear}">{n}</li>')
APPEAR = JS.add_class("appeared")
COUNTED = """<script>window.lightflowLiveOptions = {hooks: {Counted: {
  beforeUpdate() {
    window.before = (window.before || 0) + 1; window.textBefore = this.el.textContent;
  },
  updated() {
    window.after = (window.after || 0) + 1; window.textAfter = this.el.textContent;
  }
}}};</script>"""


class ExtrasView(LiveView[Extras, Hit | Add]):
    head = COUNTED

    def mount(self, params: Params, session: SessionInfo) -> Extras:
        return Extras()

    def handle_event(self, event: Hit | Add, state: Extras) -> Extras:
        if isinstance(event, Add):
            return msgspec.structs.replace(state, items=state.items + 1)
        return msgspec.structs.replace(state, hits=state.hits + 1)

    def render(self, state: Extras) -> Rendered:
        items = keyed(EXTRA_ITEM, [(n, EXTRA_ITEM(n=n, appear=APPEAR)) for n in range(state.items)])
        return EXTRAS(
            appear=APPEAR,
            on=JS.set_attribute("data-state", "on"),
            off=JS.set_attribute("data-state", "off"),
            hits=state.hits,
            expand=JS.toggle_attribute("aria-expanded", "true", "false", "#panel"),
            items=items,
        )


async def test_mounted_connected_debounce_toggle_attribute_and_before_update() -> None:
    async with ActorSystem("extras-js", seed=6) as system:
        routes = LiveRoutes(LiveHub(system, {"extras": ExtrasView()}, secret=b"k" * 32))
        async with serving(routes.routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/extras")
                assert "appeared" in (await page.get_attribute("#m", "class") or "")
                assert await page.get_attribute("#status", "data-state") == "on"
                await page.click("#add")  # an element a patch adds runs its lf-mounted
                await page.wait_for_selector("#item-0.appeared")
                await page.evaluate(
                    "for (let i = 0; i < 5; i++) document.querySelector('#deb').click()"
                )
                await text_is(page, "#hits", "1")  # lf-debounce: one event for the burst
                await page.wait_for_timeout(400)
                assert await page.text_content("#hits") == "1"
                # beforeUpdate saw the element before the patch, updated after it.
                assert await page.evaluate("[window.textBefore, window.textAfter]") == ["0", "1"]
                assert await page.evaluate("window.before >= window.after && window.after >= 1")
                await page.click("#ta")
                assert await page.get_attribute("#panel", "aria-expanded") == "true"
                await page.click("#ta")
                assert await page.get_attribute("#panel", "aria-expanded") == "false"
                await page.evaluate(
                    """() => { window.states = []; const box = document.querySelector('#status');
                        new MutationObserver(() => window.states.push(box.dataset.state))
                          .observe(box, {attributes: true}); }"""
                )
                [transport] = await routes.hub.transports()
                system.kill(transport)
                await page.wait_for_function("window.states.includes('off')")
                await page.wait_for_function(
                    "window.states.at(-1) === 'on' && document.querySelector('[data-lf-root]')"
                    ".dataset.lfStatus === 'connected'"
                )
            finally:
                await browser.close()
                await routes.hub.stop()


async def test_a_js_push_with_a_target_reaches_its_component_in_the_browser() -> None:
    from ..live.test_js_commands import Board

    async with ActorSystem("target-js", seed=7) as system:
        routes = live_routes(system, {"board": Board()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/board")
                await page.click("#b-a")
                await page.wait_for_selector("#c-a:has-text('a: 5')")
                assert "b: 0" in (await page.text_content("#c-b") or "")
                assert "pressed" in (await page.get_attribute("#b-a", "class") or "")
            finally:
                await browser.close()
