"""Instructions and their JSON payloads: typed diffs, validation, hostile values."""

from __future__ import annotations

import datetime as dt
import math

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isa_strategies import instructions, json_values

from lightflow_actors.isa import (
    OPS,
    Instruction,
    InstructionFrame,
    JsonCodec,
    Mount,
    MsgpackCodec,
    Patch,
    PayloadError,
    check_json_value,
    op_of,
    to_json_value,
)


class Change(msgspec.Struct, frozen=True):
    path: list[int]
    html: str


class Diff(msgspec.Struct, frozen=True):
    """Stands in for a live-view statics/dynamics diff."""

    fingerprint: int
    changes: list[Change]
    at: dt.datetime | None = None
    statics: dict[str, list[str]] = {}


diffs = st.builds(
    Diff,
    fingerprint=st.integers(min_value=0, max_value=2**64 - 1),
    changes=st.lists(
        st.builds(Change, path=st.lists(st.integers(0, 100), max_size=4), html=st.text()),
        max_size=4,
    ),
    at=st.none() | st.datetimes(timezones=st.just(dt.UTC), min_value=dt.datetime(1970, 1, 2)),
    statics=st.dictionaries(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=3)),
)


@given(diffs, st.sampled_from([JsonCodec(), MsgpackCodec()]))
def test_a_typed_diff_crosses_the_wire_and_comes_back_typed(diff: Diff, codec: object) -> None:
    patch = Patch.of(diff)
    assert patch.diff_as(Diff) == diff
    wire = codec.encode(InstructionFrame(1, 1, instruction=patch))  # type: ignore[attr-defined]
    decoded = codec.decode(wire).instruction  # type: ignore[attr-defined]
    assert decoded == patch
    assert decoded.diff_as(Diff) == diff


def test_a_diff_of_the_wrong_shape_names_the_bad_path() -> None:
    patch = Patch(diff={"fingerprint": 1, "changes": [{"path": [0], "html": 5}]})
    with pytest.raises(PayloadError) as info:
        patch.diff_as(Diff)
    assert info.value.path == "$.changes[0].html"


def test_op_of_names_every_instruction() -> None:
    assert OPS == ("mount", "render", "patch", "subscribe", "submit", "shutdown")


@given(instructions)
def test_op_of_is_the_wire_tag(instruction: Instruction) -> None:
    assert msgspec.to_builtins(instruction)["op"] == op_of(instruction)


def test_ids_are_single_path_segments() -> None:
    for bad in ["", ".", "..", "a/b", "nul\x00"]:
        raw = msgspec.json.encode({"op": "mount", "id": bad, "target": "t"})
        with pytest.raises(msgspec.ValidationError, match=r"\$\.id"):
            msgspec.json.decode(raw, type=Instruction)
    assert msgspec.json.decode(b'{"op":"mount","id":"...","target":"t"}', type=Mount).id == "..."


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        msgspec.json.decode(b'{"op":"render","colour":"red"}', type=Instruction)


@given(json_values)
def test_json_values_pass_the_check(value: object) -> None:
    check_json_value(value)
    assert to_json_value(value) == value


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": [1, b"raw"]}, "$.a[1]"),
        ({"a": {1: "x"}}, "$.a"),
        ([math.nan], "$[0]"),
        ({"big": 2**64}, "$.big"),
        ({"t": (1, 2)}, "$.t"),
    ],
)
def test_non_json_values_are_named_by_path(value: object, path: str) -> None:
    with pytest.raises(PayloadError) as info:
        check_json_value(value)
    assert info.value.path == path


def test_unconvertible_objects_raise_payload_error() -> None:
    with pytest.raises(PayloadError, match="cannot convert object"):
        to_json_value(object())


def _is_json_reference(value: object, depth: int = 0) -> bool:
    """The JSONValue rule written plainly, to check the fast validator against."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return -(2**63) <= value <= 2**64 - 1
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, dict)) and depth >= 64:
        return False
    if isinstance(value, list):
        return all(_is_json_reference(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _is_json_reference(v, depth + 1) for k, v in value.items()
        )
    return False


anything = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=3)
    | st.binary(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=15,
)


@given(anything)
def test_the_validator_agrees_with_the_plain_rule(value: object) -> None:
    if _is_json_reference(value):
        check_json_value(value)
    else:
        with pytest.raises(PayloadError):
            check_json_value(value)


@pytest.mark.parametrize("depth", [63, 64, 65, 200])
def test_nesting_limit_is_the_same_on_both_paths(depth: int) -> None:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    if depth <= 64:
        check_json_value(value)
    else:
        with pytest.raises(PayloadError, match="deeper than 64 levels"):
            check_json_value(value)
