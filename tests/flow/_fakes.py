"""Test doubles of the run actor's world: a fixed wall clock and a scripted CortexFS client.

`FakeCortex` stands where the real `CortexClient` does: it refuses an id committed twice
(like the client), and answers each commit after `delay` seconds as `answer` says (None:
never, as when the server died), optionally twice (stale duplicates).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from lightflow_actors.cortex import (
    Commit,
    CommitFailed,
    CortexOutcome,
    ErrorObserved,
    ErrorRecord,
    Observe,
    RequestCommitted,
    ResponseObserved,
)
from lightflow_actors.kernel import Actor, handler

Answer = Callable[[Commit, int], CortexOutcome | None]
"""What the fake answers to the nth commit (None: nothing, ever)."""


class Clock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000


def body_for(commit: Commit) -> bytes:
    """A well-formed answer body for the commit's kind and API format."""
    if commit.kind == "tool":
        return b'{"words": 3, "lines": 1}'
    if commit.kind == "thread":
        return b'{"text": "posted"}'
    if commit.name == "anthropic.messages":
        return msgspec.json.encode({"content": [{"type": "text", "text": f"rev {commit.id}"}]})
    return msgspec.json.encode({"choices": [{"message": {"content": f"text {commit.id}"}}]})


def ok(commit: Commit, nth: int) -> CortexOutcome:
    return ResponseObserved(commit.kind, commit.name, commit.id, body_for(commit), None, None)


def fail(commit: Commit, nth: int) -> CortexOutcome:
    record = ErrorRecord(id=commit.id, kind="provider_error", message="HTTP 503")
    return ErrorObserved(commit.kind, commit.name, commit.id, record)


def never(commit: Commit, nth: int) -> None:
    return None  # committed, never answered (the server died)


class _Done(msgspec.Struct, frozen=True):
    id: str


class FakeCortex(Actor[Commit | Observe | _Done]):
    """Answers each committed request after about `delay` seconds as `answer` says; with
    `duplicate`, every answer is delivered twice. Counts what is in flight at once."""

    def __init__(self, answer: Answer, delay: float = 0.5, *, duplicate: bool = False) -> None:
        self.answer = answer
        self.delay = delay
        self.duplicate = duplicate
        self.commits: list[str] = []
        self.answers: dict[str, CortexOutcome] = {}
        self.in_flight: set[str] = set()
        self.max_in_flight = 0

    @handler
    def commit(self, msg: Commit) -> RequestCommitted | CommitFailed:
        if msg.id in self.commits:
            return CommitFailed(msg.kind, msg.name, msg.id, "committed", "conflict")
        self.commits.append(msg.id)
        outcome = self.answer(msg, len(self.commits))
        if outcome is not None:
            self.answers[msg.id] = outcome
            self.in_flight.add(msg.id)
            self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
            if msg.notify is not None:
                # Distinct deadlines: two timers due at one instant may fire in either
                # order, which the deterministic loop reports as a per-sender FIFO violation.
                delay = self.delay + 0.001 * len(self.commits)
                self.send_after(delay, msg.notify, outcome)
                self.send_after(delay, self.ref, _Done(msg.id))
                if self.duplicate:
                    self.send_after(delay + 0.0005, msg.notify, outcome)
        return RequestCommitted(msg.kind, msg.name, msg.id, f"/ctx/inbox/{msg.id}.req.json")

    @handler
    def done(self, msg: _Done) -> None:
        self.in_flight.discard(msg.id)

    @handler
    def observe(self, msg: Observe) -> None:
        if msg.id in self.answers:
            msg.notify.tell(self.answers[msg.id])
