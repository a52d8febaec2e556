"""The DAG layout: longest-path layers, left to right; ordering removes crossings that
the plan's order would draw; hostile plans (cycles, unknown ids) still lay out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.observer.runs import layout
from lightflow_actors.observer.runs._layout import crossings, layers_of


def test_layers_are_longest_paths() -> None:
    steps = [("a", ()), ("b", ("a",)), ("c", ("a", "b")), ("d", ())]
    assert layers_of(steps) == {"a": 0, "b": 1, "c": 2, "d": 0}
    drawn = layout(steps)
    x = {n.id: n.x for n in drawn.nodes}
    assert x["a"] < x["b"] < x["c"] and x["a"] == x["d"]
    assert {(e.source, e.target) for e in drawn.edges} == {("a", "b"), ("a", "c"), ("b", "c")}


def test_ordering_removes_a_crossing() -> None:
    # In plan order, a1->b2 and a2->b1 cross; the barycentre sweep uncrosses them.
    steps = [("a1", ()), ("a2", ()), ("b1", ("a2",)), ("b2", ("a1",))]
    rows = [["a1", "a2"], ["b1", "b2"]]
    edges = [("a2", "b1"), ("a1", "b2")]
    assert crossings(rows, edges) == 1
    drawn = layout(steps)
    order = {n.id: (n.layer, n.order) for n in drawn.nodes}
    placed = [
        [s for s, (layer, _) in sorted(order.items(), key=lambda i: i[1]) if layer == k]
        for k in (0, 1)
    ]
    assert crossings(placed, edges) == 0


def test_hostile_plans_still_lay_out() -> None:
    assert layout([]).nodes == ()
    cyclic = layout([("a", ("b",)), ("b", ("a",)), ("c", ("zz", "c"))])
    assert {n.id for n in cyclic.nodes} == {"a", "b", "c"}


@given(
    st.lists(
        st.tuples(
            st.sampled_from([f"s{i}" for i in range(12)]),
            st.lists(st.sampled_from([f"s{i}" for i in range(12)]), max_size=4),
        ),
        max_size=20,
    )
)
def test_any_plan_lays_out_with_edges_pointing_right(plan: list[tuple[str, list[str]]]) -> None:
    drawn = layout(plan)
    boxes = {n.id: n for n in drawn.nodes}
    assert set(boxes) == {step for step, _ in plan}
    for edge in drawn.edges:
        assert boxes[edge.source].x < boxes[edge.target].x
    spots = {(n.x, n.y) for n in drawn.nodes}
    assert len(spots) == len(drawn.nodes)  # no two boxes on one spot
    assert all(n.x < drawn.width and n.y < drawn.height for n in drawn.nodes)
