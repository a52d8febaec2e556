"""Property: merging the patches of any state sequence gives the HTML of the last state.

For each sample view (counter, keyed list under random insert/delete/move/update,
nested components, hostile text), the first render plus every later patch,
sent through JSON and merged by the Python reference client, must give exactly
`to_html` of the last state, and that HTML must match a naive f-string rendering.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import (
    ClientState,
    DiffState,
    Rendered,
    Template,
    apply_patch,
    client_html,
    decode_patch,
    each,
    encode_patch,
    keyed,
    safe,
    to_html,
)

S = TypeVar("S")
FAST = settings(max_examples=150, deadline=None)

HOSTILE = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '" onmouseover="x',
        "' onclick='y",
        "a & b &amp; c",
        "élan ☃ 日本語 😀 \u200b",
        "</li></ul>",
        "{braces} {{x}}",
        "",
    ]
)
TEXT = st.one_of(HOSTILE, st.text(max_size=12))


def e(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def check_sequence(states: Sequence[S], view: Callable[[S], Rendered]) -> None:
    """Apply every patch of the sequence and compare with a direct render each step."""
    state, client = DiffState(), ClientState()
    template_ids: set[int] = set()
    for item in states:
        rendered = view(item)
        patch = state.diff(rendered)
        assert not template_ids & set(patch.templates), "statics sent twice"
        template_ids |= set(patch.templates)
        client = apply_patch(client, decode_patch(encode_patch(patch)))
        assert client_html(client) == to_html(rendered)


# -- (a) counter ---------------------------------------------------------------

COUNTER = Template('<div class="counter"><p>Count: {count}</p><button>+</button></div>')


def counter(count: int) -> Rendered:
    return COUNTER(count=count)


@FAST
@given(st.lists(st.integers(), min_size=1, max_size=8))
def test_counter(counts: list[int]) -> None:
    check_sequence(counts, counter)
    last = counts[-1]
    assert to_html(counter(last)) == (
        f'<div class="counter"><p>Count: {last}</p><button>+</button></div>'
    )


# -- (b) keyed list with random inserts, deletes, moves and updates -------------

Item = tuple[str, str, int]
ROW = Template('<li id="item-{key}" title="{label}">{label} <b>{count}</b></li>')
LIST = Template('<ul class="items">{items}</ul><p>{total} items</p>')


def item_list(items: list[Item]) -> Rendered:
    rows = keyed(ROW, [(k, ROW(key=k, label=label, count=n)) for k, label, n in items])
    return LIST(items=rows, total=len(items))


def naive_list(items: list[Item]) -> str:
    rows = "".join(
        f'<li id="item-{e(k)}" title="{e(label)}">{e(label)} <b>{n}</b></li>'
        for k, label, n in items
    )
    return f'<ul class="items">{rows}</ul><p>{len(items)} items</p>'


@st.composite
def list_histories(draw: st.DrawFn) -> list[list[Item]]:
    keys = iter(f"k{i}" for i in range(1000))
    current: list[Item] = [
        (next(keys), draw(TEXT), draw(st.integers(0, 9))) for _ in range(draw(st.integers(0, 6)))
    ]
    history = [list(current)]
    for _ in range(draw(st.integers(1, 8))):
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["insert", "delete", "move", "update"]))
            if op == "insert" or not current:
                at = draw(st.integers(0, len(current)))
                current.insert(at, (next(keys), draw(TEXT), draw(st.integers(0, 9))))
            elif op == "delete":
                del current[draw(st.integers(0, len(current) - 1))]
            elif op == "move":
                moved = current.pop(draw(st.integers(0, len(current) - 1)))
                current.insert(draw(st.integers(0, len(current))), moved)
            else:
                at = draw(st.integers(0, len(current) - 1))
                key, _, _ = current[at]
                current[at] = (key, draw(TEXT), draw(st.integers(0, 9)))
        history.append(list(current))
    return history


@FAST
@given(list_histories())
def test_keyed_list_under_random_operations(history: list[list[Item]]) -> None:
    check_sequence(history, item_list)
    assert to_html(item_list(history[-1])) == naive_list(history[-1])


@FAST
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from("abcdefgh"), TEXT, st.integers(0, 3)),
            unique_by=lambda item: item[0],
            max_size=8,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_keyed_list_under_arbitrary_reorderings(history: list[list[Item]]) -> None:
    check_sequence(history, item_list)


# -- (c) nested components: template switches, nested comprehensions ------------

Card = tuple[int, str, list[str] | None]
App = tuple[int, list[Card], str]
HEADERS = (
    Template("<header><h1>{title}</h1></header>"),
    Template('<header class="compact">{title}</header>'),
)
CARD = Template('<section class="card" data-id="{id}"><h2>{title}</h2>{body}</section>')
BODY = Template("<ol>{items}</ol>")
POINT = Template("<li>{text}</li>")
APP = Template("<main>{header}{cards}<footer>{footer}</footer></main>")


def card(card_id: int, title: str, points: list[str] | None) -> Rendered:
    body = None if points is None else BODY(items=each(POINT, [POINT(text=p) for p in points]))
    return CARD(id=card_id, title=title, body=body)


def app(state: App) -> Rendered:
    header_kind, cards, footer = state
    header = None if header_kind == 2 else HEADERS[header_kind](title=safe("<em>Live</em>"))
    return APP(
        header=header,
        cards=keyed(CARD, [(cid, card(cid, title, points)) for cid, title, points in cards]),
        footer=footer,
    )


def naive_app(state: App) -> str:
    header_kind, cards, footer = state
    header = [
        "<header><h1><em>Live</em></h1></header>",
        '<header class="compact"><em>Live</em></header>',
        "",
    ][header_kind]
    sections = "".join(
        f'<section class="card" data-id="{cid}"><h2>{e(title)}</h2>'
        + ("" if points is None else "<ol>" + "".join(f"<li>{e(p)}</li>" for p in points) + "</ol>")
        + "</section>"
        for cid, title, points in cards
    )
    return f"<main>{header}{sections}<footer>{e(footer)}</footer></main>"


APPS = st.tuples(
    st.integers(0, 2),
    st.lists(
        st.tuples(st.integers(0, 6), TEXT, st.none() | st.lists(TEXT, max_size=4)),
        unique_by=lambda c: c[0],
        max_size=5,
    ),
    TEXT,
)


@FAST
@given(st.lists(APPS, min_size=1, max_size=6))
def test_nested_components(history: list[App]) -> None:
    check_sequence(history, app)
    assert to_html(app(history[-1])) == naive_app(history[-1])


# -- (d) text that needs escaping ----------------------------------------------

ATTRS = Template("<p title=\"{a}\" data-x='{b}'>{c}</p>")


@FAST
@given(st.lists(st.tuples(TEXT, TEXT, TEXT), min_size=1, max_size=6))
def test_hostile_text_is_escaped_everywhere(history: list[tuple[str, str, str]]) -> None:
    def view(texts: tuple[str, str, str]) -> Rendered:
        return ATTRS(a=texts[0], b=texts[1], c=texts[2])

    check_sequence(history, view)
    a, b, c = history[-1]
    rendered = to_html(view(history[-1]))
    assert rendered == f"<p title=\"{e(a)}\" data-x='{e(b)}'>{e(c)}</p>"
    assert "<script" not in rendered
