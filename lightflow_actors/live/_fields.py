"""Top-level fields of a view's state, read and replaced by name.

The session keeps a few values inside the view's own state for the template to show:
an `Upload` (its entries and their progress) and the `AsyncResult` of an
``assign_async``. Both live in a top-level field named after them (``state.avatar``,
``state.org``), as Phoenix keeps them in ``@uploads.avatar`` and ``@org``. The state
stays the view's: the session never mutates it, it builds the next state with the
field replaced (a msgspec struct, a dataclass or a dict).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final

import msgspec

from ._errors import ViewDefinitionError

_MISSING: Final = object()


def state_field(state: object, name: str) -> object:
    """The value of field `name` of `state`, or `_MISSING` when it has none."""
    if isinstance(state, Mapping):
        return state.get(name, _MISSING)
    if isinstance(state, msgspec.Struct) or dataclasses.is_dataclass(state):
        return getattr(state, name, _MISSING)
    return _MISSING


def top_level_fields(state: object) -> tuple[str, ...]:
    """The names of `state`'s top-level fields (none for a state of another kind)."""
    if isinstance(state, Mapping):
        return tuple(k for k in state if isinstance(k, str))
    if isinstance(state, msgspec.Struct):
        return state.__struct_fields__
    if dataclasses.is_dataclass(state):
        return tuple(f.name for f in dataclasses.fields(state))
    return ()


def has_field(state: object, name: str) -> bool:
    return state_field(state, name) is not _MISSING


def with_fields(state: object, changes: Mapping[str, object]) -> object:
    """A copy of `state` with `changes` applied to its top-level fields.

    Raises `ViewDefinitionError` naming the fix when the state has no such field.
    """
    for name in changes:
        if not has_field(state, name):
            raise ViewDefinitionError(
                f"the view's state ({type(state).__name__}) has no field {name!r}: an upload "
                f"or an async assign named {name!r} lives in a top-level field of that name "
                "(a struct field, a dataclass field or a dict key)"
            )
    if isinstance(state, Mapping):
        return {**state, **changes}
    if isinstance(state, msgspec.Struct):
        return msgspec.structs.replace(state, **changes)
    assert dataclasses.is_dataclass(state) and not isinstance(state, type)
    return dataclasses.replace(state, **changes)


def missing() -> object:
    """The marker `state_field` returns for an absent field."""
    return _MISSING
