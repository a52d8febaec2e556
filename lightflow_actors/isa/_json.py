"""The JSON-compatible value type carried by instruction payloads.

``JSONValue`` is what params, rendered views, diffs and submit payloads hold: null,
booleans, integers, finite floats, strings, lists and string-keyed objects. Typed
payloads (a msgspec struct such as a live-view diff) travel as their JSON form:
``to_json_value`` converts one in, ``from_json_value`` converts it back, validated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ._errors import PayloadError, validation_path

if TYPE_CHECKING:
    from typing_extensions import TypeAliasType

    JSONValue = TypeAliasType(
        "JSONValue",
        "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None",
    )
else:
    # msgspec (on Python 3.11) cannot resolve a recursive alias, so at runtime the
    # field type is Any: JSON decoding can only produce JSON values anyway, and the
    # msgpack codec walks the decoded payload with ``check_json_value``.
    JSONValue = Any

__all__ = ["JSONValue", "check_json_value", "from_json_value", "to_json_value"]

T = TypeVar("T")

# Integers outside this range do not survive msgpack; keep both codecs equal.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_MAX_DEPTH = 64


def check_json_value(value: object, path: str = "$") -> None:
    """Raise ``PayloadError`` naming the path of the first non-JSON part of ``value``.

    Accepted: None, bool, int in [-2**63, 2**64-1], finite float, str, list, and dict
    with str keys, nested at most 64 deep. Rejected: bytes, NaN/inf, int keys, msgpack
    extension values and anything else a permissive decoder may produce.
    """
    _check(value, path, 0)


def _check(value: object, path: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise PayloadError(f"payload nests deeper than {_MAX_DEPTH} levels at `{path}`", path)
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise PayloadError(f"integer out of the 64-bit range at `{path}`", path)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"non-finite float at `{path}`; send null instead", path)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"object key {key!r} at `{path}` is not a string", path)
            _check(item, f"{path}.{key}", depth + 1)
        return
    raise PayloadError(
        f"`{path}` holds a {type(value).__name__}, which is not JSON-compatible; "
        "convert it with to_json_value first",
        path,
    )


def to_json_value(obj: object) -> JSONValue:
    """Convert a msgspec struct (or any msgspec-encodable object) to its JSON form."""
    try:
        value: JSONValue = msgspec.to_builtins(obj, str_keys=True)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"cannot convert {type(obj).__name__} to JSON: {exc}") from exc
    check_json_value(value)
    return value


def from_json_value(value: JSONValue, into: type[T]) -> T:
    """Convert a JSON value back to ``into``; errors name the bad field's path."""
    try:
        return msgspec.convert(value, into, strict=False)
    except msgspec.ValidationError as exc:
        raise PayloadError(str(exc), validation_path(str(exc))) from exc
