"""Escaping by default, `Markup` as the safe type, and template compilation."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.live import (
    Markup,
    Rendered,
    RenderedError,
    Template,
    TemplateSyntaxError,
    TemplateValueError,
    each,
    escape,
    keyed,
    safe,
    to_html,
)


def test_escape_covers_text_and_both_quote_kinds() -> None:
    assert escape("<a href=\"x\" title='y'>&</a>") == (
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    )
    assert isinstance(escape("x"), Markup)


def test_markup_passes_through_and_concatenation_loses_safety() -> None:
    bold = safe("<b>x</b>")
    assert escape(bold) is bold
    assert type(bold + "<i>") is str
    assert to_html(Template("{v}")(v=bold + "<i>")) == "&lt;b&gt;x&lt;/b&gt;&lt;i&gt;"
    assert to_html(Template("{v}")(v=bold)) == "<b>x</b>"
    assert repr(bold) == "Markup('<b>x</b>')"


@given(st.text())
def test_escape_round_trips_through_html_unescape(text: str) -> None:
    escaped = escape(text)
    assert html.unescape(escaped) == text
    assert not {"<", ">", '"', "'"} & set(escaped)


def test_template_splits_statics_once_and_shares_them() -> None:
    card = Template('<div class="c">{title}<p>{body:>3}</p>{{literal}}</div>')
    assert card.statics == ('<div class="c">', "<p>", "</p>{literal}</div>")
    assert card.fields == ("title", "body")
    first, second = card(title="a", body=1), card(title="b", body=2)
    assert first.statics is second.statics is card.statics
    assert first.fingerprint == second.fingerprint == card.fingerprint
    assert to_html(first) == '<div class="c">a<p>  1</p>{literal}</div>'


def test_fingerprint_depends_on_statics_only() -> None:
    assert Template("<p>{a}</p>").fingerprint == Template("<p>{b}</p>").fingerprint
    assert Template("<p>{a}</p>").fingerprint != Template("<p>{a}</b>").fingerprint
    # Length prefixes keep the boundary between statics significant.
    assert Template("ab{x}c").fingerprint != Template("a{x}bc").fingerprint


def test_values_render_by_type() -> None:
    show = Template("[{v}]")
    assert to_html(show(v=None)) == "[]"
    assert to_html(show(v=3)) == "[3]"
    assert to_html(show(v=2.5)) == "[2.5]"
    assert to_html(show(v="<x>")) == "[&lt;x&gt;]"
    assert to_html(show(v=show(v="in"))) == "[[in]]"
    with pytest.raises(TemplateValueError, match="bool"):
        show(v=True)
    with pytest.raises(TemplateValueError, match="cannot render a list"):
        show(v=["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("<p>{</p>", "literal braces"),
        ("<p>}</p>", "literal braces"),
        ("<p>{a.b}</p>", "plain name"),
        ("<p>{}</p>", "plain name"),
        ("<p>{0}</p>", "plain name"),
        ("<p>{a!r}</p>", "conversion"),
        ("<p>{a:{w}}</p>", "nested format spec"),
        ("<a href={url}>", "unquoted attribute"),
        ("<a href = {url}>", "unquoted attribute"),
    ],
)
def test_template_syntax_errors_name_the_problem(source: str, problem: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=problem):
        Template(source)


def test_missing_and_extra_fields_are_named() -> None:
    pair = Template("{a}{b}")
    with pytest.raises(TemplateValueError, match=r"'b'.*missing"):
        pair(a=1)
    with pytest.raises(TemplateValueError, match=r"'c'.*not a field"):
        pair(a=1, b=2, c=3)


def test_comprehensions_reject_foreign_entries_and_duplicate_keys() -> None:
    row, other = Template("<li>{x}</li>"), Template("<p>{x}</p>")
    with pytest.raises(RenderedError, match="item 1"):
        each(row, [row(x=1), other(x=2)])
    with pytest.raises(RenderedError, match="appears twice"):
        keyed(row, [(7, row(x=1)), ("7", row(x=2))])
    with pytest.raises(RenderedError, match="not a str or int"):
        keyed(row, [(True, row(x=1))])
    with pytest.raises(RenderedError, match="one more static"):
        Rendered(1, ("a",), ("b",))


def test_comprehension_renders_statics_per_entry() -> None:
    row = Template("<li>{x}</li>")
    table = Template("<ul>{rows}</ul>")
    assert to_html(table(rows=each(row, [row(x=i) for i in range(3)]))) == (
        "<ul><li>0</li><li>1</li><li>2</li></ul>"
    )
    assert to_html(table(rows=keyed(row, []))) == "<ul></ul>"


def test_a_format_spec_that_does_not_fit_the_value_is_a_typed_error() -> None:
    with pytest.raises(TemplateValueError, match=r"format spec '\.2f' does not fit a str"):
        Template("{x:.2f}")(x="abc")


SOURCE = st.text(alphabet=st.sampled_from("{}<>=\"ab:!.0 '"), max_size=20) | st.text(max_size=20)


@given(SOURCE)
def test_compiling_any_source_gives_a_template_or_a_syntax_error(source: str) -> None:
    """A compiled template renders like `str.format` with the same values."""
    try:
        template = Template(source)
    except TemplateSyntaxError:
        return
    values = {name: "v" for name in template.fields}
    try:
        expected = source.format(**values)
    except ValueError:
        with pytest.raises(TemplateValueError):
            template(**values)
        return
    assert to_html(template(**values)) == expected
    assert len(template.statics) == len(template.fields) + 1
