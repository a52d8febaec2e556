"""Which state types cannot change in place, so a callback that returns its state
unchanged (the same object) needs no render.

A view's state is whatever its callbacks return. A state that may be changed in place
(a dict, a list, a struct that is not frozen, a frozen struct holding a dict) is
rendered after every callback, and the diff tells whether anything changed (ADR 0070).
A state whose type is immutable all the way down (numbers, strings, frozensets and
tuples of immutables, frozen msgspec structs whose fields are all declared immutable)
cannot have changed if it is the same object, so its render is skipped. The answer is
computed once per type from its annotations, never by walking the value.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Final

import msgspec

_SCALARS: Final = frozenset({int, float, complex, str, bytes, bool, type(None)})
_CACHE: dict[object, bool] = {}


def immutable_value(value: object) -> bool:
    """True when `value` cannot have been changed in place (judged by its type alone).

    A bare tuple or frozenset is judged mutable: its elements are not declared.
    """
    return immutable_type(type(value))


def immutable_type(annotation: object) -> bool:
    """True when every value of `annotation` is immutable all the way down."""
    known = _CACHE.get(annotation)
    if known is not None:
        return known
    _CACHE[annotation] = True  # a recursive struct refers to itself: assume, then decide
    answer = _decide(annotation)
    _CACHE[annotation] = answer
    return answer


def _decide(annotation: object) -> bool:
    if annotation in _SCALARS or annotation is None:
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return True
        if issubclass(annotation, msgspec.Struct):
            return _frozen_struct(annotation)
        return False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return immutable_type(args[0])
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return all(arg is Ellipsis or immutable_type(arg) for arg in args) and bool(args)
    return False


def _frozen_struct(cls: type[msgspec.Struct]) -> bool:
    if not cls.__struct_config__.frozen:
        return False
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError):
        return False  # annotations that do not resolve: assume it may change
    return all(immutable_type(hints[name]) for name in cls.__struct_fields__)
