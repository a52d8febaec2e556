"""The messages between a provider host and its worker, and what a provider answers.

A provider worker is an actor that accepts `Work` and tells its host `WorkDone`. It answers
with `Answer` (becomes `<id>.resp.json`) or `Failure` (becomes `<id>.error`); any other
exception crashes it, and its host answers `provider_crashed` and restarts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeAlias

import msgspec

from lightflow_actors.cortex import ErrorKind, TargetKind
from lightflow_actors.kernel import Actor, ActorRef
from lightflow_actors.tenants import DEFAULT_TENANT

MAX_CONCURRENCY = 256
"""The most worker slots one provider may have (each is an actor in the operator tree)."""

__all__ = [
    "MAX_CONCURRENCY",
    "Answer",
    "Failure",
    "Outcome",
    "ProviderRequest",
    "ProviderSpec",
    "Reply",
    "Work",
    "WorkDone",
]


class ProviderRequest(msgspec.Struct, frozen=True):
    """One request as a provider sees it: decoded once, raw bytes kept for fingerprints."""

    kind: TargetKind
    target: str  # format, tool or thread name
    uid: str | None
    id: str
    body: dict[str, object]
    raw: bytes
    # Derived from the request (`idempotency_key`): the same after a restart serves it
    # again, so a paid API that honours it does the work once (HTTP providers send it).
    idempotency_key: str = ""
    # Whose request it is (`<id>.tenant`, ADR 0104): its host serves tenants round-robin
    # and holds a tenant's calls past its provider-call budget.
    tenant: str = DEFAULT_TENANT


class Reply(msgspec.Struct, frozen=True):
    """What a callable provider may return to name the model it used (else: a JSON value)."""

    value: object
    model: str = ""


class Answer(msgspec.Struct, frozen=True):
    body: bytes  # encoded JSON, written as `<id>.resp.json`
    model: str = ""


class Failure(msgspec.Struct, frozen=True):
    kind: ErrorKind
    message: str


Outcome: TypeAlias = Answer | Failure


class WorkDone(msgspec.Struct, frozen=True):
    token: int
    outcome: Outcome


class Work(msgspec.Struct, frozen=True):
    token: int
    request: ProviderRequest
    reply_to: ActorRef[WorkDone]


class ProviderSpec(msgspec.Struct, frozen=True):
    """A named provider: how to build its worker actor, the model it reports by default,
    and how many requests it serves at once (`concurrency` worker slots, each serving one
    request at a time).

    Build one with `callable_provider`, `tools_provider`, `subprocess_tool` or
    `openai_channel`; each picks a default concurrency for its kind of work.
    """

    name: str
    factory: Callable[[], Actor[Work]]
    model: str = ""
    concurrency: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(
                f"provider {self.name!r}: concurrency {self.concurrency} is not between 1 "
                f"and {MAX_CONCURRENCY}"
            )


def idempotency_key(kind: str, target: str, uid: str | None, request_id: str, raw: bytes) -> str:
    """The idempotency key of one request: a hash of where it was committed, its id and its
    bytes. A request served again after a restart gets the same key; a request id reused
    for other bytes (another tree, another run with the same id) does not."""
    h = hashlib.sha256()
    for part in (kind, target, uid or "", request_id):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return "lf-" + h.hexdigest()[:40]
