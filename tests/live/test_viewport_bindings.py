"""Infinite scroll through the test DSL: ``render_viewport_bottom`` / ``render_viewport_top``
on a stream container send its ``lf-viewport-*`` event as the client does (the
container's ``lf-value-*`` and the edge child's id); the stream's ``limit`` keeps the
browser's list bounded; a container without the binding fails and sends nothing."""

from __future__ import annotations

import re

import pytest

from lightflow_actors.testing.live import LiveTestError, live_test

from .live_feed import FeedView

pytestmark = pytest.mark.anyio


def ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'id="item-(\d+)"', html)]


async def test_viewport_bottom_and_top_page_a_bounded_stream() -> None:
    async with live_test({"feed": FeedView()}) as live:
        view = await live.mount("feed")
        items = view.element("#items")
        assert ids(view.html()) == list(range(1, 31))
        html = await items.render_viewport_top()  # on the first page: nothing before
        assert ids(html) == list(range(1, 31))
        html = await items.render_viewport_bottom()
        assert ids(html) == list(range(1, 61))
        html = await items.render_viewport_bottom()
        assert ids(html) == list(range(31, 91))  # the first 30 dropped (limit -60)
        html = await items.render_viewport_top()
        assert ids(html) == list(range(1, 61))  # the 30 before, the last 30 dropped
        assert view.element("#range").text() == "1-60"
        assert view.element("#log").text() == (
            "prev news item-1; more news item-30; more news item-60; prev news item-31"
        )


async def test_a_container_without_the_binding_or_a_child_sends_nothing() -> None:
    async with live_test({"feed": FeedView()}) as live:
        view = await live.mount("feed")
        frames = len(view.client.envelopes)
        with pytest.raises(LiveTestError, match="has no lf-viewport-bottom"):
            await view.element("#range").render_viewport_bottom()
        with pytest.raises(LiveTestError, match="has no lf-viewport-top"):
            await view.element("#log").render_viewport_top()
        assert len(view.client.envelopes) == frames
