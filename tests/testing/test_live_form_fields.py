"""A form handle (``view.form(selector, data)``) sees the fields the client sends: the
same as `form_fields` on the parsed page, selects and disabled fields included (a
select's field was once missing, so ``view.form(...)`` refused to type into it)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import escape
from lightflow_actors.testing._live_dom import form_fields, parse, select
from lightflow_actors.testing.live import _Finder


def finder_fields(html: str) -> dict[str, object]:
    forms = [e for e in _Finder.parse(html) if e.tag == "form"]
    assert len(forms) == 1
    return dict(forms[0].fields)


def dom_fields(html: str) -> dict[str, object]:
    return dict(form_fields(select(parse(html), "form")[0]))


@pytest.mark.parametrize(
    "inner",
    [
        '<select name="s"><option value="o1">1</option><option value="o2" selected>2</option>'
        "</select>",
        '<select name="s"><option value="a">A</option><option value="b">B</option></select>',
        '<select name="s"><option>plain &amp; text</option></select>',
        '<select name="s" multiple><option value="a" selected>A</option>'
        '<option value="b">B</option><option value="c" selected>C</option></select>',
        '<select name="s" multiple><option value="a">A</option></select>',
        '<select name="s"></select><input name="t" value="v">',
        '<input name="off" disabled value="z"><select name="s" disabled><option>x</option>'
        "</select>",
        '<input type="checkbox" name="c" checked><input type="radio" name="r" value="1">'
        '<input type="radio" name="r" value="2" checked><textarea name="a">x</textarea>',
    ],
)
def test_the_form_handle_reads_the_fields_the_client_sends(inner: str) -> None:
    html = f'<form id="f" lf-submit="go">{inner}</form>'
    assert finder_fields(html) == dom_fields(html)


def test_a_select_field_takes_typed_data() -> None:
    html = (
        '<form id="f" lf-submit="go"><select name="task"><option value="1">one</option>'
        '<option value="2">two</option></select></form>'
    )
    assert finder_fields(html) == {"task": "1"}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.text("ab<&\"'é\x00", max_size=6), st.booleans()), min_size=0, max_size=5),
    st.booleans(),
)
def test_generated_selects_read_alike(options: list[tuple[str, bool]], multiple: bool) -> None:
    body = "".join(
        f'<option value="{escape(v)}"{" selected" if chosen else ""}>{escape(v)}</option>'
        for v, chosen in options
    )
    many = " multiple" if multiple else ""
    html = f'<form lf-submit="go"><select name="s"{many}>{body}</select></form>'
    assert finder_fields(html) == dom_fields(html)
