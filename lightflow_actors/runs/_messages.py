"""The runs host's mailbox: what the HTTP routes, MCP tools and CLI verbs ask it.

Each ask is answered through the kernel, once, by one `await ref.ask(msg)`: reads are
computed on a worker thread while the host goes on with its mailbox (it defers their
replies); changes (create, cancel, submit, refresh, retry) are done by the host in
arrival order; `AwaitSettled` is answered when the run settles. A refused request raises its
`Refused` (a `FlowError` or `RunsError` with a reason) in the asker; a failure raises
the error that says why. The host itself never crashes on either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, Literal, TypeAlias, TypeVar

import msgspec

from lightflow_actors.flow import RunView
from lightflow_actors.isa import JSONValue
from lightflow_actors.kernel import ActorRef, Ask

from ._operations import RunsOperations

T = TypeVar("T")

StreamMode = Literal["frames", "sse"]

__all__ = [
    "AwaitSettled",
    "CancelRun",
    "CloseTail",
    "CreateRun",
    "HostMessage",
    "OpenStream",
    "Read",
    "RefreshRun",
    "RetryRun",
    "RunEnded",
    "StreamHandle",
    "StreamMode",
    "SubmitStep",
    "TakeOver",
]


class Read(Ask[T], Generic[T], frozen=True):
    """Run `op` on the host's `RunsOperations` in a worker thread; `label` names it for
    operators (mailbox views, logs)."""

    label: str
    op: Callable[[RunsOperations], T]


class CreateRun(Ask[RunView], frozen=True):
    """Create a run and (unless `start` is false) start driving it."""

    workflow: str
    inputs: bytes = b"{}"
    run_id: str | None = None
    preset: str | None = None
    start: bool = True
    model: str | None = None  # the run's model override (specs/flow.md §1.3)
    tenant: str | None = None  # who the run works for, checked by the surface (ADR 0104)
    placed: bool = False  # in a cluster: already at the node that does it (not forwarded)


class CancelRun(Ask[RunView], frozen=True):
    """Cancel a planned or running run (refused with `conflict` when it already finished)."""

    run_id: str
    reason: str = "cancelled by request"
    placed: bool = False  # in a cluster: already at the node that does it (not forwarded)


class SubmitStep(Ask[RunView], frozen=True):
    """Submit planned step `step` now, without waiting for its retry backoff; with `body`
    (a JSON object, decoded by the surface), commit that as its request."""

    run_id: str
    step: str
    body: dict[str, JSONValue] | None = None
    placed: bool = False  # in a cluster: already at the node that does it (not forwarded)


class RetryRun(Ask[RunView], frozen=True):
    """Retry a failed run from its failure frontier, in the same run, driven from here on
    (refused with `conflict` unless the run failed)."""

    run_id: str
    placed: bool = False  # in a cluster: already at the node that does it (not forwarded)


class RefreshRun(Ask[RunView], frozen=True):
    """Re-plan a run now; a run not driven by anyone (created with `start=False`, or left
    behind by a crash) is picked up and driven from here on."""

    run_id: str
    placed: bool = False  # in a cluster: already at the node that does it (not forwarded)


class TakeOver(Ask[RunView], frozen=True):
    """In a cluster: hold the lease of `run_id`, whose owner is down, install its latest
    copy and drive it from here on (refused with `conflict` while a live node holds it)."""

    run_id: str


class AwaitSettled(Ask[RunView], frozen=True):
    """Answered once this host no longer drives the run (it finished or was cancelled), with
    the run as it is then; at once for a run this host does not drive."""

    run_id: str


class CloseTail(msgspec.Struct, frozen=True):
    """Stop a stream's tail actor (its client went away)."""


class StreamHandle(msgspec.Struct, frozen=True):
    """An open run stream: `queue` yields encoded chunks, then None at the end."""

    tail: ActorRef[CloseTail]
    queue: asyncio.Queue[bytes | None]


class OpenStream(Ask[StreamHandle], frozen=True):
    """Follow a run's events after `after` as LFRS frames or SSE messages."""

    run_id: str
    after: int = 0
    mode: StreamMode = "frames"


class RunEnded(msgspec.Struct, frozen=True):
    """Told by a hosted run actor when it stops without crashing."""

    run_id: str
    reason: str


HostMessage: TypeAlias = (
    Read[object]
    | CreateRun
    | CancelRun
    | SubmitStep
    | RefreshRun
    | RetryRun
    | AwaitSettled
    | TakeOver
    | OpenStream
    | RunEnded
)
