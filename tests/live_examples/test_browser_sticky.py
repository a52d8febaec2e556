"""Real browser: a sticky live child (`live_render(..., sticky=True)`, ADR 0126), an
audio-player-like view placed by the layout of three views of one ``live_session``. It
keeps its counter, its DOM (an ``<audio>`` element, the same node) and its hook across two
live navigations, even where the next view's layout puts its container elsewhere; a
view that does not place it ends it, and the next one that does starts a new one."""

from __future__ import annotations

from typing import Any

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import (
    LiveView,
    Rendered,
    SessionInfo,
    Template,
    live_render,
    live_session,
)

from ..live.live_server import serving
from .test_browser import ARGS, CHROMIUM, async_playwright, open_page, pytestmark, text_is  # noqa: F401

HOOKS = """<script>window.lightflowLiveOptions = {hooks: {Deck: {
  mounted() { window.deckMounts = (window.deckMounts || 0) + 1; },
  destroyed() { window.deckDestroyed = (window.deckDestroyed || 0) + 1; }
}}};</script>"""


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    pass


class Deck(msgspec.Struct, frozen=True):
    count: int


DECK = Template(
    '<div id="deck" lf-hook="Deck"><audio id="audio" preload="none"></audio>'
    '<b id="played">{count}</b><button id="next" lf-click="inc">next</button></div>'
)


class Player(LiveView[Deck, Inc]):
    def __init__(self, mounts: list[str]) -> None:
        self.mounts = mounts

    def mount(self, params: dict[str, str], session: SessionInfo) -> Deck:
        if session.connected:
            self.mounts.append(session.id)
        return Deck(0)

    def render(self, state: Deck) -> Rendered:
        return DECK(count=state.count)

    def handle_event(self, event: Inc, state: Deck) -> Deck:
        return Deck(state.count + 1)


class Page(msgspec.Struct, frozen=True):
    name: str


BODY = Template(
    '<h1 id="name">{name}</h1><nav><a id="to-a" lf-navigate href="a">a</a> '
    '<a id="to-b" lf-navigate href="b">b</a> <a id="to-plain" lf-navigate href="plain">plain</a>'
    "</nav>"
)
TOP = Template('<header id="top">{player}</header><article>{inner}</article>')
BOTTOM = Template('<article>{inner}</article><footer><div id="dock">{player}</div></footer>')


class Music(LiveView[Page, Inc]):
    head = HOOKS

    def __init__(self, name: str, player: Player, place: str) -> None:
        self.name = name
        self.player = player
        self.place = place

    def mount(self, params: dict[str, str], session: SessionInfo) -> Page:
        return Page(self.name)

    def render(self, state: Page) -> Rendered:
        return BODY(name=state.name)

    def layout(self, inner: Rendered, flash: Any) -> Rendered:
        if self.place == "none":
            return TOP(player="", inner=inner)
        player = live_render(self.player, id="player", sticky=True, attrs={"class": "player"})
        return (TOP if self.place == "top" else BOTTOM)(player=player, inner=inner)


async def test_a_sticky_player_keeps_its_counter_and_dom_across_two_navigations() -> None:
    mounts: list[str] = []
    player = Player(mounts)
    views = live_session(
        "music",
        {
            "a": Music("a", player, "top"),
            "b": Music("b", player, "bottom"),
            "plain": Music("plain", player, "none"),
        },
    )
    async with ActorSystem("browser-sticky", seed=5) as system:
        routes = live_routes(system, views, secret=b"s" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/a")
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await text_is(page, "#player #played", "0")
                await page.wait_for_function("() => window.deckMounts === 1")
                for n in ("1", "2"):
                    await page.click("#next")
                    await text_is(page, "#player #played", n)
                # mark the live nodes: the same ones must still be there after navigating
                await page.evaluate(
                    "() => { document.getElementById('audio').__kept = 'yes';"
                    " window.pageLoads = (window.pageLoads || 0) + 1; }"
                )
                kept = "() => document.getElementById('audio').__kept === 'yes'"
                # a -> b: the layout puts the player in the footer, it moves there whole
                await page.click("#to-b")
                await text_is(page, "#name", "b")
                await page.wait_for_selector("footer #dock #player #played")
                assert await page.text_content("#played") == "2"
                assert await page.evaluate(kept)
                await page.click("#next")
                await text_is(page, "#player #played", "3")
                # b -> a: back in the header, still the same
                await page.click("#to-a")
                await text_is(page, "#name", "a")
                await page.wait_for_selector("header #player #played")
                assert await page.text_content("#played") == "3"
                assert await page.evaluate(kept)
                await page.click("#next")
                await text_is(page, "#player #played", "4")
                assert await page.evaluate("() => window.pageLoads") == 1  # no reload
                assert await page.evaluate("() => [window.deckMounts, window.deckDestroyed]") == [
                    1,
                    None,
                ]
                assert len(mounts) == 1
                assert await page.evaluate("() => window.lightflowLive.socket.liveChildren()") == [
                    "player"
                ]
                # a view of the same live_session without it: the player ends; the next
                # view that places it starts a new one
                await page.click("#to-plain")
                await text_is(page, "#name", "plain")
                await page.wait_for_selector("#player", state="detached")
                await page.wait_for_function("() => window.deckDestroyed === 1")
                await page.click("#to-b")
                await text_is(page, "#name", "b")
                await text_is(page, "#player #played", "0")
                assert len(mounts) == 2
                assert await page.evaluate("() => window.pageLoads") == 1
                assert await page.get_attribute("[data-lf-root]", "data-lf-status") == "connected"
                assert not errors, errors
            finally:
                await browser.close()
