"""Outputs a human can judge: markdown rendered with raw HTML escaped, JSON pretty-printed,
images named, long text folded; hostile text never injects markup."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.live import to_html
from lightflow_actors.observer.runs._outputs import FOLD_CHARS, image_path, render_value


def html(value: object, unfolded: tuple[str, ...] = (), src: str | None = None) -> str:
    return to_html(render_value(value, "k", unfolded, src))  # type: ignore[arg-type]


def test_markdown_is_rendered_and_raw_html_escaped() -> None:
    shown = html("# Plan\n\n1. **boil**\n2. <script>alert(1)</script>\n\n![x](http://e/x.png)")
    assert "<h1>Plan</h1>" in shown and "<strong>boil</strong>" in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "<img" not in shown  # markdown images load nothing
    assert 'href="javascript' not in html("[x](javascript:alert(1))")


def test_json_is_pretty_printed_and_text_answers_shown_as_text() -> None:
    shown = html({"a": [1, 2], "b": "<b>"})
    assert 'data-kind="json"' in shown and "\n  &quot;a&quot;: [" in shown and "&lt;b&gt;" in shown
    answer = html({"text": "**hi**", "model": "m"})
    assert "<strong>hi</strong>" in answer and "show the JSON" in answer
    assert "&quot;model&quot;" in html({"text": "hi", "model": "m"}, ("k:json",))


def test_long_text_is_folded_until_unfolded() -> None:
    text = "word " * 1000
    folded = html(text)
    assert 'lf-click="unfold" lf-value-key="k"' in folded and f"({len(text)} characters)" in folded
    assert len(folded) < FOLD_CHARS + 500
    assert 'lf-click="fold"' in html(text, ("k",))


def test_images_are_named_by_an_output() -> None:
    assert image_path("out/pic.PNG") == "out/pic.PNG"
    assert image_path({"image": "a.webp", "text": "x"}) == "a.webp"
    assert image_path("a.svg") is None and image_path("a\n.png") is None and image_path(3) is None
    assert '<img src="runs/r/steps/s/image"' in html("pic.png", src="runs/r/steps/s/image")


@given(st.text(max_size=3000))
def test_no_text_injects_markup(text: str) -> None:
    shown = html(text, ("k",))
    for tag in ("<script", "<img", "<iframe", "<style", "onerror=", "<svg"):
        assert tag not in shown.lower() or (tag.strip("<") in text.lower() and "&lt;" in shown)
