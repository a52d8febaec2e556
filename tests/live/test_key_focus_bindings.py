"""Key and focus bindings through the test DSL: ``render_keydown``/``render_keyup``/
``render_focus``/``render_blur`` on an element bound with ``lf-<kind>`` or
``lf-window-<kind>`` send what the client sends (``lf-value-*``, the key, a field's
value); an ``lf-key`` the key does not match and an element with no such binding fail
with a `LiveTestError` naming why, and send nothing."""

from __future__ import annotations

import pytest

from lightflow_actors.testing.live import LiveTestError, live_test

from .live_keys import Keys

pytestmark = pytest.mark.anyio


async def test_key_and_focus_events_of_elements_and_the_window_through_the_dsl() -> None:
    async with live_test({"keys": Keys()}) as live:
        view = await live.mount("keys")
        html = await view.element("#q").render_keyup("a", {"value": "a"})
        assert "typed a a q" in html
        html = await view.element("#enter").render_keydown("Enter")
        assert "pressed Enter " in html  # the field's value: empty
        html = await view.element("#panel").render_keyup("Escape")  # lf-window-keyup
        assert "released Escape p" in html
        await view.element("#panel").render_blur()  # lf-window-blur
        await view.element("#panel").render_focus()  # lf-window-focus
        await view.element("#f").render_focus({"value": "x"})
        await view.element("#f").render_blur({"value": "xy"})
        assert view.element("#log").text() == (
            "typed a a q; pressed Enter ; released Escape p; away p; back p; entered x; left xy f"
        )
        # An event pushed by name, as a hook or a test without an element would.
        html = await view.render_keyup("released", "Escape", {"panel": "by name"})
        assert "released Escape by name" in html


async def test_a_key_lf_key_does_not_match_or_a_missing_binding_sends_nothing() -> None:
    async with live_test({"keys": Keys()}) as live:
        view = await live.mount("keys")
        frames = len(view.client.envelopes)
        with pytest.raises(LiveTestError, match="only reacts to the key 'Enter'"):
            await view.element("#enter").render_keydown("a")
        with pytest.raises(LiveTestError, match="only reacts to the key 'Escape'"):
            await view.element("#panel").render_keyup("Enter")
        with pytest.raises(LiveTestError, match="neither lf-keydown nor lf-window-keydown"):
            await view.element("#q").render_keydown("a")
        with pytest.raises(LiveTestError, match="give the key"):
            await view.element("#q").render_keyup("")
        with pytest.raises(LiveTestError, match="neither lf-focus nor lf-window-focus"):
            await view.element("#log").render_focus()
        assert view.element("#log").text() == ""
        assert len(view.client.envelopes) == frames  # nothing was sent, nothing answered
