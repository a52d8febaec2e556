"""Static typing of template field references, over `msgspec.inspect` type descriptions.

`field_type` walks a path (`topic`, `items.0.name`) through a schema; `fits` says whether
a value of one static type is acceptable where another is expected; `json_kinds` is the
set of JSON types a schema admits (kept in resolved workflows for the check done when a
step's request is rendered after a resume, when only JSON is left).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import msgspec
import msgspec.inspect as mi

from ._json import json_kind

ALL_KINDS = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})
SCALAR_KINDS = frozenset({"boolean", "integer", "number", "string"})

_STRINGLIKE = (
    mi.StrType,
    mi.BytesType,
    mi.ByteArrayType,
    mi.MemoryViewType,
    mi.DateTimeType,
    mi.DateType,
    mi.TimeType,
    mi.TimeDeltaType,
    mi.UUIDType,
    mi.DecimalType,
)
_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_OBJECTS = (mi.DictType, mi.StructType, mi.TypedDictType, mi.DataclassType)


TYPE_CACHE_SIZE = 512
"""Types whose descriptions are kept (`schema_of`, `json_schema`). A resolution asks for
the same few types once per step (a 10-step chain: eleven times each), and describing a
struct walks its class annotations, evaluating each one (`msgspec.inspect`): about a
third of a resolution's time before these were cached."""


def schema_of(tp: object) -> mi.Type:
    """The inspect description of a Python type (a msgspec Struct class, `str`, ...).

    Cached by the type object (a changed asset file defines new classes: new keys); the
    description is shared, and nothing here or in its callers changes one."""
    try:
        return _type_info(tp)
    except TypeError:  # an unhashable annotation (a `Meta` holding a dict...): not cached
        return mi.type_info(tp)


@functools.lru_cache(maxsize=TYPE_CACHE_SIZE)
def _type_info(tp: object) -> mi.Type:
    return mi.type_info(tp)


def unwrap(tp: mi.Type) -> mi.Type:
    while isinstance(tp, mi.Metadata):
        tp = tp.type
    return tp


