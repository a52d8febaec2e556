"""Introspection records for operators: one actor's state, and lifecycle events.

Reading them never stops or slows the actor: they are copied from the cell's counters.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

ActorStatus: TypeAlias = Literal["starting", "idle", "busy", "stopping", "exited"]
LifecycleKind: TypeAlias = Literal[
    "spawned", "started", "exited", "start_failed", "restarted", "escalated", "system_stopped"
]


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
