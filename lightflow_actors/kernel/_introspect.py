"""Introspection records for operators: one actor's state, and lifecycle events.

Reading them never stops or slows the actor: they are copied from the cell's counters.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

ActorStatus: TypeAlias = Literal["starting", "idle", "busy", "stopping", "exited"]
LifecycleKind: TypeAlias = Literal[
    "spawned",
    "started",
    "exited",
    "start_failed",
    "restarted",
    "restart_scheduled",
    "escalated",
    "long_handler",
    "over_budget",
    "system_stopped",
]
"""``escalated``: a supervisor gave up (restart intensity reached) and exits.
``restart_scheduled``: a supervisor will restart its child ``child`` at ``restart_at_ms``
(backoff). ``long_handler``: the watchdog saw ``actor`` hold the loop ``duration_ms``
handling one ``message_type`` (``ActorSystem(long_handler_ms=...)``). ``over_budget``:
``count`` requests of ``tenant`` were refused for its ``budget`` (a summary of at most a
second, about no actor: ``ActorSystem.record_refusals``)."""


class ActorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor, cheap to take while it runs."""

    id: int
    name: str | None
    kind: str
    parent: int | None
    children: list[int]
    links: list[int]
    monitors: list[int]
    monitored_by: list[int]
    mailbox: int
    processed: int
    dropped: int
    restarts: int
    status: ActorStatus
    trap_exit: bool
    last_crash: str | None
    exit_reason: str | None
    tenant: str | None = None
    """The tenant the actor works for (`Actor.tenant`), None for shared actors."""
    remark: str | None = None
    """What the actor tells operators about itself (`Actor.remark`), None for nothing."""


class LifecycleEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change in the system: spawn, exit (with reason), restart, escalation."""

    seq: int
    at_ms: int
    kind: LifecycleKind
    actor: int
    name: str | None
    actor_kind: str
    parent: int | None
    reason: str | None = None
    child: str | None = None
    """``restart_scheduled``: the supervisor's child spec id the restart is for."""
    restart_at_ms: int | None = None
    """``restart_scheduled``: when the restart is due (Unix ms, the system clock)."""
    message_type: str | None = None
    """``long_handler``: the type of the message whose handler held the loop."""
    duration_ms: float | None = None
    """``long_handler``: how long it held the loop (ms, the system clock)."""
    tenant: str | None = None
    """``over_budget``: the tenant refused (None: tenants past the summary's bound)."""
    budget: str | None = None
    """``over_budget``: the budget that refused (specs/tenants.md §2)."""
    count: int | None = None
    """``over_budget``: how many requests this entry stands for."""