def type_name(tp: mi.Type) -> str:
    """A short, Python-like name for error messages."""
    tp = unwrap(tp)
    if isinstance(tp, mi.UnionType):
        return " | ".join(type_name(t) for t in tp.types)
    if isinstance(tp, mi.LiteralType):
        return "Literal[" + ", ".join(repr(v) for v in tp.values) + "]"
    if isinstance(tp, mi.StructType | mi.DataclassType | mi.TypedDictType | mi.EnumType):
        return tp.cls.__name__
    if isinstance(tp, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return f"list[{type_name(tp.item_type)}]"
    if isinstance(tp, mi.TupleType):
        return "tuple[" + ", ".join(type_name(t) for t in tp.item_types) + "]"
    if isinstance(tp, mi.DictType):
        return f"dict[{type_name(tp.key_type)}, {type_name(tp.value_type)}]"
    simple = {
        mi.AnyType: "Any",
        mi.NoneType: "None",
        mi.BoolType: "bool",
        mi.IntType: "int",
        mi.FloatType: "float",
        mi.StrType: "str",
    }
    return simple.get(type(tp), type(tp).__name__.removesuffix("Type").lower())


def json_kinds(tp: mi.Type) -> frozenset[str]:
    """The JSON types a value of `tp` may be encoded as."""
    tp = unwrap(tp)
    if isinstance(tp, mi.AnyType | mi.RawType | mi.CustomType | mi.ExtType):
        return ALL_KINDS
    if isinstance(tp, mi.UnionType):
        return frozenset().union(*(json_kinds(t) for t in tp.types))
    if isinstance(tp, mi.LiteralType | mi.EnumType):
        values = tp.values if isinstance(tp, mi.LiteralType) else [m.value for m in tp.cls]
        return frozenset(json_kind(v) for v in values)
    if isinstance(tp, mi.NoneType):
        return frozenset({"null"})
    if isinstance(tp, mi.BoolType):
        return frozenset({"boolean"})
    if isinstance(tp, mi.IntType):
        return frozenset({"integer"})
    if isinstance(tp, mi.FloatType):
        return frozenset({"integer", "number"})
    if isinstance(tp, _STRINGLIKE):
        return frozenset({"string"})
    if isinstance(tp, mi.StructType) and tp.array_like:
        return frozenset({"array"})
    if isinstance(tp, _OBJECTS):
        return frozenset({"object"})
    return frozenset({"array"})  # lists, sets, tuples, named tuples


def field_type(tp: mi.Type, path: Sequence[str]) -> mi.Type:
    """The type at `path` inside `tp`; raises KeyError with the first bad segment."""
    for segment in path:
        tp = unwrap(tp)
        if isinstance(tp, mi.UnionType):
            # `Optional[X].field`: walk the non-null members that have the segment.
            members = [t for t in tp.types if not isinstance(unwrap(t), mi.NoneType)]
            if len(members) != 1:
                raise KeyError(segment)
            tp = unwrap(members[0])
        if isinstance(tp, mi.AnyType):
            return tp
        if isinstance(tp, mi.StructType | mi.DataclassType | mi.TypedDictType):
            match = [f for f in tp.fields if f.encode_name == segment]
            if not match:
                raise KeyError(segment)
            tp = match[0].type
        elif isinstance(tp, mi.DictType):
            tp = tp.value_type
        elif isinstance(tp, _SEQUENCES) and segment.isdigit():
            tp = tp.item_type
        elif (
            isinstance(tp, mi.TupleType) and segment.isdigit() and int(segment) < len(tp.item_types)
        ):
            tp = tp.item_types[int(segment)]
        else:
            raise KeyError(segment)
    return tp


def fits(value_type: mi.Type, expected: mi.Type) -> bool:
    """Whether every value of `value_type` is acceptable where `expected` is required.

    Constraints (ge, max_length, patterns) are not compared: the static check is about
    shapes; a rendered request is checked again against JSON kinds when submitted."""
    s, e = unwrap(value_type), unwrap(expected)
    if isinstance(e, mi.AnyType | mi.RawType) or isinstance(s, mi.AnyType):
        return True
    if isinstance(s, mi.UnionType):
        return all(fits(m, e) for m in s.types)
    if isinstance(e, mi.UnionType):
        return any(fits(s, m) for m in e.types)
    if isinstance(e, mi.LiteralType):
        return isinstance(s, mi.LiteralType) and set(s.values) <= set(e.values)
    if isinstance(s, mi.LiteralType):
        return all(_literal_fits(v, e) for v in s.values)
    if isinstance(e, mi.EnumType):
        return isinstance(s, mi.EnumType) and issubclass(s.cls, e.cls)
    if isinstance(e, mi.FloatType) and isinstance(s, mi.IntType):
        return True
    if isinstance(e, _SEQUENCES):
        if isinstance(s, _SEQUENCES):
            return fits(s.item_type, e.item_type)
        if isinstance(s, mi.TupleType):
            return all(fits(t, e.item_type) for t in s.item_types)
        return False
    if isinstance(e, mi.TupleType):
        return isinstance(s, mi.TupleType) and (
            len(s.item_types) == len(e.item_types)
            and all(fits(a, b) for a, b in zip(s.item_types, e.item_types, strict=True))
        )
    if isinstance(e, mi.DictType):
        if isinstance(s, mi.DictType):
            return fits(s.key_type, e.key_type) and fits(s.value_type, e.value_type)
        if isinstance(s, mi.StructType | mi.TypedDictType | mi.DataclassType):
            return isinstance(unwrap(e.key_type), mi.StrType | mi.AnyType) and all(
                fits(f.type, e.value_type) for f in s.fields
            )
        return False
    if isinstance(e, mi.StructType | mi.TypedDictType | mi.DataclassType):
        return type(s) is type(e) and issubclass(s.cls, e.cls)
    return type(s) is type(e)


def _literal_fits(value: object, expected: mi.Type) -> bool:
    kind = json_kind(value)
    if isinstance(expected, mi.StrType):
        return kind == "string"
    if isinstance(expected, mi.IntType):
        return kind == "integer"
    if isinstance(expected, mi.FloatType):
        return kind in ("integer", "number")
    if isinstance(expected, mi.BoolType):
        return kind == "boolean"
    return False


def json_schema(tp: object) -> dict[str, object]:
    """The JSON Schema of a struct (with `$defs`), as recorded in resolved workflows: a
    fresh copy each call (callers keep it in what they build), of a schema generated once
    per type (cached like `schema_of`)."""
    try:
        encoded = _json_schema(tp)
    except TypeError:  # unhashable: not cached
        return msgspec.json.schema(tp)
    schema: dict[str, object] = msgspec.json.decode(encoded)
    return schema


@functools.lru_cache(maxsize=TYPE_CACHE_SIZE)
def _json_schema(tp: object) -> bytes:
    return msgspec.json.encode(msgspec.json.schema(tp))
