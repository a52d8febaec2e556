"""Select a page of the supervision tree: a subtree, a status filter, a cursor.

Pure functions over the flat node list of ``_supervision.tree_nodes`` (spawn order, which is
id order, so a parent always comes before its children and an id is a stable cursor even
while actors come and go between two pages).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..operator_api import TreeNode, TreePage
from ._errors import OperatorRefused
from ._inputs import TreeQuery


def subtree(nodes: Iterable[TreeNode], root: int) -> list[TreeNode] | None:
    """``root`` and its descendants (in id order), or None if ``root`` is not in ``nodes``."""
    by_id = {node.id: node for node in nodes}
    if root not in by_id:
        return None
    keep: set[int] = set()
    stack = [root]
    while stack:
        actor_id = stack.pop()
        if actor_id in keep or actor_id not in by_id:
            continue
        keep.add(actor_id)
        stack.extend(by_id[actor_id].children)
    return [node for node in by_id.values() if node.id in keep]


def select(nodes: list[TreeNode], query: TreeQuery) -> TreePage:
    """The page of ``nodes`` that ``query`` asks for; an unknown root is refused
    (``not_found``, field ``root``)."""
    chosen: list[TreeNode] = nodes
    if query.root is not None:
        found = subtree(nodes, query.root)
        if found is None:
            raise OperatorRefused(
                f"no live actor with id {query.root} (query parameter root)",
                "not_found",
                field="root",
            )
        chosen = found
    if query.status is not None:
        chosen = [node for node in chosen if node.status == query.status]
    total = len(chosen)
    start = 0
    if query.cursor:
        # Nodes are in id order: skip those at or before the cursor (binary search).
        lo, hi = 0, len(chosen)
        while lo < hi:
            mid = (lo + hi) // 2
            if chosen[mid].id <= query.cursor:
                lo = mid + 1
            else:
                hi = mid
        start = lo
    page = chosen[start : start + query.limit]
    more = start + query.limit < len(chosen)
    return TreePage(
        root=query.root,
        status=query.status,
        total=total,
        nodes=page,
        next_cursor=page[-1].id if more and page else None,
    )
