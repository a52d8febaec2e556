"""The test DSL's element queries: CSS selectors on the rendered HTML, text unescaped,
bad selectors refused with a clear error, hostile or deep HTML handled."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.testing._live_dom import (
    SelectorError,
    compile_selector,
    form_fields,
    outer_html,
    parse,
    select,
)

PAGE = (
    '<main id="app"><ul class="list big"><li id="a" class="done item" data-k="x1">'
    'A &amp; &lt;b&gt;<button lf-click="go">go</button></li>'
    '<li id="b" class="item"><span>B <i>bold</i></span></li></ul>'
    '<form id="f"><input name="t" value="v"><input type="checkbox" name="c" checked>'
    '<input type="radio" name="r" value="1"><input type="radio" name="r" value="2" checked>'
    '<select name="s"><option value="o1">1</option><option value="o2" selected>2</option></select>'
    '<textarea name="area">line &lt;1&gt;</textarea><input name="off" disabled value="z"></form>'
    "<br><p>after</p></main>"
)


def ids(selector: str, text: str | None = None) -> list[str | None]:
    return [n.attrs.get("id") for n in select(parse(PAGE), selector, text)]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("li", ["a", "b"]),
        ("#a", ["a"]),
        ("li.item.done", ["a"]),
        ("ul.big > li", ["a", "b"]),
        ("main li", ["a", "b"]),
        ("main > li", []),
        ("[data-k]", ["a"]),
        ("[data-k=x1]", ["a"]),
        ('[data-k="x1"]', ["a"]),
        ("[class~=done]", ["a"]),
        ("[data-k^=x]", ["a"]),
        ("[data-k$=1]", ["a"]),
        ("[data-k*=1]", ["a"]),
        ("#a, #b", ["a", "b"]),
        ("*#b", ["b"]),
        ("li span i", [None]),
        ("form#f", ["f"]),
    ],
)
def test_selectors(selector: str, expected: list[str | None]) -> None:
    assert ids(selector) == expected


def test_text_is_unescaped_and_filters() -> None:
    root = parse(PAGE)
    [a] = select(root, "#a")
    assert a.text() == "A & <b>go"
    assert ids("li", "A & <b>") == ["a"]
    assert ids("li", "bold") == ["b"]
    assert ids("li", "&amp;") == []
    assert "A &amp; &lt;b&gt;" in outer_html(a)


def test_form_fields_are_what_the_client_sends() -> None:
    [form] = select(parse(PAGE), "#f")
    assert form_fields(form) == {
        "t": "v",
        "c": True,
        "r": "2",
        "s": "o2",
        "area": "line <1>",
    }


@pytest.mark.parametrize(
    "selector",
    ["", "  ", "> li", "li >", "li,", ",li", "li::before", "a[", "#", "li:hover", "a b ! c"],
)
def test_bad_selectors_are_refused_with_a_clear_error(selector: str) -> None:
    with pytest.raises(SelectorError):
        compile_selector(selector)


def test_a_deep_page_does_not_exhaust_the_stack() -> None:
    deep = "<div>" * 20_000 + '<b id="x">deep</b>' + "</div>" * 20_000
    root = parse(deep)
    [found] = select(root, "div > b#x", "deep")
    assert found.text() == "deep"
    assert len(outer_html(select(root, "div")[0])) > 20_000 * 5
    assert root.text() == "deep"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.text(max_size=30))
def test_any_html_and_selector_either_match_or_raise_selector_error(
    html: str, selector: str
) -> None:
    root = parse(html)
    try:
        found = select(root, selector)
    except SelectorError:
        return
    for node in found:
        node.text()
        outer_html(node)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_invalid_utf8_decoded_with_replacement_still_parses(data: bytes) -> None:
    root = parse(data.decode("utf-8", "replace"))
    root.text()
