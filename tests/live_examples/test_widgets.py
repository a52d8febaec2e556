"""The widgets example through the test DSL (no browser): the events inside its JS
pipelines reach the view, and the nudge pushes an event to the page's hook."""

from __future__ import annotations

import pytest

from .examples_test import examples_test

pytestmark = pytest.mark.anyio


async def test_widgets_events_inside_js_commands_and_pushed_events() -> None:
    async with examples_test() as live:
        view = await live.mount("widgets")
        assert 'lf-hook="Pinger"' in view.html()
        await view.click("opened")  # found inside JS.toggle(...).push("opened")
        assert 'id="opens">1<' in view.html()
        await view.push("escaped", {"key": "Escape"})  # what lf-window-keydown sends
        assert 'id="escapes">1<' in view.html()
        await view.click("nudge")
        assert view.client.pushed_events == [("highlight", {"color": "#ffd"})]
        html = await view.render_hook("ping", {"n": 1})  # what the hook sends back
        assert 'id="pings">1<' in html
        assert view.last_reply == {"pings": 1}  # its pushEvent's Promise resolves with it
        await view.submit("save", {"title": "hello"})
        assert 'id="saved">hello<' in view.html()
