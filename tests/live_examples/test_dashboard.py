"""The dashboard example: a page of two live children (`live_render`, ADR 0115)."""

from __future__ import annotations

import pytest

from lightflow_actors.testing.live import find_live_child, live_children

from .examples_test import examples_test

pytestmark = pytest.mark.anyio


async def test_the_dashboards_panels_count_alone_and_outlive_the_pages_renders() -> None:
    async with examples_test() as live:
        view = await live.mount("dashboard")
        assert [c.id for c in live_children(view)] == ["left", "right"]
        left, right = find_live_child(view, "left"), find_live_child(view, "right")
        assert left.element("h2").text() == "Left" and right.element("h2").text() == "Right"
        await left.element("button.inc").render_click()
        await left.element("button.inc").render_click()
        await right.element("button.inc").render_click()
        await view.element("#touch").render_click()  # the page changes; the panels stay
        assert view.element("#page-changes").text() == "1"
        assert left.element(".count").text() == "2" and right.element(".count").text() == "1"
        assert left.renders == 1 and right.renders == 1
        await view.element("#toggle").render_click()  # the right panel's tally stops
        await view.wait_for(lambda: not right.alive, "the right panel leaving")
        assert [c.id for c in live_children(view)] == ["left"]
        await view.element("#toggle").render_click()  # a new one, from zero
        right = find_live_child(view, "right") if right.alive else right
        await view.wait_for(lambda: right.alive, "the right panel back")
        await view.wait_children()
        assert find_live_child(view, "right").element(".count").text() == "0"
        assert left.element(".count").text() == "2"
        await left.element("button.reset").render_click()
        assert left.element(".count").text() == "0"


async def test_the_dashboards_first_get_shows_both_panels() -> None:
    async with examples_test() as live:
        page = await live.hub.static_render("dashboard", {})
        html = getattr(page, "html", "")
        assert html.count('<b class="count">0</b>') == 2 and "<h2>Right</h2>" in html
