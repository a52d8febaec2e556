"""The JSON-compatible value type carried by instruction payloads.

``JSONValue`` is what params, rendered views, diffs and submit payloads hold: null,
booleans, integers, finite floats, strings, lists and string-keyed objects. Typed
payloads (a msgspec struct such as a live-view diff) travel as their JSON form:
``to_json_value`` converts one in, ``from_json_value`` converts it back, validated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final, TypeVar

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

__all__ = ["MAX_JSON_DEPTH", "JSONValue", "check_json_value", "from_json_value", "to_json_value"]

T = TypeVar("T")

# Integers outside this range do not survive msgpack; keep both codecs equal.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
MAX_JSON_DEPTH: Final = 64


def check_json_value(value: object, path: str = "$") -> None:
    """Raise ``PayloadError`` naming the path of the first non-JSON part of ``value``.

    Accepted: None, bool, int in [-2**63, 2**64-1], finite float, str, list, and dict
    with str keys; at most 64 levels of lists/objects. Rejected: bytes, NaN/inf, int keys, msgpack
    extension values and anything else a permissive decoder may produce.
    """
    # Every decoded frame goes through here, so the common case (valid) runs a
    # path-free walk; only when it fails does the slow walk build the path.
    if not _valid(value, 0):
        _explain(value, path, 0)


def _valid(value: Any, depth: int) -> bool:  # Any: checked by exact type below
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(_INT_MIN <= value <= _INT_MAX)
    if kind is float:
        return bool(value - value == 0.0)  # false for NaN and +-inf
    if depth >= MAX_JSON_DEPTH:
        return False
    if kind is list:
        for item in value:
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _valid(item, depth + 1):
                return False
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            if not _valid(item, depth + 1):
                return False
        return True
    return False


def _explain(value: object, path: str, depth: int) -> None:
    """The slow walk: find the first offending part and raise with its path."""
    if depth >= MAX_JSON_DEPTH and isinstance(value, (list, dict)):
        raise PayloadError(f"payload nests deeper than {MAX_JSON_DEPTH} levels at `{path}`", path)
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
            _explain(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"object key {key!r} at `{path}` is not a string", path)
            _explain(item, f"{path}.{key}", depth + 1)
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
