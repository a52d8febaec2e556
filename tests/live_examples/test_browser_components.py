"""Real browser: the todos example in headless Chromium (a live component per item, a
streamed log). Clicks reach the component their lf-target names; the log's entries stay
the same DOM nodes across patches; a removed item leaves the page and the component
tables of both sides."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes

from ..live.live_components import STEPS, run_steps
from ..live.live_server import serving
from .test_browser import (
    ARGS,
    CHROMIUM,
    app,
    async_playwright,
    eventually,
    open_page,
    pytestmark,
    text_is,
)
from .test_browser_paint import HARNESS, Blank

__all__ = ["pytestmark"]


async def test_components_and_a_stream_in_chromium() -> None:
    async with app() as (base, routes, _, browser):
        page = await open_page(browser, f"{base}/todos")
        await text_is(page, "#todo-1 .text", "buy milk")
        # Tag the first log entry's element: it must survive the patches below.
        await page.evaluate("() => { document.querySelector('#log-1').__kept = 'yes'; }")

        await page.click("#todo-1 input[type=checkbox]")
        await text_is(page, "#summary", "1 of 2 done · clear done")
        assert await page.get_attribute("#todo-1", "class") == "done"
        assert await page.is_checked("#todo-1 input[type=checkbox]")
        await text_is(page, "#log li:first-child", "done 'buy milk'")

        # The component's own state: its editor, opened and saved by events to it.
        await page.click("#todo-2 button.edit")
        await page.wait_for_selector("#todo-2.editing form input[name=text]")
        await page.fill("#todo-2 input[name=text]", "write <the> report")
        await page.press("#todo-2 input[name=text]", "Enter")
        await text_is(page, "#todo-2 .text", "write <the> report")

        # Items added through the view mount new components; a stream line for each.
        for text in ("third", "fourth"):
            await page.fill("#new-todo input[name=text]", text)
            await page.press("#new-todo input[name=text]", "Enter")
            await page.wait_for_selector(f"#todos li:has-text('{text}')")
        assert await page.locator("#todos > li").count() == 4

        await page.click("#todo-3 button.remove")
        await page.wait_for_selector("#todo-3", state="detached")
        await page.click("#clear-done")
        await page.wait_for_selector("#todo-1", state="detached")

        # The log kept its first element (the same DOM node) through every patch.
        assert await page.evaluate("() => document.querySelector('#log-1').__kept") == "yes"
        lines = await page.locator("#log li").all_text_contents()
        assert lines[0] == "cleared 1 done" and lines[-1] == "the list is ready"

        async def tables_agree() -> bool:
            held = await page.evaluate(
                "() => Array.from(window.lightflowLive.socket.state.components.keys()).sort()"
            )
            return sorted(held) == [2, 4]

        await eventually(tables_agree, "the client to hold the components of todos 2 and 4")
        errors = await page.evaluate("() => window.__lfErrors || []")
        assert errors == []
        assert routes.hub is not None


async def test_partial_paints_equal_full_renders_with_components_and_streams() -> None:
    """The painter (ADR 0086) on component and stream patches: after every patch the page
    is what a full render gives, and a component's change is painted on its own."""
    async with ActorSystem("paint-components", seed=3) as system:
        routes = live_routes(system, {"blank": Blank()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/blank")
                await page.evaluate(HARNESS)
                sequences: list[list[tuple[str, object]]] = []

                @settings(
                    max_examples=80,
                    deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture],
                    database=None,
                )
                @given(STEPS)
                def collect(steps: list[tuple[str, object]]) -> None:
                    sequences.append(steps)

                collect()
                partials = 0
                for steps in sequences:
                    await page.evaluate("paint.reset()")
                    patches, _ = run_steps(steps)
                    for patch in patches:
                        result = await page.evaluate(
                            "(p) => paint.apply(p)", msgspec.json.decode(patch)
                        )
                        assert result["got"] == result["want"], (steps, patch)
                        partials += bool(result["partial"])
                assert partials > len(sequences)
                # A click on one card: only that component's element is repainted.
                await page.evaluate("paint.reset()")
                patches, _ = run_steps(
                    [("items", [("a", "x"), ("b", "y")]), ("click", "b"), ("click", "b")]
                )
                for patch in patches[:-1]:
                    await page.evaluate("(p) => paint.apply(p)", msgspec.json.decode(patch))
                touched = await page.evaluate(
                    """(p) => {
                        const seen = new Set();
                        const note = (r) => {
                            const el = r.target.nodeType === 1 ? r.target : r.target.parentNode;
                            const li = el.closest("li");
                            seen.add(li ? li.id : "outside");
                        };
                        const watch = new MutationObserver((records) => records.forEach(note));
                        watch.observe(paint.root, {subtree: true, childList: true,
                                                   characterData: true, attributes: true});
                        const result = paint.apply(p);
                        watch.takeRecords().forEach(note);
                        watch.disconnect();
                        return {partial: result.partial, seen: Array.from(seen)};
                    }""",
                    msgspec.json.decode(patches[-1]),
                )
                assert touched["partial"]
                assert touched["seen"] == ["card-b"], touched
            finally:
                await browser.close()
