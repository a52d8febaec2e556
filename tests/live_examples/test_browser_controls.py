"""Real browser: form controls bound with lf-click stay in sync with the server's state.

A checkbox with ``lf-click`` is focused by the click; its tick must still show what the
view rendered after each answer (ticked when the state says done, unticked when the
server refuses the change).
"""

from __future__ import annotations

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import LiveView, Params, Rendered, SessionInfo, Template, keyed

from ..live.live_server import serving
from .test_browser import (  # noqa: F401
    ANSWERED,
    ARGS,
    CHROMIUM,
    async_playwright,
    open_page,
    pytestmark,
)


class Toggle(msgspec.Struct, frozen=True, tag="toggle"):
    id: str = ""


class Tasks(msgspec.Struct, frozen=True):
    done: frozenset[str] = frozenset()
    locked: frozenset[str] = frozenset({"c"})  # the server refuses to toggle these


ITEM = Template(
    '<li><input type="checkbox" id="done-{id}" lf-click="toggle" lf-value-id="{id}" '
    '{checked}><span id="state-{id}">{state}</span></li>'
)
LIST = Template('<ul id="tasks">{items}</ul>')


class TaskList(LiveView[Tasks, Toggle]):
    def mount(self, params: Params, session: SessionInfo) -> Tasks:
        return Tasks()

    def handle_event(self, event: Toggle, state: Tasks) -> Tasks:
        if event.id in state.locked:
            return state
        return msgspec.structs.replace(state, done=state.done ^ {event.id})

    def render(self, state: Tasks) -> Rendered:
        items = [
            (
                i,
                ITEM(
                    id=i,
                    checked="checked" if i in state.done else "",
                    state="done" if i in state.done else "open",
                ),
            )
            for i in ("a", "b", "c")
        ]
        return LIST(items=keyed(ITEM, items))


async def _synced(page: object, item: str, expected: bool) -> None:
    await page.wait_for_function(  # type: ignore[attr-defined]
        """([id, want]) => {
            const box = document.querySelector('#done-' + id);
            const state = document.querySelector('#state-' + id).textContent;
            return state === (want ? 'done' : 'open') && box.checked === want
                && window.lightflowLive.socket.pending.size === 0;
        }""",
        arg=[item, expected],
    )


async def test_a_checkbox_with_lf_click_shows_the_servers_state() -> None:
    async with ActorSystem("controls", seed=3) as system:
        routes = live_routes(system, {"tasks": TaskList()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/tasks")
                await page.click("#done-a")
                await _synced(page, "a", True)
                assert await page.evaluate("document.activeElement.id") == "done-a"
                assert await page.is_checked("#done-a")
                await page.click("#done-a")  # still focused: unticks with the server
                await _synced(page, "a", False)
                await page.click("#done-b")
                await page.click("#done-b")
                await page.click("#done-b")
                await _synced(page, "b", True)
                await page.click("#done-c")  # refused: the server keeps it open
                await _synced(page, "c", False)
                assert not await page.is_checked("#done-c")
            finally:
                await browser.close()


async def test_the_page_acknowledges_lazily_and_clicks_cost_one_frame_each_way() -> None:
    async with ActorSystem("acks", seed=4) as system:
        routes = live_routes(system, {"tasks": TaskList()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                context = await browser.new_context()
                page = await context.new_page()
                sent: list[str] = []
                received: list[str] = []
                page.on(
                    "websocket",
                    lambda ws: (
                        ws.on("framesent", lambda p: sent.append(str(p))),
                        ws.on("framereceived", lambda p: received.append(str(p))),
                    ),
                )
                await page.goto(f"{base}/tasks")
                await page.wait_for_selector("[data-lf-status=connected]")
                before_sent, before_received = len(sent), len(received)
                for _ in range(20):
                    await page.click("#done-b")
                    await page.wait_for_function(ANSWERED)
                clicks_sent = sent[before_sent:]
                clicks_received = received[before_received:]
                acks = [f for f in clicks_sent if '"kind":"ack"' in f]
                submits = [f for f in clicks_sent if '"op":"submit"' in f]
                assert len(submits) == 20
                assert len(acks) <= 2  # one per 16 frames received (or per 5 s)
                server_acks = [f for f in clicks_received if '"kind":"ack"' in f]
                assert len(server_acks) <= 3  # one per 5 s tick at most, not one per click
            finally:
                await browser.close()
