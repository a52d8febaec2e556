"""Subsystems: the services an application runs as child specs of the root supervisor.

A subsystem (the runs subtree, the HTTP gateway's tree) is a supervisor of its own. When it
exceeds its restart intensity it gives up and exits (``escalated``), as in OTP; its parent,
the root, then restarts it after an exponential backoff (Akka's ``BackoffSupervisor``:
``SUBSYSTEM_BACKOFF``), forever: at the top of the tree there is no one left to escalate
to, and a server whose runs API stays down until a human restarts the process is worse
than one that keeps trying at a bounded rate. Each give-up, scheduled restart and restart
is a lifecycle event; ``subsystems(system)`` is what ``GET /ready`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Never, TypeAlias, TypeVar, cast

import msgspec

from ..kernel import SHUTDOWN, Actor, ActorRef, ActorSystem
from ._base import peek_actor
from ._errors import ChildNotFound
from ._messages import ChildInfo
from ._ops import SupervisorRef, delete_child, start_child, terminate_child
from ._root import RootSupervisor
from ._spec import Backoff, ChildSpec, ChildType, Shutdown
from ._tree import restart_at_ms

M = TypeVar("M")

SUBSYSTEM_BACKOFF = Backoff(min_delay=0.5, max_delay=30.0, jitter=0.2, reset_after=60.0)
"""The root's restart delay for a subsystem that gave up: 0.5 s, 1 s, 2 s ... up to 30 s,
each +0-20 % (``system.random``), back to 0.5 s once it has run 60 s without giving up."""

SubsystemStatus: TypeAlias = Literal["starting", "running", "restarting", "stopped"]
"""``starting``: its actor runs ``on_start``. ``running``: up. ``restarting``: it exited (or
is exiting) and the root restarts it at ``restart_at_ms`` (None until the root has handled
the exit). ``stopped``: its spec is kept, nothing runs it
(stopped by an operator)."""


class Subsystem(msgspec.Struct, frozen=True, kw_only=True):
    """One child spec of the root supervisor, as operators (``GET /ready``) see it."""

    id: str
    status: SubsystemStatus
    actor: int | None
    """The actor running it (None while restarting or stopped)."""
    restarts: int
    """How many times the root has restarted it."""
    restart_at_ms: int | None
    """While restarting: when the next attempt is due (Unix ms, system clock)."""
    last_exit: str | None
    """While restarting: why it (or its last start attempt) ended."""


def _root(system: ActorSystem) -> RootSupervisor | None:
    ref = system.root
    actor = peek_actor(system, ref.id) if ref is not None and ref.alive else None
    return actor if isinstance(actor, RootSupervisor) else None


def subsystems(system: ActorSystem) -> list[Subsystem]:
    """Every subsystem of ``system`` in start order (empty without a root supervisor).

    A synchronous read of the root's child table (one loop step, nothing sent), so it
    answers even while the root is busy restarting something.
    """
    root = _root(system)
    if root is None:
        return []
    return [_subsystem(system, row) for row in root.spec_children()]


def _subsystem(system: ActorSystem, row: ChildInfo) -> Subsystem:
    status: SubsystemStatus
    if row.status == "running" and row.ref is not None:
        actor = system.info(row.ref).status
        if actor == "starting":
            status = "starting"
        elif actor in ("stopping", "exited"):
            status = "restarting"  # it is going down; the root has not handled its exit yet
        else:
            status = "running"
    elif row.status == "restarting":
        status = "restarting"
    else:
        status = "stopped"
    return Subsystem(
        id=row.id,
        status=status,
        actor=row.ref.id if row.ref is not None else None,
        restarts=row.restarts,
        restart_at_ms=restart_at_ms(system, row.restart_at),
        last_exit=row.last_exit,
    )


async def start_subsystem(
    system: ActorSystem,
    child_id: str,
    start: Callable[[], Actor[M]],
    *,
    name: str | None = None,
    type: ChildType = "supervisor",
    shutdown: Shutdown | None = None,
    backoff: Backoff = SUBSYSTEM_BACKOFF,
) -> ActorRef[M]:
    """Start ``start()`` as the root's permanent child ``child_id``, restarted with
    ``backoff`` whenever it exits (typically: it gave up). Waits for its ``on_start``.

    Without a root supervisor (a bare kernel system) it is a plain top-level actor. Raises
    ``StartFailed`` if it does not start (the spec is then not kept), ``ChildAlreadyStarted``
    / ``ChildAlreadyPresent`` if the root has a child ``child_id``.
    """
    root = system.root
    if _root(system) is None or root is None:
        return await system.start_actor(start, name=name)
    spec: ChildSpec[M] = ChildSpec(
        id=child_id,
        start=start,
        restart="permanent",
        type=type,
        shutdown=shutdown,
        name=name,
        backoff=backoff,
    )
    return await start_child(_as_supervisor(root), spec)


async def stop_subsystem(system: ActorSystem, child_id: str, *, name: str | None = None) -> None:
    """Stop the subsystem ``child_id`` (OTP ``terminate_child`` then ``delete_child``), so
    the root does not restart it. Without a root, stops the actor registered as ``name``.
    """
    root = system.root
    if _root(system) is not None and root is not None:
        sup = _as_supervisor(root)
        try:
            await terminate_child(sup, child_id)
            await delete_child(sup, child_id)
        except ChildNotFound:
            pass
        return
    ref = system.whereis(name) if name is not None else None
    if ref is not None:
        await system.terminate(ref, SHUTDOWN, None)


def _as_supervisor(ref: ActorRef[Never]) -> SupervisorRef:
    # Only called once _root() has checked the actor behind ``ref`` is a RootSupervisor.
    return cast(SupervisorRef, ref)
