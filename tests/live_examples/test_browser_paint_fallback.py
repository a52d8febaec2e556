"""Real browser: the painter's batched region parse declines what it cannot place.

A patch that changes several id'd nodes paints them as regions whose HTML is written
one after the other, separated by a comment (``<!--lf-region-->``), and parsed together
(one parse per namespace, section 2c of lightflow-live.js). A region whose raw HTML
(a ``Markup`` value) contains that separator, closes its own element early, leaves text
beside it, or breaks out of an inline SVG does not parse back to exactly one element of
its tag between separators: the paint must decline, the client then renders in full,
and the page is exactly what a full render gives. A clean patch of the same shape, just
before, is painted in place (so the batched path is the one declining). The node stays
rendered in full while its HTML is unsound, and once more when it is sound again (the
full render of its unsound HTML left stray nodes beside its element, which a paint in
place would keep); then it is painted in place again.
"""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.async_api import Page

from lightflow_actors.live import DiffState, Markup, Template, encode_patch, keyed

from .test_browser import pytestmark  # noqa: F401
from .test_browser_paint import harness_page

ITEM = Template('<li id="i-{k}" data-v="{v}">{body}</li>')
NODE = Template('<g id="n-{k}" data-v="{v}"><text>{body}</text></g>')
PAGE = Template('<div><ul id="list">{items}</ul><svg id="dag">{nodes}</svg></div>')
KEYS = ("a", "b", "c", "d")

SEPARATOR = "<!--lf-region-->"
POISON = {
    # The separator inside an element is only a comment in it; closing the element first
    # puts it between the regions, so the regions' count no longer matches.
    "separator": Markup(f"x</li>{SEPARATOR}<li>y"),
    "two elements": Markup("x</li><li>y"),
    "text beside": Markup("x</li>tail"),
    "separator alone": Markup(f"x</li>{SEPARATOR}"),
}
SVG_POISON = {
    # An HTML element inside SVG content ends the SVG: the region leaves its wrapper.
    "html in svg": Markup("<p>out</p>"),
    "separator in svg": Markup(f"x</text></g>{SEPARATOR}<g><text>y"),
}


def _page(items: dict[str, object], nodes: dict[str, object], v: int) -> object:
    return PAGE(
        items=keyed(ITEM, [(k, ITEM(k=k, v=v, body=b)) for k, b in items.items()]),
        nodes=keyed(NODE, [(k, NODE(k=k, v=v, body=b)) for k, b in nodes.items()]),
    )


async def _apply(page: Page, patch: object) -> dict[str, object]:
    result: dict[str, object] = await page.evaluate("(p) => paint.apply(p)", patch)
    assert result["got"] == result["want"]  # the page is what a full render gives
    return result


async def _check_declines(page: Page, poison: dict[str, Markup], svg: bool) -> None:
    for name, markup in poison.items():
        await page.evaluate("paint.reset()")
        diff = DiffState()
        clean: dict[str, object] = dict.fromkeys(KEYS, "ok")

        def patch(items: dict[str, object], v: int, diff: DiffState = diff) -> object:
            other: dict[str, object] = dict.fromkeys(KEYS, "ok")
            html = _page(other, items, v) if svg else _page(items, other, v)
            return msgspec.json.decode(encode_patch(diff.diff(html)))

        await _apply(page, patch(dict(clean), 0))
        # Two nodes change: two regions, parsed together, painted in place.
        assert (await _apply(page, patch({**clean, "a": "one", "c": "two"}, 0)))["partial"]
        # The same two nodes, one of them with raw HTML that is not one element: declined.
        bad = await _apply(page, patch({**clean, "a": markup, "c": "three"}, 0))
        assert not bad["partial"], name
        # Still unsound: rendered in full again.
        again = await _apply(page, patch({**clean, "a": Markup(f"{markup}!"), "c": "four"}, 0))
        assert not again["partial"], name
        # Sound again: one more full render takes away what the raw HTML left beside the
        # node's element (painted in place, it stayed on the page), then painted in place.
        assert not (await _apply(page, patch({**clean, "a": "five", "c": "six"}, 0)))["partial"]
        assert (await _apply(page, patch({**clean, "a": "seven", "c": "six"}, 0)))["partial"], name


