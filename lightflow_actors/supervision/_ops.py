"""Supervisor operations, OTP's ``supervisor:which_children/1`` and friends.

Each is an ``ask`` to the supervisor actor, handled between its children's exit signals.
The ones that change children go through ``ask_now`` (ADR 0106): an idle supervisor (no
message waiting) handles them on the caller's step, in the order an ask would have, so
``start_child`` of a child without ``on_start`` costs no loop turn.
A failed operation raises the typed error the supervisor replied with. ``timeout`` is
``None`` by default, as OTP calls supervisors with ``infinity``: a restart in progress
(a slow ``on_start``) delays the answer, it does not make it wrong.
"""

from __future__ import annotations

from typing import TypeAlias, TypeVar, cast

from ..kernel import ActorRef, AnyRef, LightflowError, ask_now
from ._messages import (
    ChildCounts,
    ChildInfo,
    CountChildren,
    DeleteChild,
    RestartChild,
    StartChild,
    SupervisorMessage,
    TerminateChild,
    WhichChildren,
)
from ._spec import ChildSpec

M = TypeVar("M")

SupervisorRef: TypeAlias = ActorRef[SupervisorMessage]
"""A ref to a ``Supervisor`` or ``DynamicSupervisor``."""


async def which_children(sup: SupervisorRef, *, timeout: float | None = None) -> list[ChildInfo]:
    """Every child spec with its current ref and status, in start order."""
    return await sup.ask(WhichChildren(), timeout=timeout)


async def count_children(sup: SupervisorRef, *, timeout: float | None = None) -> ChildCounts:
    """How many specs, running children, supervisors and workers."""
    return await sup.ask(CountChildren(), timeout=timeout)


async def start_child(
    sup: SupervisorRef, spec: ChildSpec[M], *, timeout: float | None = None
) -> ActorRef[M]:
    """Add ``spec`` and start its child; return the child's ref.

    Raises ``ChildAlreadyStarted`` / ``ChildAlreadyPresent`` if the id is taken,
    ``MaxChildrenReached`` (dynamic), or the kernel's ``StartFailed`` if ``on_start`` failed
    (the spec is then not added).
    """
    result = await ask_now(sup, StartChild(spec), timeout=timeout)
    if isinstance(result, LightflowError):
        raise result
    return cast(ActorRef[M], result)


async def terminate_child(
    sup: SupervisorRef, child: str | AnyRef, *, timeout: float | None = None
) -> None:
    """Stop a child (by id, or by ref) as its spec's shutdown says; keep its spec.

    A temporary child's spec, and any dynamic child, is forgotten. Raises ``ChildNotFound``.
    """
    failure = await ask_now(sup, TerminateChild(child), timeout=timeout)
    if failure is not None:
        raise failure


async def restart_child(
    sup: SupervisorRef, child_id: str, *, timeout: float | None = None
) -> AnyRef:
    """Start the stopped child ``child_id`` again from its kept spec.

    Raises ``ChildRunning``, ``ChildRestarting``, ``ChildNotFound``, ``StartFailed``, or
    ``NotSupportedByDynamic``.
    """
    result = await ask_now(sup, RestartChild(child_id), timeout=timeout)
    if isinstance(result, LightflowError):
        raise result
    return result


async def delete_child(sup: SupervisorRef, child_id: str, *, timeout: float | None = None) -> None:
    """Forget the spec of the stopped child ``child_id``.

    Raises ``ChildRunning``, ``ChildRestarting``, ``ChildNotFound`` or ``NotSupportedByDynamic``.
    """
    failure = await ask_now(sup, DeleteChild(child_id), timeout=timeout)
    if failure is not None:
        raise failure
