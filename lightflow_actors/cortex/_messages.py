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
    "AnswerWritten",
    "Call",
    "Commit",
    "CommitFailed",
    "CommitFailure",
    "CortexNotice",
    "CortexOutcome",
    "ErrorObserved",
    "Exchange",
    "Exchanged",
    "Handoff",
    "JournaledFile",
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


class JournaledFile(msgspec.Struct, frozen=True, array_like=True):
    """One ABI file of a journaled exchange (ADR 0122): its absolute path and its bytes,
    for the committer to write (through its journal) exactly as the substrate would."""

    path: str
    data: bytes


class ResponseObserved(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    body: bytes  # the `<id>.resp.json` bytes, undecoded
    route: RouteRecord | None
    fingerprint: str | None
    # A journaled exchange (ADR 0122): the ABI files not written yet, in writing order
    # (fingerprint, route, answer, then the request as `<id>.done`); the committer writes
    # them with the step's outcome, through its journal. Empty: they are on disk.
    files: tuple[JournaledFile, ...] = ()

    def json(self) -> object:
        return msgspec.json.decode(self.body)


class ErrorObserved(msgspec.Struct, frozen=True):
    kind: TargetKind
    name: str
    id: str
    error: ErrorRecord
    files: tuple[JournaledFile, ...] = ()  # as `ResponseObserved.files`


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
    # The committer journals the exchange (ADR 0122): where the target is served on this
    # process's loop, the client may serve it in memory and give the ABI files back on the
    # outcome (`files`) for the committer to write, instead of writing them first.
    journal: bool = False
    # Committed again after a restart (the run's `resuming`): a journaled commit then
    # looks for the files of an earlier commit of this id first (a `conflict`). A fresh
    # attempt's id was never committed, so its journaled commit touches no file.
    resuming: bool = False


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


class AnswerWritten(msgspec.Struct, frozen=True):
    """The substrate a request was handed to wrote its answer (`<id>.resp.json` or
    `<id>.error`, with the fingerprint and route beside it) into `outbox`: look now,
    instead of when the outbox watch notices (ADR 0100)."""

    outbox: str
    id: str


class Handoff(msgspec.Struct, frozen=True):
    """A request this process committed at `path` (already renamed to `<id>.req.json`),
    handed straight to the in-process substrate serving the tree, which claims it at once
    instead of when its inbox watch notices the rename, and tells `notify` when the
    answer is written (the in-process shortcut, ADR 0100).

    The files are those of any commit: the substrate claims the request by the same rename
    a watcher event would race it for, so a request seen both ways is served once.
    `relaxed`: the committer's journal already makes the exchange recoverable, so the
    answer is written with the fewer fsyncs ADR 0100 lists (the response file itself is
    still fsynced).
    """

    path: str
    notify: ActorRef[AnswerWritten]
    relaxed: bool = False


class Exchange(msgspec.Struct, frozen=True):
    """A request served in memory by the in-process substrate (the journaled exchange,
    ADR 0122): `path` is where its `<id>.req.json` would be committed, `raw` its bytes.
    No file is written first; the substrate checks, routes and serves it as it would
    the file, and tells `notify` `Exchanged` with the answer and the ABI files to write.
    """

    path: str
    raw: bytes
    notify: ActorRef[Exchanged]
    tenant: str | None = None
    # Sent again after a restart: the provider may have been called for it before the
    # crash (its route says `resumed`, as a claim served again after a restart does).
    resuming: bool = False


class Exchanged(msgspec.Struct, frozen=True):
    """The outcome of an `Exchange`: `response` (the `<id>.resp.json` bytes) or `error`,
    the route and fingerprint, and `files`, the ABI files in the order the substrate
    writes them (fingerprint, route, answer, then the request as `<id>.done`).

    `fallback`: the substrate did not serve it (a check, the route or the policy refused
    it, or its tree is not this one): commit it as a file, which gets the usual refusal
    (its `<id>.error`, the dead letters) with every fsync."""

    outbox: str
    id: str
    response: bytes | None = None
    error: ErrorRecord | None = None
    route: RouteRecord | None = None
    fingerprint: str | None = None
    files: tuple[JournaledFile, ...] = ()
    fallback: bool = False
