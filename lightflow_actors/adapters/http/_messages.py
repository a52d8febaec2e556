"""What the routes ask the gateway actor: one typed ``Ask`` per operator request.

A request the gateway declines (unknown actor, nothing to restart) is refused: the handler
raises ``OperatorRefused``, the route's ``ask`` raises it, and the gateway keeps running.
"""

from __future__ import annotations

import asyncio

import msgspec

from ...kernel import ActorRef, Ask
from ..operator_api import Action, ActorDetail, Readiness, SystemSummary, TreePage
from ._events import CloseStream, StreamItem
from ._inputs import TreeQuery
from ._operations import Perform


class GetReadiness(Ask[Readiness], frozen=True):
    """``GET /ready``."""


class GetSummary(Ask[SystemSummary], frozen=True):
    """``GET /system``."""


class GetTree(Ask[TreePage], frozen=True):
    """``GET /system/tree``."""

    query: TreeQuery


class GetActor(Ask[ActorDetail], frozen=True):
    """``GET /actors/{id}`` with its ``events`` most recent lifecycle events."""

    id: int
    events: int = 20


class Operation(msgspec.Struct, frozen=True):
    """An action ready to run: ask ``runner`` to ``Perform`` it (one ask, answered when the
    action has finished)."""

    id: int
    action: Action
    runner: ActorRef[Perform]


class Operate(Ask[Operation], frozen=True):
    """``POST /actors/{id}/{action}``: stop, restart (through its supervisor) or kill."""

    id: int
    action: Action
    timeout: float | None = None


class StreamHandle(msgspec.Struct, frozen=True):
    """An open event stream: its actor (to close it) and the outbox the response drains."""

    stream: ActorRef[CloseStream]
    outbox: asyncio.Queue[StreamItem]


class OpenStream(Ask[StreamHandle], frozen=True):
    """``GET /system/events``: start a stream after ``last_event_id`` (None: from now)."""

    last_event_id: int | None


class CloseStreams(Ask[int], frozen=True):
    """End every open event stream (the server drains before it stops); replies how many."""


GatewayMessage = (
    GetReadiness | GetSummary | GetTree | GetActor | Operate | OpenStream | CloseStreams
)
"""What ``ActorRef[GatewayMessage]`` accepts."""
