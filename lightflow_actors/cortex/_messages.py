"""The client's mailbox: what a workflow run sends to `CortexClient` and what it hears back.

Notices are named after the run trace records they become (`cortex.request.committed`,
`cortex.response.observed`, `cortex.error.observed`).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from lightflow_actors.kernel import ActorRef, Ask

from ._layout import TargetKind
from ._wire import ErrorRecord, RouteRecord

__all__ = [
    "Call",
    "Commit",
    "CommitFailed",
    "CommitFailure",
    "CortexNotice",
    "CortexOutcome",
    "ErrorObserved",
    "Observe",
    "ObserveTimedOut",
    "RequestCommitted",
    "ResponseObserved",
]


class RequestCommitted(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    path: str


CommitFailure = Literal["conflict", "invalid", "io", "unencodable"]
"""Why a commit failed: `conflict` — the id is already committed, being served or answered
in this inbox (observe it instead of committing again); `invalid` — an id, format or path
breaks the ABI; `io` — the file system refused; `unencodable` — the body is not JSON."""


class CommitFailed(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    reason: str  # for people: the error's type and message
    cause: CommitFailure  # for programs: branch on this, never on `reason`


class ResponseObserved(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    body: bytes  # the `<id>.resp.json` bytes, undecoded
    route: RouteRecord | None
    fingerprint: str | None

    def json(self) -> object:
        return msgspec.json.decode(self.body)


class ErrorObserved(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    error: ErrorRecord


class ObserveTimedOut(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    timeout_s: float


CortexOutcome: TypeAlias = ResponseObserved | ErrorObserved | ObserveTimedOut
CortexNotice: TypeAlias = RequestCommitted | CommitFailed | CortexOutcome


class Commit(Ask[RequestCommitted | CommitFailed], frozen=True):
    """Commit `body` (any JSON value; bytes are sent as they are) as request `id` of a target.

    With `notify`, the outcome (`ResponseObserved`, `ErrorObserved` or `ObserveTimedOut`)
    is told to it when it appears. The reply says whether the commit itself succeeded.
    """

    kind: TargetKind
    name: str
    id: str
    body: object
    notify: ActorRef[CortexOutcome] | None = None
    timeout_s: float | None = None
    at_most_once: bool = False  # `commit_request(at_most_once=)`: never sent twice
    tenant: str | None = None  # `commit_request(tenant=)`: whose request it is (ADR 0104)


class Observe(msgspec.Struct, frozen=True):
    """Tell `notify` the outcome of a request committed earlier (possibly by someone else)."""

    kind: TargetKind
    name: str
    id: str
    notify: ActorRef[CortexOutcome]
    timeout_s: float | None = None


class Call(Ask[CortexOutcome | CommitFailed], frozen=True):
    """Commit and wait for the outcome: `await client.ask(Call(...), timeout=...)`.

    Answered once the outcome is observed (the client defers its reply), or at once with
    `CommitFailed` when the commit itself fails. Give the ask a timeout longer than
    `timeout_s`, which bounds the wait for the answer (`ObserveTimedOut`). For callers that
    are not actors (tests, scripts); actors use `Commit` with `notify`.
    """

    kind: TargetKind
    name: str
    id: str
    body: object
    timeout_s: float | None = None
