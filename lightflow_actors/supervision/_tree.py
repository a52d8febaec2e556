"""``system_tree(system)``: a snapshot of the whole supervision tree, for operators.

Built from ``system.actors()`` (ids, parents, counters) plus what each supervisor knows
of its children (child id, restart type, worker or supervisor). It is one pass over the
actors and one over the supervisors' child tables, with no message sent, so it is cheap
enough for tens of thousands of actors and never waits on a busy supervisor. The result
is a msgspec struct: ``msgspec.json.encode(system_tree(system))`` is the JSON operators get.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from ..kernel import ActorStatus, ActorSystem
from ._base import ChildMeta, SupervisorBase, peek_actor
from ._spec import Restart

NodeKind: TypeAlias = Literal["supervisor", "worker"]


class TreeNode(msgspec.Struct, frozen=True, kw_only=True):
    """One actor in the tree, with the supervisor's spec data when it has a supervisor."""

    id: int
    name: str | None
    kind: NodeKind
    actor_class: str
    status: ActorStatus
    mailbox: int
    processed: int
    restarts: int
    last_crash: str | None
    child_id: str | None = None
    restart: Restart | None = None
    strategy: str | None = None
    children: list[TreeNode] = msgspec.field(default_factory=list)


class SystemTree(msgspec.Struct, frozen=True, kw_only=True):
    """Every live actor, nested under its parent; ``roots`` are the top-level actors."""

    system: str
    actors: int
    roots: list[TreeNode]


def system_tree(system: ActorSystem) -> SystemTree:
    """Snapshot the supervision tree of ``system`` (a consistent view: no await inside)."""
    infos = system.actors()
    meta: dict[int, ChildMeta] = {}
    strategies: dict[int, str] = {}
    for info in infos:
        actor = peek_actor(system, info.id)
        if isinstance(actor, SupervisorBase):
            strategies[info.id] = actor.strategy_name
            for actor_id, row in actor.child_table():
                meta[actor_id] = row
    nodes: dict[int, TreeNode] = {}
    kids: dict[int, list[TreeNode]] = {}
    for info in infos:
        child_meta = meta.get(info.id)
        strategy = strategies.get(info.id)
        kind: NodeKind
        if child_meta is not None:
            kind = child_meta.type
        else:
            kind = "supervisor" if strategy is not None else "worker"
        nodes[info.id] = TreeNode(
            id=info.id,
            name=info.name,
            kind=kind,
            actor_class=info.kind,
            status=info.status,
            mailbox=info.mailbox,
            processed=info.processed,
            restarts=info.restarts,
            last_crash=info.last_crash,
            child_id=child_meta.child_id if child_meta is not None else None,
            restart=child_meta.restart if child_meta is not None else None,
            strategy=strategy,
            children=kids.setdefault(info.id, []),
        )
    roots: list[TreeNode] = []
    # system.actors() lists actors in spawn order, so siblings stay in spawn order.
    for info in infos:
        node = nodes[info.id]
        parent = nodes.get(info.parent) if info.parent is not None else None
        if parent is None:
            roots.append(node)
        else:
            kids[parent.id].append(node)
    return SystemTree(system=system.name, actors=len(nodes), roots=roots)
