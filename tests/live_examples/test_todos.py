"""The todos example through the test DSL: components per item, events targeted with
lf-target, NotifyParent and SendUpdate, a streamed log the server does not keep."""

from __future__ import annotations

import pytest

from lightflow_actors.live_examples.todos import LOG_LIMIT
from lightflow_actors.testing.live import element, has_element, render_click, render_submit

from .examples_test import examples_test

pytestmark = pytest.mark.anyio


async def test_a_click_on_an_item_goes_to_its_component_and_patches_only_it() -> None:
    async with examples_test() as live:
        view = await live.mount("todos")
        assert has_element(view, "#todo-1", "buy milk")
        assert view.text().count("the list is ready") == 1
        html = await render_click(element(view, "#todo-1 input[type=checkbox]"))
        assert 'id="todo-1" class="done"' in html
        assert has_element(view, "#summary", "1 of 2 done")
        assert has_element(view, "#log li", "done 'buy milk'")  # unescaped: &#39; reads '
        patch = view.patches[-1]
        # The component that changed is in "c"; the other item is not sent again.
        assert list(patch.components) == [1]
        assert '"write the report"' not in str(patch.root)


async def test_editing_one_item_closes_the_other_editor_with_send_update() -> None:
    async with examples_test() as live:
        view = await live.mount("todos")
        await view.element("#todo-1 button.edit").render_click()
        assert has_element(view, "#todo-1.editing form")
        await view.element("#todo-2 button.edit").render_click()
        assert has_element(view, "#todo-2.editing form")
        assert not has_element(view, "#todo-1.editing")
        html = await render_submit(view.element("#todo-2 form"), {"text": "write <the> report"})
        assert "write &lt;the&gt; report" in html
        assert view.element("#todo-2 span.text").text() == "write <the> report"


async def test_removed_items_leave_the_component_table_of_server_and_browser() -> None:
    async with examples_test() as live:
        view = await live.mount("todos")
        await render_submit(view.element("#new-todo"), {"text": "third"})
        assert has_element(view, "#todo-3", "third")
        await view.element("#todo-1 button.remove").render_click()
        assert not has_element(view, "#todo-1")
        assert view.patches[-1].components == {1: None}
        await render_click(view.element("#todo-2 input"))
        await render_click(view.element("#clear-done"))
        assert not has_element(view, "#todo-2")
        assert sorted(view.client.state.components) == [3]


async def test_the_log_keeps_at_most_its_limit_in_the_browser() -> None:
    async with examples_test() as live:
        view = await live.mount("todos")
        for n in range(LOG_LIMIT + 5):
            await render_submit(view.element("#new-todo"), {"text": f"task {n}"})
        lines = view.client.html().count('<li id="log-')
        assert lines == LOG_LIMIT
        # Newest first: the last added is on top.
        first = view.client.html().split('<ol id="log" lf-update="stream">')[1]
        assert first.startswith('<li id="log-') and "added &#39;task 24&#39;" in first[:80]


async def test_the_first_get_shows_components_and_streamed_lines_without_javascript() -> None:
    async with examples_test() as live:
        page = await live.hub.static_render("todos", {})
        assert 'id="todo-1" class="open"' in page.html
        assert "the list is ready" in page.html
