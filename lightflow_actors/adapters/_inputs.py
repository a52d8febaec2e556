"""Decode what a request brings (string parameters, a JSON body, ``Last-Event-ID``) with msgspec.

Both HTTP surfaces (the operator app in ``http`` and the runs routes in ``runs``) decode
their inputs here, so a bad value is refused by one rule with one message everywhere. What
differs between them is in ``InputRules``: the exception each raises (the operator app's
``HttpError`` family, the runs ``RunsError`` family that the runs routes and the MCP
endpoint map themselves), the body size limit, and how a field is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

T = TypeVar("T")

MAX_INT64 = 2**63 - 1
"""The largest event seq a ``Last-Event-ID`` header may carry."""

# msgspec names the bad value by its path (``... - at `$.limit```); an unknown or missing
# field is named only in the text (``Object contains unknown field `colour```).
_AT_FIELD = re.compile(r"at `\$\.([A-Za-z_][\w.\-]*)")
_NAMED_FIELD = re.compile(r"field `([^`]*)`")


class Invalid(Protocol):
    """Builds the surface's 400 error: ``BadRequest`` or ``InvalidRequest``."""

    def __call__(self, message: str, /, *, field: str) -> Exception: ...


class TooLarge(Protocol):
    """Builds the surface's 413 error (each surface has its own ``PayloadTooLarge``)."""

    def __call__(self, message: str, /) -> Exception: ...


@dataclass(frozen=True, slots=True)
class InputRules:
    """What one surface needs from the decoders.

    ``named_fields``: report a field msgspec names only in its text (an unknown or missing
    field) as that field; when False such an error is about the whole input (``body``,
    ``query``), as the runs surface reports it. ``event_id_digits``: the most digits a
    ``Last-Event-ID`` may have (the runs surface takes 18, so any value fits an int64).
    """

    invalid: Invalid
    too_large: TooLarge
    max_body_bytes: int
    named_fields: bool = True
    event_id_digits: int = 19


def field_of(error: msgspec.ValidationError, *, named_fields: bool = True) -> str | None:
    """The input field a msgspec validation error is about (``$.limit`` -> ``limit``)."""
    text = str(error)
    match = _AT_FIELD.search(text) or (_NAMED_FIELD.search(text) if named_fields else None)
    return match.group(1) if match else None


def decode_params(
    items: Iterable[tuple[str, str]],
    kind: type[T],
    rules: InputRules,
    *,
    where: str,
    default_field: str,
) -> T:
    """String parameters (a path or a query) into ``kind``; a repeated key is refused.

    ``where`` (``query``, ``path``) goes into the messages; ``default_field`` is the field
    of an error that names none.
    """
    values: dict[str, str] = {}
    for key, value in items:
        if key in values:
            raise rules.invalid(
                f"{where} parameter `{key}` is given more than once; give it once", field=key
            )
        values[key] = value
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        field = field_of(exc, named_fields=rules.named_fields)
        if field is None:
            raise rules.invalid(f"invalid {where} parameter: {exc}", field=default_field) from None
        raise rules.invalid(f"invalid {where} parameter `{field}`: {exc}", field=field) from None


def decode_body(body: bytes, kind: type[T], rules: InputRules) -> T:
    """A JSON body into ``kind``; an empty body means every field takes its default."""
    if len(body) > rules.max_body_bytes:
        raise rules.too_large(
            f"request body is {len(body)} bytes; the limit is {rules.max_body_bytes}"
        )
    if not body.strip():
        body = b"{}"
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        # rstrip: a field such as `a.` (an unknown key) is reported as `body.a`, none as `body`.
        field = ("body." + (field_of(exc, named_fields=rules.named_fields) or "")).rstrip(".")
        raise rules.invalid(f"invalid request body: {exc}", field=field) from None
    except msgspec.DecodeError as exc:
        raise rules.invalid(f"request body is not valid JSON: {exc}", field="body") from None


def decode_last_event_id(raw: str | None, rules: InputRules) -> int | None:
    """The SSE ``Last-Event-ID`` header: the seq of the last event the client saw (None when
    absent)."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > rules.event_id_digits:
        raise rules.invalid(
            f"invalid Last-Event-ID header {raw[:40]!r}: expected the seq of an event "
            "(a non-negative integer)",
            field="Last-Event-ID",
        )
    seq = int(text)
    if seq > MAX_INT64:
        raise rules.invalid(f"Last-Event-ID {text[:40]} is out of range", field="Last-Event-ID")
    return seq
