"""Decode what a request brings (path, query, body, headers) once, with msgspec.

Each input has a struct; a value that does not fit raises ``BadRequest`` naming the field
(``id``, ``limit``, ``body.timeout``, ``Last-Event-ID``...), so the client knows what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, TypeVar

import msgspec

from ...kernel import ActorStatus
from ._errors import BadRequest, PayloadTooLarge

MAX_ID = 2**63 - 1
MAX_TREE_PAGE = 10_000
DEFAULT_TREE_PAGE = 1_000
MAX_BODY_BYTES = 64 * 1024
MAX_STOP_TIMEOUT = 300.0

ActorId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
T = TypeVar("T")


class ActorPath(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``/actors/{id}``: a positive integer id."""

    id: ActorId


class TreeQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /system/tree?root=&status=&limit=&cursor=``.

    ``root`` keeps the subtree of that actor; ``status`` keeps actors in that status;
    ``cursor`` is the ``next_cursor`` of the previous page (an actor id: pages go by id).
    """

    root: ActorId | None = None
    status: ActorStatus | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_TREE_PAGE)] = DEFAULT_TREE_PAGE
    cursor: Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)] = 0


class ActorQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET /actors/{id}?events=``: how many recent lifecycle events to include."""

    events: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 20


class StopBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Optional JSON body of ``POST /actors/{id}/stop``.

    ``timeout``: seconds the actor gets to run ``on_stop`` before it is killed (default: its
    supervisor's shutdown policy, or the system's default stop timeout).
    """

    timeout: Annotated[float, msgspec.Meta(gt=0, le=MAX_STOP_TIMEOUT)] | None = None


class EventCursor(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``Last-Event-ID`` header of an SSE reconnect: the last event seq seen."""

    last_event_id: Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]


_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_][\w.\-]*)")
_NAMED_FIELD = re.compile(r"field `([^`]*)`")


def field_of(error: msgspec.ValidationError, default: str) -> str:
    """The input field a msgspec validation error is about (``$.limit`` -> ``limit``)."""
    text = str(error)
    match = _AT_FIELD.search(text) or _NAMED_FIELD.search(text)
    return match.group(1) if match else default


def decode_params(
    items: Iterable[tuple[str, str]], kind: type[T], *, where: str, default_field: str
) -> T:
    """Decode string parameters (a path or a query) into ``kind``; repeated keys are refused."""
    values: dict[str, str] = {}
    for key, value in items:
        if key in values:
            raise BadRequest(
                f"{where} parameter `{key}` is given more than once; give it once",
                field=key,
            )
        values[key] = value
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        field = field_of(exc, default_field)
        raise BadRequest(f"invalid {where} parameter `{field}`: {exc}", field=field) from None


def decode_actor_id(raw: str) -> int:
    """The ``{id}`` path segment as an actor id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest(
            f"invalid actor id {raw[:40]!r} in the path: expected a positive integer", field="id"
        )
    return decode_params([("id", raw)], ActorPath, where="path", default_field="id").id


def decode_body(body: bytes, kind: type[T]) -> T:
    """A JSON body into ``kind``; an empty body means every field takes its default."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not body.strip():
        body = b"{}"
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        field = "body." + field_of(exc, "")
        raise BadRequest(f"invalid request body: {exc}", field=field.rstrip(".")) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}", field="body") from None


def decode_last_event_id(raw: str | None) -> int | None:
    """The ``Last-Event-ID`` header (None when absent)."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise BadRequest(
            f"invalid Last-Event-ID header {raw[:40]!r}: expected the integer id of an event",
            field="Last-Event-ID",
        )
    try:
        return msgspec.convert({"last_event_id": int(text)}, EventCursor).last_event_id
    except msgspec.ValidationError:
        raise BadRequest(
            f"Last-Event-ID {text[:40]} is out of range", field="Last-Event-ID"
        ) from None
