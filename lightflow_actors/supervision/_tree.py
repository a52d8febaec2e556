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
from ._crash import Crash
from ._messages import ChildInfo
from ._spec import Restart

NodeKind: TypeAlias = Literal["supervisor", "worker"]


class PendingChild(msgspec.Struct, frozen=True, kw_only=True):
    """A child spec of a supervisor that no actor runs now: it is waiting for a (backoff)
    restart at ``restart_at_ms``, or it was stopped (``terminate_child``) and kept."""

    child_id: str
    kind: NodeKind
    status: Literal["restarting", "stopped"]
    restart: Restart
    restarts: int
    restart_at_ms: int | None
    last_exit: str | None
    crash: Crash | None = None
    """Its last crash (reason and traceback)."""


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
    pending: list[PendingChild] = msgspec.field(default_factory=list)
    """A supervisor's children that are restarting or stopped (they have no node)."""
    tenant: str | None = None
    """The tenant the actor works for (`kernel.Actor.tenant`)."""
    remark: str | None = None
    """What the actor tells operators about itself (`kernel.Actor.remark`)."""
    crash: Crash | None = None
    """The last crash under its child spec: an earlier incarnation's, as its supervisor
    noted it at the restart (``last_crash`` is this actor's own, None while it runs)."""


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
    pending: dict[int, list[PendingChild]] = {}
    for info in infos:
        actor = peek_actor(system, info.id)
        if isinstance(actor, SupervisorBase):
            strategies[info.id] = actor.strategy_name
            for actor_id, row in actor.child_table():
                meta[actor_id] = row
            waiting = [_pending(system, c) for c in actor.waiting_children()]
            if waiting:
                pending[info.id] = waiting
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
            tenant=info.tenant,
            remark=info.remark,
            child_id=child_meta.child_id if child_meta is not None else None,
            restart=child_meta.restart if child_meta is not None else None,
            strategy=strategy,
            crash=child_meta.crash.crash() if child_meta and child_meta.crash else None,
            children=kids.setdefault(info.id, []),
            pending=pending.get(info.id, []),
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


def restart_at_ms(system: ActorSystem, restart_at: float | None) -> int | None:
    """A ``ChildInfo.restart_at`` (loop seconds) as Unix milliseconds of the system clock."""
    if restart_at is None:
        return None
    clock = system.clock
    return clock.wall_ms() + round((restart_at - clock.now()) * 1000)


def _pending(system: ActorSystem, row: ChildInfo) -> PendingChild:
    return PendingChild(
        child_id=row.id,
        kind=row.type,
        status="restarting" if row.status == "restarting" else "stopped",
        restart=row.restart,
        restarts=row.restarts,
        restart_at_ms=restart_at_ms(system, row.restart_at),
        last_exit=row.last_exit,
        crash=row.crash,
    )
