"""The JSON bodies of the operator API: every response is one of these structs.

They are the schema: ``specs/openapi.yaml`` describes the same fields, and a schemathesis
test checks the two agree. Inputs (path, query, body) are decoded by ``_inputs``.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from ...kernel import ActorInfo, ActorStatus, LifecycleEvent
from ...supervision import Crash, PendingChild, Subsystem

Action: TypeAlias = Literal["stop", "restart", "kill"]
NodeKind: TypeAlias = Literal["supervisor", "worker"]
Restart: TypeAlias = Literal["permanent", "transient", "temporary"]


class ErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """``{"error": "...", "field": "..."}``: every error response."""

    error: str
    field: str | None = None


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /health`` (liveness): the process runs, and its event loop and actor system
    answer. It says nothing of the subsystems: that is ``GET /ready``."""

    status: Literal["ok"] = "ok"
    system: str
    actors: int


ROOT_DOWN = "root"
"""The name ``GET /ready`` gives in ``down`` to an exited root supervisor."""


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /ready`` (readiness): ``ready`` (200) when every subsystem runs; otherwise
    ``not_ready`` (503), and ``down`` names each subsystem that is starting, restarting
    (with its ``restart_at_ms``) or stopped. ``subsystems`` lists them all, in start order.
    ``down`` starts with ``ROOT_DOWN`` (``"root"``) once the root supervisor itself has exited:
    nothing is left to restart a subsystem then.
    """

    status: Literal["ready", "not_ready"]
    system: str
    subsystems: list[Subsystem]
    down: list[str]


class SystemSummary(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /system``: the node at a glance.

    ``messages_per_s`` is the rate of handled messages over the last ``window_s`` seconds of
    system time; ``memory_rss_bytes`` is None where ``/proc/self/statm`` is unreadable.
    """

    name: str
    actors: int
    supervisors: int
    messages_total: int
    messages_per_s: float
    window_s: float
    memory_rss_bytes: int | None
    uptime_s: float
    dead_letters: int
    last_event_id: int


class TreeNode(msgspec.Struct, frozen=True, kw_only=True):
    """One actor in ``GET /system/tree``: the supervision view of ``system_tree`` made flat.

    ``kind`` is ``supervisor`` or ``worker``; ``actor_class`` the Python class. ``child_id``,
    ``restart`` come from the child spec of its supervisor (None when it has none);
    ``strategy`` is set on supervisors. ``parent`` and ``children`` are actor ids, ``depth``
    is 0 for a top-level actor. ``pending``: see below.
    """

    id: int
    name: str | None
    kind: NodeKind
    actor_class: str
    parent: int | None
    depth: int
    children: list[int]
    status: ActorStatus
    mailbox: int
    processed: int
    restarts: int
    last_crash: str | None
    child_id: str | None
    restart: Restart | None
    strategy: str | None
    pending: list[PendingChild] = msgspec.field(default_factory=list)
    """A supervisor's children that no actor runs now: restarting (with ``restart_at_ms``,
    the next attempt) or stopped. They have no actor id, so no node of their own."""
    tenant: str | None = None
    """The tenant a session or run actor works for (None: shared)."""
    remark: str | None = None
    """What the actor tells operators about itself (None: nothing): a provider slot whose
    sync callable held the loop says so and how to fix it."""
    crash: Crash | None = None
    """The last crash under this actor's child spec, with its traceback: an earlier
    incarnation's, noted by the supervisor when it restarted the child (``last_crash``
    is this actor's own and empty while it runs)."""


class TreePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the tree, in spawn order (parents before their children).

    ``total`` counts every node that matches the filters; pass ``next_cursor`` back as
    ``cursor`` for the next page (null on the last one).
    """

    root: int | None
    status: ActorStatus | None
    total: int
    nodes: list[TreeNode]
    next_cursor: int | None


class ActorDetail(ActorInfo, frozen=True, kw_only=True):
    """``GET /actors/{id}``: the actor's snapshot, its supervisor, its recent events."""

    supervisor: int | None
    child_id: str | None
    events: list[LifecycleEvent]


class ActionResult(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /actors/{id}/{action}``: what happened.

    ``exit_reason`` is how the actor ended (None for a restart of a child that was already
    stopped); ``new_id`` is the id of the actor a restart started.
    """

    id: int
    action: Action
    exit_reason: str | None
    new_id: int | None
