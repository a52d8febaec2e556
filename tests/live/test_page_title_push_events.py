"""``PageTitle`` and ``PushEvent`` seen through the test DSL as LiveViewTest's
``page_title`` and ``assert_push_event`` / ``refute_push_event`` do: the title of the
page's GET is the mount's `PageTitle` (else the view's class title), each later
`PageTitle` replaces it; pushed events are consumed in order, once."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors.live import (
    LiveView,
    PageTitle,
    Params,
    PushEvent,
    Rendered,
    SessionInfo,
    StaticRender,
    Template,
    Update,
)
from lightflow_actors.testing.live import LiveTestError, live_test

pytestmark = pytest.mark.anyio


class Receive(msgspec.Struct, frozen=True, tag="receive"):
    pass


class Quiet(msgspec.Struct, frozen=True, tag="quiet"):
    pass


PAGE = Template(
    '<div><b id="n">{n}</b><button id="receive" lf-click="receive">receive</button>'
    '<button id="quiet" lf-click="quiet">quiet</button></div>'
)


class Inbox(LiveView[int, Receive | Quiet]):
    title = "Inbox"

    def mount(self, params: Params, session: SessionInfo) -> Update[int]:
        return Update(0, (PageTitle("Inbox (0)"),))

    def handle_event(self, event: Receive | Quiet, state: int) -> int | Update[int]:
        if isinstance(event, Quiet):
            return state + 1  # no new title: the last one stays
        n = state + 1
        return Update(n, (PageTitle(f"Inbox ({n})"), PushEvent("count", {"n": n})))

    def render(self, state: int) -> Rendered:
        return PAGE(n=state)


class Plain(LiveView[int, Quiet]):
    title = "Plain page"

    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Quiet, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return PAGE(n=state)


async def test_page_title_follows_the_mount_and_each_page_title_command() -> None:
    async with live_test({"inbox": Inbox(), "plain": Plain()}) as live:
        plain = await live.mount("plain")
        assert plain.page_title() == "Plain page"  # the class title: no PageTitle
        static = await live.hub.static_render("inbox", {})
        assert isinstance(static, StaticRender) and static.title == "Inbox (0)"
        view = await live.mount("inbox")
        assert view.page_title() == "Inbox (0)"
        await view.click("receive")
        assert view.page_title() == "Inbox (1)"
        await view.click("quiet")
        assert view.page_title() == "Inbox (1)"
        await view.click("receive")
        assert view.page_title() == "Inbox (3)"


async def test_assert_push_event_consumes_in_order_and_refute_sees_only_new_ones() -> None:
    async with live_test({"inbox": Inbox()}) as live:
        view = await live.mount("inbox")
        view.refute_push_event("count")
        with pytest.raises(LiveTestError, match=r"no push event 'count'.*none"):
            view.assert_push_event("count")
        await view.click("receive")
        await view.click("receive")
        with pytest.raises(LiveTestError, match="push event 'count' arrived"):
            view.refute_push_event("count")
        view.refute_push_event("count", {"n": 7})
        assert view.assert_push_event("count", {"n": 2}) == {"n": 2}  # skips the first
        with pytest.raises(LiveTestError, match="no push event 'count' with"):
            view.assert_push_event("count", {"n": 1})  # consumed with the one after it
        view.refute_push_event("count")
        await view.click("receive")
        assert view.assert_push_event("count") == {"n": 3}
        with pytest.raises(LiveTestError, match="no push event 'other'"):
            view.assert_push_event("other")
