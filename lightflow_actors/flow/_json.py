"""The JSON value type shared by templates, resolved workflows and outputs, plus hashing.

msgspec cannot decode a recursive type alias, so at run time `Json` is `object` (msgspec
then accepts any JSON value) while mypy sees the precise recursive union. Every value
typed `Json` therefore comes either from msgspec decoding or from code mypy checked.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, TypeAlias

import msgspec

if TYPE_CHECKING:
    Json: TypeAlias = str | int | float | bool | list["Json"] | dict[str, "Json"] | None
else:
    Json = object

_canonical = msgspec.json.Encoder(order="sorted")


def canonical_json(value: object) -> bytes:
    """Encode with sorted keys so equal values always give equal bytes."""
    return _canonical.encode(value)


def fingerprint(value: object) -> str:
    """The input fingerprint used for output caching: sha256 of the canonical JSON."""
    return "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def json_kind(value: object) -> str:
    """The JSON Schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