async def test_a_region_that_does_not_parse_to_one_element_makes_the_paint_decline() -> None:
    async with harness_page("paint-fallback") as page:
        await _check_declines(page, POISON, svg=False)
        await _check_declines(page, SVG_POISON, svg=True)


FRAGMENTS = st.sampled_from(
    [
        "plain",
        SEPARATOR,
        "</li>",
        "<li>",
        "</g>",
        "<g>",
        "</text>",
        "<p>",
        "&amp;",
        "<text>",
    ]
)


async def test_any_raw_html_in_batched_regions_leaves_the_page_as_a_full_render() -> None:
    """Generated raw HTML in several changed nodes of both namespaces: painted in place or
    declined, the page always equals a full render, and the painter keeps up afterwards.
    (Fragments whose effect crosses a region's end in a whole page's parse, an unclosed
    comment or formatting element, are the view's malformed HTML, not generated here.)"""
    async with harness_page("paint-fallback-gen") as page:
        bodies = st.lists(FRAGMENTS, max_size=4).map(lambda f: Markup("".join(f)))
        changes = st.dictionaries(st.sampled_from(KEYS), bodies, min_size=2)
        declined: list[bool] = []
        runs: list[list[tuple[dict[str, Markup], dict[str, Markup]]]] = []

        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(st.lists(st.tuples(changes, changes), min_size=1, max_size=3))
        def sequences(seq: list[tuple[dict[str, Markup], dict[str, Markup]]]) -> None:
            runs.append(seq)

        sequences()
        for seq in runs:
            await page.evaluate("paint.reset()")
            diff = DiffState()
            items: dict[str, object] = dict.fromkeys(KEYS, "")
            nodes: dict[str, object] = dict.fromkeys(KEYS, "")
            await _apply(page, msgspec.json.decode(encode_patch(diff.diff(_page(items, nodes, 0)))))
            for v, (item_change, node_change) in enumerate(seq, start=1):
                items.update(item_change)
                nodes.update(node_change)
                html = _page(items, nodes, v)
                result = await _apply(page, msgspec.json.decode(encode_patch(diff.diff(html))))
                declined.append(not result["partial"])
            clean = _page(dict.fromkeys(KEYS, "x"), dict.fromkeys(KEYS, "x"), 99)
            await _apply(page, msgspec.json.decode(encode_patch(diff.diff(clean))))
            again = _page(dict.fromkeys(KEYS, "y"), dict.fromkeys(KEYS, "y"), 99)
            result = await _apply(page, msgspec.json.decode(encode_patch(diff.diff(again))))
            assert result["partial"]  # back to painting in place, the page clean
        assert any(declined)  # the generated HTML reached the fallback


async def test_raw_html_that_leaves_nodes_inside_its_element_is_morphed_away_not_kept() -> None:
    """`</text>stray` in a node's `<text>` still parses to one `<g>` (sound), but puts a
    text node inside it that the template does not place. The next patch changes only text
    and an attribute, which section 2e would set in place, keeping the stray text: a node
    whose values on the page hold raw HTML is morphed instead (found by the generated test
    above)."""
    async with harness_page("paint-fallback-inside") as page:
        for raw in ("</text>stray", "<text>y</text>", 'x" data-extra="1'):
            await page.evaluate("paint.reset()")
            diff = DiffState()
            items: dict[str, object] = dict.fromkeys(KEYS, "ok")
            nodes: dict[str, object] = dict.fromkeys(KEYS, "ok")
            for v, body in enumerate(("ok", Markup(raw), "x", "y")):
                nodes.update(a=body, b=f"b{v}")
                patch = encode_patch(diff.diff(_page(items, nodes, v)))
                result = await _apply(page, msgspec.json.decode(patch))
            assert result["partial"], raw  # painted in place again once clean
