"""What the HTTP surface needs from supervision, in one place.

``tree_nodes`` flattens ``supervision.system_tree`` (one synchronous pass, a consistent
snapshot) into the node list every route reads; ``supervised_by`` says which supervisor runs
an actor and under which child spec; ``stop_supervised`` and ``restart_supervised`` go
through that supervisor (OTP ``terminate_child`` / ``restart_child``) so it keeps its spec
and its restart bookkeeping right. ``start_gateway_tree`` puts the gateway under a
supervisor of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Never, cast

import msgspec

from ...kernel import Actor, ActorRef, ActorSystem
from ...supervision import (
    ChildRunning,
    ChildSpec,
    Restart,
    Supervisor,
    SupervisorRef,
    restart_child,
    system_tree,
    terminate_child,
)
from ...supervision import TreeNode as SupervisionNode
from ..operator_api import TreeNode
from ._errors import NotRestartable, SupervisorGone


class Supervised(msgspec.Struct, frozen=True, kw_only=True):
    """An actor's place under its supervisor: the supervisor's id, the child spec's id and
    restart type."""

    supervisor: int
    child_id: str
    restart: Restart


def tree_nodes(system: ActorSystem) -> list[TreeNode]:
    """Every live actor as a flat ``TreeNode`` list in id (spawn) order."""
    out: list[TreeNode] = []
    stack: list[tuple[SupervisionNode, int | None, int]] = [
        (root, None, 0) for root in reversed(system_tree(system).roots)
    ]
    while stack:
        node, parent, depth = stack.pop()
        out.append(
            TreeNode(
                id=node.id,
                name=node.name,
                kind=node.kind,
                actor_class=node.actor_class,
                parent=parent,
                depth=depth,
                children=[child.id for child in node.children],
                status=node.status,
                mailbox=node.mailbox,
                processed=node.processed,
                restarts=node.restarts,
                last_crash=node.last_crash,
                child_id=node.child_id,
                restart=node.restart,
                strategy=node.strategy,
                pending=node.pending,
                tenant=node.tenant,
                remark=node.remark,
                crash=node.crash,
            )
        )
        stack.extend((child, node.id, depth + 1) for child in reversed(node.children))
    out.sort(key=lambda n: n.id)
    return out


def supervised_by(system: ActorSystem, actor: ActorRef[Never]) -> Supervised | None:
    """The supervisor running ``actor`` from a child spec, or None (unsupervised, adopted)."""
    for node in tree_nodes(system):
        if node.id == actor.id:
            if node.parent is None or node.child_id is None or node.restart is None:
                return None
            return Supervised(supervisor=node.parent, child_id=node.child_id, restart=node.restart)
    return None


def _supervisor(system: ActorSystem, place: Supervised) -> SupervisorRef:
    ref = system.get(place.supervisor)
    if ref is None:
        raise SupervisorGone(place.supervisor)
    # tree_nodes gave this child a child_id, which only a supervisor's child table does.
    return cast(SupervisorRef, ref)


async def stop_supervised(system: ActorSystem, place: Supervised, actor: ActorRef[Never]) -> None:
    """Stop a supervised child as its spec's shutdown says; the supervisor keeps the spec
    (a temporary or dynamic child is forgotten), so it is not restarted."""
    await terminate_child(_supervisor(system, place), actor)


async def restart_supervised(
    system: ActorSystem, place: Supervised, actor: ActorRef[Never]
) -> ActorRef[Never]:
    """Restart a supervised child now: terminate it, then start it again from its spec.

    Probes first with ``restart_child`` (which refuses a running child with
    ``ChildRunning``): a ``DynamicSupervisor`` refuses with ``NotSupportedByDynamic``
    before anything was stopped. Temporary children are refused too: terminating one
    forgets its spec, so it could not come back.
    """
    if place.restart == "temporary":
        raise NotRestartable(actor.id, place.child_id)
    sup = _supervisor(system, place)
    try:
        # Not running (crashed and waiting for a backoff restart): this starts it.
        return await restart_child(sup, place.child_id)
    except ChildRunning:
        pass
    await terminate_child(sup, place.child_id)
    return await restart_child(sup, place.child_id)


async def start_gateway_tree(
    system: ActorSystem, *, factory: Callable[[], Actor[Never]], supervisor_name: str
) -> None:
    """Start a supervisor registered as ``supervisor_name`` with the gateway as its child
    (nothing to do while that supervisor runs: it restarts the gateway itself)."""
    if system.whereis(supervisor_name) is not None:
        return
    spec: ChildSpec[Never] = ChildSpec(id="gateway", start=factory, shutdown=5.0)
    await system.start_actor(
        lambda: Supervisor([spec], strategy="one_for_one", intensity=5, period=10.0),
        name=supervisor_name,
    )


async def stop_gateway_tree(system: ActorSystem, supervisor_name: str) -> None:
    """Stop the gateway's supervisor (and so the gateway and its streams) if it runs."""
    sup = system.whereis(supervisor_name)
    if sup is not None:
        await system.terminate(sup)
