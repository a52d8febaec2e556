"""What the diff sends: statics once per connection, only changed dynamics, keyed moves."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors.live import (
    ClientState,
    DiffState,
    FingerprintCollisionError,
    Patch,
    Rendered,
    Template,
    apply_patch,
    client_html,
    decode_patch,
    each,
    encode_patch,
    keyed,
    to_html,
)

COUNTER = Template('<div><p>Count: {count}</p><button phx-click="inc">+</button></div>')
ROW = Template('<tr id="{id}"><td>{name}</td><td>{score}</td></tr>')
TABLE = Template("<table>{rows}</table><p>{note}</p>")


def table(rows: list[tuple[str, str, int]], note: str = "") -> Rendered:
    items = keyed(ROW, [(key, ROW(id=key, name=name, score=score)) for key, name, score in rows])
    return TABLE(rows=items, note=note)


def send(state: DiffState, client: ClientState, rendered: Rendered) -> tuple[Patch, ClientState]:
    """Diff, go through JSON as on the wire, merge, and check the client's HTML."""
    patch = state.diff(rendered)
    client = apply_patch(client, decode_patch(encode_patch(patch)))
    assert client_html(client) == to_html(rendered)
    return patch, client


def test_first_patch_is_full_and_later_ones_carry_only_changed_dynamics() -> None:
    state, client = DiffState(), ClientState()
    first, client = send(state, client, COUNTER(count=0))
    assert msgspec.json.decode(encode_patch(first)) == {
        "t": {"0": list(COUNTER.statics)},
        "r": {"s": 0, "0": "0"},
    }
    second, client = send(state, client, COUNTER(count=1))
    assert encode_patch(second) == b'{"r":{"0":"1"}}'
    third, _ = send(state, client, COUNTER(count=1))
    assert third.is_empty and encode_patch(third) == b"{}"
    assert state.known_fingerprints == {COUNTER.fingerprint}


def test_statics_go_out_once_per_fingerprint_even_when_a_slot_switches_back() -> None:
    a, b = Template("<a>{x}</a>"), Template("<b>{x}</b>")
    outer = Template("<div>{inner}</div>")
    state, client = DiffState(), ClientState()
    sent: list[tuple[str, ...]] = []
    for inner in [a(x=1), b(x=2), a(x=3), b(x=4)]:
        patch, client = send(state, client, outer(inner=inner))
        sent.extend(patch.templates.values())
    assert sorted(sent) == sorted([outer.statics, a.statics, b.statics])


def test_one_cell_change_in_a_keyed_table_sends_only_that_cell() -> None:
    rows = [(f"r{i}", f"name {i}", i) for i in range(100)]
    state, client = DiffState(), ClientState()
    _, client = send(state, client, table(rows))
    rows[42] = ("r42", "name 42", 4200)
    patch, _ = send(state, client, table(rows))
    assert encode_patch(patch) == b'{"r":{"0":{"u":{"r42":{"2":"4200"}}}}}'


def test_a_move_is_sent_as_a_move_without_the_entry() -> None:
    rows = [(f"r{i}", f"name {i}", i) for i in range(10)]
    state, client = DiffState(), ClientState()
    _, client = send(state, client, table(rows))
    moved = rows[1:] + rows[:1]
    patch, client = send(state, client, table(moved))
    assert patch.root == {"0": {"m": [["r0", 9]]}}
    swapped = [moved[9], *moved[1:9], moved[0]]
    patch, _ = send(state, client, table(swapped))
    assert patch.root == {"0": {"m": [["r0", 0], ["r1", 9]]}}


def test_insert_delete_and_update_together() -> None:
    state, client = DiffState(), ClientState()
    _, client = send(state, client, table([("a", "A", 1), ("b", "B", 2), ("c", "C", 3)]))
    patch, _ = send(state, client, table([("c", "C!", 3), ("new", "N", 0), ("a", "A", 1)]))
    assert patch.root == {
        "0": {
            "d": ["b"],
            "m": [["c", 0]],
            "i": [["new", 1, {"0": "new", "1": "N", "2": "0"}]],
            "u": {"c": {"1": "C!"}},
        }
    }


def test_positional_list_grows_and_shrinks_at_the_end() -> None:
    item = Template("<li>{x}</li>")
    page = Template("<ol>{items}</ol>")
    state, client = DiffState(), ClientState()
    _, client = send(state, client, page(items=each(item, [item(x=i) for i in range(3)])))
    patch, client = send(state, client, page(items=each(item, [item(x=i) for i in range(5)])))
    assert patch.root == {"0": {"i": [["3", 3, {"0": "3"}], ["4", 4, {"0": "4"}]]}}
    patch, _ = send(state, client, page(items=each(item, [item(x=9), item(x=1)])))
    assert patch.root == {"0": {"d": ["2", "3", "4"], "u": {"0": {"0": "9"}}}}


def test_switching_between_keyed_and_positional_sends_the_new_list_whole() -> None:
    item = Template("<li>{x}</li>")
    page = Template("<ol>{items}</ol>")
    state, client = DiffState(), ClientState()
    _, client = send(state, client, page(items=each(item, [item(x=1)])))
    patch, _ = send(state, client, page(items=keyed(item, [("k", item(x=1))])))
    assert patch.root == {"0": {"s": 1, "e": [{"0": "1"}], "k": ["k"]}}


def test_root_template_change_resends_the_root() -> None:
    other = Template("<main>{count}</main>")
    state, client = DiffState(), ClientState()
    _, client = send(state, client, COUNTER(count=1))
    patch, _ = send(state, client, other(count=1))
    assert patch.root == {"s": 1, "0": "1"}
    assert list(patch.templates) == [1]


def test_reset_starts_over_as_for_a_new_connection() -> None:
    state = DiffState()
    state.diff(COUNTER(count=1))
    state.reset()
    assert state.rendered is None and not state.known_fingerprints
    patch = state.diff(COUNTER(count=1))
    assert patch.templates == {0: COUNTER.statics}


def test_fingerprint_collision_is_reported_and_nothing_is_recorded() -> None:
    real = COUNTER(count=1)
    forged = Rendered(real.fingerprint, ("<x>", "</x>"), ("1",))
    outer = Template("{a}{b}")
    state = DiffState()
    with pytest.raises(FingerprintCollisionError, match="collision"):
        state.diff(outer(a=real, b=forged))
    assert state.rendered is None and not state.known_fingerprints
