"""Real browser: the todos example in headless Chromium (a live component per item, a
streamed log). Clicks reach the component their lf-target names; the log's entries stay
the same DOM nodes across patches; a removed item leaves the page and the component
tables of both sides."""

from __future__ import annotations

from .test_browser import app, eventually, open_page, pytestmark, text_is

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
