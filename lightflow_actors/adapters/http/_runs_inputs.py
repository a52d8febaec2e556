"""Decode what a runs request brings (path, query, body, headers) once, with msgspec.

A value that does not fit raises `InvalidRequest` (400) naming the field (`body.inputs`,
`after`, `id`...); a run id is checked by the flow's own rule before anything else sees
it, so a hostile id (`..`, `/`, NUL, 10 k characters) never reaches the store. The
decoding itself is shared with the operator app (`adapters/_inputs.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, TypeVar

import msgspec

from lightflow_actors.adapters import _inputs as adapter_inputs
from lightflow_actors.adapters._inputs import InputRules
from lightflow_actors.flow import check_run_id
from lightflow_actors.runs import InvalidRequest, PayloadTooLarge

__all__ = [
    "MAX_BODY_BYTES",
    "CancelBody",
    "CreateBody",
    "EmptyBody",
    "NoQuery",
    "PreviewBody",
    "StreamQuery",
    "decode_body",
    "decode_last_event_id",
    "decode_query",
    "decode_run_id",
]

MAX_BODY_BYTES = 2 << 20
"""Run inputs may be up to 1 MiB of JSON; the rest of a body is small."""

T = TypeVar("T")
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
MAX_SEQ = 2**63 - 1


def _raw_object() -> msgspec.Raw:
    return msgspec.Raw(b"{}")


class PreviewBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /runs/preview`: resolve `workflow` with `inputs` (a JSON object)."""

    workflow: Name
    inputs: msgspec.Raw = msgspec.field(default_factory=_raw_object)
    preset: Name | None = None


class CreateBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /runs`: create a run (id generated when omitted) and start it."""

    workflow: Name
    inputs: msgspec.Raw = msgspec.field(default_factory=_raw_object)
    id: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    preset: Name | None = None


class CancelBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`POST /runs/{id}/cancel`: an optional reason, recorded in `run.cancelled`."""

    reason: Annotated[str, msgspec.Meta(max_length=1000)] = "cancelled by request"


class EmptyBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Routes whose body is empty or `{}`."""


class NoQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Routes without query parameters refuse any: a typo is not silently ignored."""


class StreamQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`?after=<seq>`: start after this event sequence number (default: from the start)."""

    after: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)] | None = None


_RULES = InputRules(
    invalid=InvalidRequest,
    too_large=PayloadTooLarge,
    max_body_bytes=MAX_BODY_BYTES,
    named_fields=False,
    event_id_digits=18,
)


def decode_body(body: bytes, kind: type[T]) -> T:
    """A JSON body into `kind`; an empty body means every field takes its default."""
    return adapter_inputs.decode_body(body, kind, _RULES)


def decode_query(items: Iterable[tuple[str, str]], kind: type[T]) -> T:
    """Query parameters into `kind`; a repeated or unknown parameter is refused."""
    return adapter_inputs.decode_params(items, kind, _RULES, where="query", default_field="query")


def decode_run_id(raw: str) -> str:
    """The `{id}` path segment, checked by the run id rule (InvalidRunId, 400)."""
    return check_run_id(raw)


def decode_last_event_id(raw: str | None) -> int | None:
    """The SSE `Last-Event-ID` header: the last event `seq` the client saw."""
    return adapter_inputs.decode_last_event_id(raw, _RULES)
