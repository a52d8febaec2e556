"""Canonical JSON and the hashing of JSON values (output caching), and their kinds.

The JSON value type itself is `lightflow_actors.isa.JSONValue`, the one the whole package
uses (isa is the lowest layer that needs it).
"""

from __future__ import annotations

import hashlib

import msgspec

__all__ = ["canonical_json", "fingerprint", "json_kind"]

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
