"""The live page's own stylesheet: the loading state's default look repaints the element
and nothing more (ADR 0130)."""

from __future__ import annotations

import re

from lightflow_actors.adapters.ws._page import page_html

# CSS properties with which Chromium gives an element a paint-property node of its own
# (an effect, a transform, a clip) or a stacking context: set on a click, they make the
# next frame rebuild the page's paint properties and repaint it before the answer is read.
NOT_PAINT_ONLY = frozenset(
    {
        "opacity",
        "transform",
        "translate",
        "rotate",
        "scale",
        "filter",
        "backdrop-filter",
        "will-change",
        "mix-blend-mode",
        "clip-path",
        "mask",
        "isolation",
        "perspective",
        "contain",
        "position",
        "z-index",
        "transition",
        "animation",
    }
)


def _page() -> str:
    return page_html(
        body="<button lf-click='inc'>+</button>",
        title="t",
        head="",
        script_url="/live/static/lightflow-live.js",
        socket_url="/live/socket",
        base="/live",
        view="counter",
        session_id="s1",
        token="t1",
    )


def test_the_default_loading_look_only_repaints_the_element() -> None:
    # Failed before ADR 0130: the rule was `opacity:.6`, and on the 1 000-row table the
    # frame it forced (~10 ms of paint properties and paint) ran before the task that
    # read the answer to the click.
    style = re.search(r"<style>(.*?)</style>", _page(), re.S)
    assert style is not None
    rules = re.findall(r"([^{}]*)\{([^{}]*)\}", style.group(1))
    loading = [body for selector, body in rules if ".lf-loading" in selector]
    assert loading, "the page styles the loading state"
    properties = {
        declaration.split(":", 1)[0].strip().lower()
        for body in loading
        for declaration in body.split(";")
        if declaration.strip()
    }
    assert not properties & NOT_PAINT_ONLY, sorted(properties & NOT_PAINT_ONLY)
    assert "color" in properties  # still visible without a pointer over it
