"""`KeyedRows`: a keyed comprehension that renders each immutable item once.

It must give what `keyed` gives for the same items (so the diff and the client see
no difference), call `render` only for items it has not seen, reuse the very same
entries for the others, render mutable items every time, stay bounded, and refuse
what `keyed` refuses. `keyed` itself takes its checks in whole-list passes now; its
refusals and key conversions are pinned here too.
"""

from __future__ import annotations

import enum

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import (
    ClientState,
    DiffState,
    KeyedRows,
    Rendered,
    RenderedError,
    Template,
    apply_patch,
    client_html,
    decode_patch,
    encode_patch,
    keyed,
    to_html,
)

ROW = Template('<tr id="r-{id}"><td>{name}</td><td>{score}</td></tr>')
OTHER = Template("<p>{id}</p>")
PAGE = Template("<table><tbody>{rows}</tbody></table><p>{count}</p>")


class Item(msgspec.Struct, frozen=True):
    id: int
    name: str
    score: int


class Loose(msgspec.Struct):
    """Not frozen: may change in place."""

    id: int
    name: str
    score: int


def render_item(item: Item | Loose) -> Rendered:
    return ROW(id=item.id, name=item.name, score=item.score)


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, item: Item | Loose) -> Rendered:
        self.calls += 1
        return render_item(item)


def reference(items: list[Item]) -> Rendered:
    return PAGE(rows=keyed(ROW, [(i.id, render_item(i)) for i in items]), count=len(items))


def test_gives_what_keyed_gives_and_renders_each_item_once() -> None:
    render = Counting()
    rows = KeyedRows(ROW, render=render, key=lambda item: item.id)
    items = [Item(i, f"n{i}", i * 3) for i in range(50)]
    first = rows(items)
    assert first == keyed(ROW, [(i.id, render_item(i)) for i in items])
    assert render.calls == 50
    changed = list(items)
    changed[7] = Item(7, "seven", 0)
    changed[30] = Item(30, "thirty", 1)
    second = rows(changed)
    assert render.calls == 52, "only the two new objects are rendered"
    assert second == keyed(ROW, [(i.id, render_item(i)) for i in changed])
    # Unchanged rows keep the very same entry and key objects: the diff skips them by identity.
    assert all(second.entries[i] is first.entries[i] for i in range(50) if i not in (7, 30))
    assert second.keys is not None and first.keys is not None
    assert all(a is b for a, b in zip(second.keys, first.keys, strict=True))
    reordered = rows(list(reversed(changed)))
    assert render.calls == 52, "a re-sort renders nothing"
    assert reordered.keys == tuple(str(i.id) for i in reversed(changed))


def test_an_equal_but_new_object_is_rendered_again() -> None:
    render = Counting()
    rows = KeyedRows(ROW, render=render, key=lambda item: item.id)
    rows([Item(1, "a", 1)])
    rows([Item(1, "a", 1)])
    assert render.calls == 2


def test_mutable_items_are_rendered_every_time_and_changes_in_place_show() -> None:
    render = Counting()
    rows = KeyedRows(ROW, render=render, key=lambda item: item.id)
    loose = [Loose(1, "a", 1), Loose(2, "b", 2)]
    rows(loose)
    loose[0].score = 99
    again = rows(loose)
    assert render.calls == 4
    assert "99" in again.entries[0]
    assert repr(rows) == f"KeyedRows({ROW!r}, holding 0)"


def test_a_generator_and_a_tuple_give_the_same() -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: item.id)
    items = tuple(Item(i, "x", i) for i in range(5))
    assert rows(items) == rows(item for item in items)


def test_string_keys_and_an_int_enum_key() -> None:
    class Colour(enum.IntEnum):
        RED = 1

    rows = KeyedRows(ROW, render=render_item, key=lambda item: f"k{item.id}")
    assert rows([Item(1, "a", 1)]).keys == ("k1",)
    enum_rows = KeyedRows(ROW, render=render_item, key=lambda item: Colour(item.id))
    assert enum_rows([Item(1, "a", 1)]).keys == (str(Colour.RED),)


@pytest.mark.parametrize("bad", [True, 1.5, None, ("a",), b"k"])
def test_a_key_that_is_not_str_or_int_is_refused(bad: object) -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: bad)  # type: ignore[arg-type,return-value]
    with pytest.raises(RenderedError, match="is not a str or int"):
        rows([Item(1, "a", 1)])
    with pytest.raises(RenderedError, match="is not a str or int"):
        keyed(ROW, [(bad, ROW(id=1, name="a", score=1))])  # type: ignore[list-item]


def test_an_entry_of_another_template_is_refused() -> None:
    rows = KeyedRows(ROW, render=lambda item: OTHER(id=item.id), key=lambda item: item.id)
    with pytest.raises(RenderedError, match="entry '1' was not rendered by"):
        rows([Item(1, "a", 1)])
    with pytest.raises(RenderedError, match="entry '2' was not rendered by"):
        keyed(ROW, [(1, ROW(id=1, name="a", score=1)), (2, OTHER(id=2))])


def test_duplicate_keys_are_refused_and_a_failed_call_keeps_no_mutable_item() -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: item.id)
    with pytest.raises(RenderedError, match="key '1' appears twice"):
        rows([Item(1, "a", 1), Item(1, "b", 2)])
    same = Item(2, "c", 3)
    with pytest.raises(RenderedError, match="key '2' appears twice"):
        rows([same, same])

    def boom(item: Loose) -> Rendered:
        if item.id == 2:
            raise ValueError("render failed")
        return render_item(item)

    failing = KeyedRows(ROW, render=boom, key=lambda item: item.id)
    with pytest.raises(ValueError, match="render failed"):
        failing([Loose(1, "a", 1), Loose(2, "b", 2)])
    assert repr(failing).endswith("holding 0)")
    assert failing([]).entries == ()


