"""The messages between a provider host and its worker, and what a provider answers.

A provider worker is an actor that accepts `Work` and tells its host `WorkDone`. It answers
with `Answer` (becomes `<id>.resp.json`) or `Failure` (becomes `<id>.error`); any other
exception crashes it, and its host answers `provider_crashed` and restarts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import msgspec

from lightflow_actors.cortex import ErrorKind, TargetKind
from lightflow_actors.kernel import Actor, ActorRef

__all__ = [
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
    """A named provider: how to build its worker actor, and the model it reports by default.

    Build one with `callable_provider`, `tools_provider`, `subprocess_tool` or
    `openai_channel`.
    """

    name: str
    factory: Callable[[], Actor[Work]]
    model: str = ""
