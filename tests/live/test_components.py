"""Live components and streams in the diff: random steps give, through the Python
reference client and through the JS client, exactly the page a naive model renders;
components leave both tables together; moved components are not resent."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live import (
    ClientState,
    DiffState,
    RenderedError,
    Template,
    apply_patch,
    client_html,
    decode_patch,
    keyed,
    live_component,
)
from lightflow_actors.live._live_component import Components

from .live_components import BADGE_COMPONENT, STEPS, Board, Card, run_steps
from .test_js_merge import JSON, NODE, Node, _paths, python_results

FAST = settings(max_examples=150, deadline=None)


@FAST
@given(STEPS)
def test_python_client_shows_what_the_model_renders_and_holds_what_the_server_holds(
    steps: list[tuple[str, object]],
) -> None:
    patches, expected = run_steps(steps)
    state = ClientState()
    for patch, html in zip(patches, expected, strict=True):
        state = apply_patch(state, decode_patch(patch))
        assert client_html(state) == html


@FAST
@given(STEPS)
def test_component_tables_of_client_and_server_agree_after_every_step(
    steps: list[tuple[str, object]],
) -> None:
    board = Board()
    state = apply_patch(ClientState(), decode_patch(board.first))
    for kind, arg in steps:
        if kind == "items":
            patch = board.submit("set_items", {"items": [list(i) for i in arg]})  # type: ignore[attr-defined]
        elif kind == "pin":
            patch = board.submit("set_pinned", {"key": arg})
        elif kind in ("feed", "chips"):
            ops = [msgspec.to_builtins(op) for op in arg]  # type: ignore[attr-defined]
            patch = board.submit("feed", {"ops": ops, "stream": kind})
        else:
            if board.program.components.find(Card, str(arg)) is None:
                continue
            patch = board.submit("click", {}, target=board.cid(str(arg)))
        if patch is not None:
            state = apply_patch(state, decode_patch(patch))
        assert sorted(state.components) == sorted(m.cid for m in board.program.components)
        # No stream entry stays on the server once sent.
        assert board.program.streams == {}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if NODE is None:
        pytest.skip("node is not installed")
    runner = Node(tmp_path_factory.mktemp("node"))
    yield runner
    runner.proc.kill()
    runner.proc.wait()


@settings(max_examples=100, deadline=None)
@given(STEPS)
def test_js_client_shows_what_the_model_renders(
    node: Node, steps: list[tuple[str, object]]
) -> None:
    patches, expected = run_steps(steps)
    got = node.run([], patches)
    assert [r.get("html", r.get("error")) for r in got] == expected


@settings(max_examples=200, deadline=None)
@given(STEPS, st.data())
def test_js_refuses_exactly_what_python_refuses_in_component_and_stream_patches(
    node: Node, steps: list[tuple[str, object]], data: st.DataObject
) -> None:
    patches, _ = run_steps(steps)
    patches = [p for p in patches if p != b"{}"]
    target = msgspec.json.decode(patches[-1])
    paths = _paths(target)[1:]
    if paths:
        path = data.draw(st.sampled_from(paths))
        parent: object = target
        for part in path[:-1]:
            parent = parent[part]  # type: ignore[index]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON | st.sampled_from(["x", "i", "r", "d", "u", 1, 2]))  # type: ignore[index]
    mutated = msgspec.json.encode(target)
    expected = python_results(patches[:-1], [mutated])
    got = node.run(patches[:-1], [mutated])
    assert ("html" in got[0]) == ("html" in expected[0]), (mutated, got, expected)
    if "html" in got[0]:
        assert got == expected


def test_moving_components_in_a_list_sends_moves_only() -> None:
    board = Board()
    board.submit("set_items", {"items": [["a", "x"], ["b", "y"], ["c", "z"]]})
    patch = board.submit("set_items", {"items": [["c", "z"], ["a", "x"], ["b", "y"]]})
    assert patch is not None
    assert msgspec.json.decode(patch) == {"r": {"1": {"m": [["c", 0]]}}}


def test_a_click_sends_the_component_alone() -> None:
    board = Board()
    board.submit("set_items", {"items": [["a", "x"], ["b", "y"]]})
    patch = board.submit("click", {}, target=board.cid("b"))
    assert patch is not None
    decoded = msgspec.json.decode(patch)
    # Card b changed and mounted its nested badge; the root and card a are not sent.
    assert set(decoded) == {"c", "t"} or set(decoded) == {"c"}
    assert sorted(decoded["c"]) == [board.cid("b"), str(int(board.cid("b")) + 1)]


def test_removing_a_card_removes_its_nested_badge_too() -> None:
    board = Board()
    board.submit("set_items", {"items": [["a", "x"]]})
    board.submit("click", {}, target=board.cid("a"))
    card, badge = sorted(m.cid for m in board.program.components)
    patch = board.submit("set_items", {"items": []})
    assert patch is not None
    assert msgspec.json.decode(patch)["c"] == {str(card): None, str(badge): None}
    assert len(board.program.components) == 0


def test_a_component_id_rendered_twice_is_refused() -> None:
    page = Template("<p>{a}{b}</p>")
    diff, components = DiffState(), Components()
    with pytest.raises(RenderedError, match="rendered 2 times"):
        diff.diff(
            page(
                a=live_component(BADGE_COMPONENT, 1, "x"), b=live_component(BADGE_COMPONENT, 1, "x")
            ),
            components,
        )


def test_a_component_needs_a_component_table() -> None:
    page = Template("<p>{a}</p>")
    with pytest.raises(RenderedError, match="component table"):
        DiffState().diff(page(a=live_component(BADGE_COMPONENT, 1, "x")))


def test_components_inside_a_keyed_entry_of_a_positional_list_move_with_it() -> None:
    row = Template("<i>{c}</i>")
    page = Template("<p>{rows}</p>")
    diff, components = DiffState(), Components()
    state = ClientState()
    for keys in (["1", "2"], ["2"], ["2", "1"], []):
        tree = page(
            rows=keyed(row, [(k, row(c=live_component(BADGE_COMPONENT, k, k))) for k in keys])
        )
        state = apply_patch(state, diff.diff(tree, components))
        assert sorted(state.components) == sorted(m.cid for m in components)
        assert client_html(state).count("<b id=") == len(keys)
