"""Tree pages: subtree, status filter and cursor paging over random forests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.adapters.http import OperatorRefused, TreeNode, TreePage
from lightflow_actors.adapters.http._inputs import TreeQuery
from lightflow_actors.adapters.http._tree import select, subtree

STATUSES = ("starting", "idle", "busy", "stopping")


@st.composite
def forests(draw: st.DrawFn) -> list[TreeNode]:
    """Nodes in id order; each node's parent (if any) has a smaller id, as in a system."""
    count = draw(st.integers(min_value=0, max_value=40))
    ids = sorted(draw(st.sets(st.integers(1, 500), min_size=count, max_size=count)))
    parents: dict[int, int | None] = {}
    for index, actor_id in enumerate(ids):
        parents[actor_id] = draw(st.none() | st.sampled_from(ids[:index])) if index else None
    children: dict[int, list[int]] = {i: [] for i in ids}
    for actor_id, parent in parents.items():
        if parent is not None:
            children[parent].append(actor_id)
    depth: dict[int, int] = {}
    nodes = []
    for actor_id in ids:
        parent = parents[actor_id]
        depth[actor_id] = 0 if parent is None else depth[parent] + 1
        nodes.append(
            TreeNode(
                id=actor_id,
                name=None,
                kind="supervisor" if children[actor_id] else "worker",
                actor_class="A",
                parent=parent,
                depth=depth[actor_id],
                children=children[actor_id],
                status=draw(st.sampled_from(STATUSES)),
                mailbox=0,
                processed=0,
                restarts=0,
                last_crash=None,
                child_id=None,
                restart=None,
                strategy=None,
            )
        )
    return nodes


def walk(nodes: list[TreeNode], query: TreeQuery) -> list[TreeNode]:
    """Follow next_cursor to the end, checking each page on the way."""
    seen: list[TreeNode] = []
    cursor = 0
    for _ in range(len(nodes) + 2):
        page = select(nodes, TreeQuery(query.root, query.status, query.limit, cursor))
        assert isinstance(page, TreePage)
        assert len(page.nodes) <= query.limit
        seen.extend(page.nodes)
        if page.next_cursor is None:
            assert page.total == len(seen)
            return seen
        assert page.next_cursor == page.nodes[-1].id
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


@given(forests(), st.integers(1, 7), st.none() | st.sampled_from(STATUSES))
def test_pages_cover_the_selection_once_in_id_order(
    nodes: list[TreeNode], limit: int, status: str | None
) -> None:
    query = TreeQuery(status=status, limit=limit)  # type: ignore[arg-type]
    seen = walk(nodes, query)
    expected = [n for n in nodes if status is None or n.status == status]
    assert seen == expected


@given(forests(), st.data())
def test_subtree_is_the_root_and_its_descendants(
    nodes: list[TreeNode], data: st.DataObject
) -> None:
    if not nodes:
        assert subtree(nodes, 1) is None
        return
    root = data.draw(st.sampled_from(nodes)).id
    found = subtree(nodes, root)
    assert found is not None
    ids = {n.id for n in found}
    by_id = {n.id: n for n in nodes}
    for node in nodes:
        ancestor: int | None = node.id
        inside = False
        while ancestor is not None:
            if ancestor == root:
                inside = True
                break
            ancestor = by_id[ancestor].parent
        assert (node.id in ids) == inside
    assert [n.id for n in found] == sorted(ids)
    assert walk(nodes, TreeQuery(root=root, limit=3)) == found


def test_unknown_root_is_a_not_found_refusal_naming_root() -> None:
    with pytest.raises(OperatorRefused) as refused:
        select([], TreeQuery(root=7))
    assert (refused.value.reason, refused.value.field) == ("not_found", "root")
    assert "7" in str(refused.value)


def test_cursor_past_the_end_gives_an_empty_last_page() -> None:
    page = select([], TreeQuery(cursor=10**6))
    assert isinstance(page, TreePage)
    assert (page.nodes, page.next_cursor, page.total) == ([], None, 0)
