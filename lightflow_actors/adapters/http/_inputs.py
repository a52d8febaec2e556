"""Decode what a request brings (path, query, body, headers) once, with msgspec.

Each input has a struct; a value that does not fit raises ``BadRequest`` naming the field
(``id``, ``limit``, ``body.timeout``, ``Last-Event-ID``...), so the client knows what to fix.
The decoding itself is shared with the runs surface (``adapters/_inputs.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, TypeVar

import msgspec

from ...kernel import ActorStatus
from .. import _inputs as adapter_inputs
from .._inputs import InputRules
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


_RULES = InputRules(invalid=BadRequest, too_large=PayloadTooLarge, max_body_bytes=MAX_BODY_BYTES)


def decode_params(
    items: Iterable[tuple[str, str]], kind: type[T], *, where: str, default_field: str
) -> T:
    """Decode string parameters (a path or a query) into ``kind``; repeated keys are refused."""
    return adapter_inputs.decode_params(
        items, kind, _RULES, where=where, default_field=default_field
    )


def decode_actor_id(raw: str) -> int:
    """The ``{id}`` path segment as an actor id."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest(
            f"invalid actor id {raw[:40]!r} in the path: expected a positive integer", field="id"
        )
    return decode_params([("id", raw)], ActorPath, where="path", default_field="id").id


def decode_body(body: bytes, kind: type[T]) -> T:
    """A JSON body into ``kind``; an empty body means every field takes its default."""
    return adapter_inputs.decode_body(body, kind, _RULES)


def decode_last_event_id(raw: str | None) -> int | None:
    """The ``Last-Event-ID`` header (None when absent)."""
    return adapter_inputs.decode_last_event_id(raw, _RULES)