def test_mixed_int_and_str_keys_collide_as_text() -> None:
    with pytest.raises(RenderedError, match="key '7' appears twice"):
        keyed(ROW, [(7, ROW(id=7, name="a", score=1)), ("7", ROW(id=7, name="b", score=1))])
    mixed = keyed(ROW, [(7, ROW(id=7, name="a", score=1)), ("x", ROW(id=8, name="b", score=1))])
    assert mixed.keys == ("7", "x")


def test_a_few_rows_replaced_reuse_the_last_keys_and_entries() -> None:
    """A 5-row change of 1 000 rows: the same keys tuple, the unchanged entries the very
    same tuples, and only the 5 new rows rendered and keyed."""
    render, key_calls = Counting(), [0]

    def key(item: Item) -> int:
        key_calls[0] += 1
        return item.id

    rows = KeyedRows(ROW, render=render, key=key)
    items = tuple(Item(i, "a", 0) for i in range(1000))
    first = rows(items)
    changed = list(items)
    for i in (3, 211, 422, 633, 999):
        changed[i] = Item(i, "b", 1)
    render.calls = key_calls[0] = 0
    second = rows(tuple(changed))
    assert second.keys is first.keys
    assert render.calls == 5 and key_calls[0] == 5
    pairs = zip(first.entries, second.entries, strict=True)
    assert [i for i, (a, b) in enumerate(pairs) if a is not b] == [3, 211, 422, 633, 999]
    assert second == keyed(ROW, [(i.id, render_item(i)) for i in changed])
    assert rows(tuple(changed)) is second  # nothing replaced: the very same comprehension
    # A re-order (every position replaced) and a change past the probes' tolerance (one
    # in eight) take the full path; the answer is what keyed gives.
    backwards = changed[::-1]
    assert rows(backwards) == keyed(ROW, [(i.id, render_item(i)) for i in backwards])
    many = [Item(i.id, "c", 2) if i.id % 4 == 0 else i for i in backwards]
    assert rows(many) == keyed(ROW, [(i.id, render_item(i)) for i in many])


def test_a_replaced_row_with_a_new_key_or_a_list_changed_in_place() -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: item.id)
    items = [Item(i, "a", 0) for i in range(20)]
    rows(items)
    items[4] = Item(100, "new", 0)  # the same list, changed in place after the call
    assert rows(items) == keyed(ROW, [(i.id, render_item(i)) for i in items])
    items[5] = Item(100, "twice", 0)
    with pytest.raises(RenderedError, match="key '100' appears twice"):
        rows(items)
    items[5] = Item(5, "a", 0)
    assert rows(items) == keyed(ROW, [(i.id, render_item(i)) for i in items])
    # A mutable row swapped in is rendered every time, as on the full path.
    loose = Loose(6, "loose", 0)
    mixed: list[Item | Loose] = [*items]
    mixed[6] = loose
    assert rows(mixed).entries[6] == render_item(loose).dynamics
    loose.name = "changed"
    assert rows(mixed).entries[6] == render_item(loose).dynamics


def test_the_memory_is_bounded() -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: item.id, limit=10)
    for round_ in range(30):
        rows([Item(i, str(round_), i) for i in range(4)])
        held = int(repr(rows).rsplit(" ", 1)[1].rstrip(")"))
        assert held <= 10 + 4
    with pytest.raises(ValueError, match="limit must be at least 1"):
        KeyedRows(ROW, render=render_item, key=lambda item: item.id, limit=0)


# -- property: patches of KeyedRows renders give the HTML of a keyed render --------------


@st.composite
def histories(draw: st.DrawFn) -> list[list[Item]]:
    """Renders of one list under inserts, deletes, moves, updates and re-sorts, some
    items kept as the very same objects from one render to the next."""
    next_id = iter(range(10_000))
    current = [
        Item(next(next_id), draw(st.text(max_size=4)), 0) for _ in range(draw(st.integers(0, 8)))
    ]
    history = [list(current)]
    for _ in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(1, 4))):
            op = draw(
                st.sampled_from(
                    ["insert", "delete", "move", "update", "replace", "reverse", "sort"]
                )
            )
            if op == "insert" or not current:
                at = draw(st.integers(0, len(current)))
                current.insert(at, Item(next(next_id), draw(st.text(max_size=4)), 0))
            elif op == "delete":
                del current[draw(st.integers(0, len(current) - 1))]
            elif op == "move":
                moved = current.pop(draw(st.integers(0, len(current) - 1)))
                current.insert(draw(st.integers(0, len(current))), moved)
            elif op == "update":
                at = draw(st.integers(0, len(current) - 1))
                old = current[at]
                current[at] = Item(old.id, old.name, old.score + draw(st.integers(1, 5)))
            elif op == "replace":  # another item, another key, at the same position
                at = draw(st.integers(0, len(current) - 1))
                current[at] = Item(next(next_id), draw(st.text(max_size=4)), 0)
            elif op == "reverse":
                current.reverse()
            else:
                current.sort(key=lambda item: (item.name, item.id))
        history.append(list(current))
    return history


@settings(max_examples=120, deadline=None)
@given(histories())
def test_patches_of_keyed_rows_give_the_full_render(history: list[list[Item]]) -> None:
    rows = KeyedRows(ROW, render=render_item, key=lambda item: item.id)
    state, client = DiffState(), ClientState()
    for items in history:
        rendered = PAGE(rows=rows(items), count=len(items))
        assert rendered == reference(items)
        client = apply_patch(client, decode_patch(encode_patch(state.diff(rendered))))
        assert client_html(client) == to_html(reference(items))
