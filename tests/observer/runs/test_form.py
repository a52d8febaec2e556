"""The re-run form: fields from a workflow's msgspec schema, and hostile submitted values
(hypothesis): a bad field is a `FormError` naming it, never another exception."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.observer.runs import FormError, fields_of, inputs_of
from lightflow_actors.observer.runs._form import MAX_FIELDS, shown_value


class Inputs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str
    steps: int = 5
    tone: Literal["plain", "friendly", "formal"] = "plain"
    ratio: float = 0.5
    loud: bool = False
    tags: list[str] = []


SCHEMA = msgspec.json.schema(Inputs)


def test_fields_follow_the_schema() -> None:
    fields = fields_of(SCHEMA)
    assert fields is not None
    assert [(f.name, f.kind, f.required) for f in fields] == [
        ("topic", "text", True),
        ("steps", "integer", False),
        ("tone", "choice", False),
        ("ratio", "number", False),
        ("loud", "boolean", False),
        ("tags", "json", False),
    ]
    assert set(fields[2].choices) == {"plain", "friendly", "formal"}
    assert fields[1].default == 5 and fields[1].has_default
    shown = [shown_value(f, {"topic": "tea", "tags": ["a"]}) for f in fields]
    assert shown == ["tea", "5", "plain", "0.5", False, '["a"]']


def test_a_submitted_form_gives_typed_inputs() -> None:
    fields = fields_of(SCHEMA)
    assert fields is not None
    inputs = inputs_of(fields, ["tea", "3", "formal", "1.5", True, '["x", "y"]'])
    assert inputs == {
        "topic": "tea",
        "steps": 3,
        "tone": "formal",
        "ratio": 1.5,
        "loud": True,
        "tags": ["x", "y"],
    }
    msgspec.convert(inputs, Inputs)  # what the runs host will accept
    # Empty optional fields are left out: their defaults apply.
    assert inputs_of(fields, ["tea", "", "", "", False, ""]) == {"topic": "tea", "loud": False}


@pytest.mark.parametrize(
    "values,words",
    [
        (["tea", "3.5"], "steps: expected a whole number"),
        (["tea", "1" * 40], "steps: expected a whole number"),
        (["tea", "", "loud"], "tone: expected one of "),
        (["tea", "", "", "nan"], "ratio: expected a number"),
        (["tea", "", "", "", "maybe"], "loud: expected a tick"),
        (["tea", "", "", "", False, "[1,"], "tags: not valid JSON"),
        (["tea", "", "", "", False, "[" * 10_000 + "]" * 10_000], "tags: not valid JSON"),
        (["x" * 70_000], "topic: at most"),
    ],
)
def test_a_bad_field_is_named(values: list[object], words: str) -> None:
    fields = fields_of(SCHEMA)
    assert fields is not None
    with pytest.raises(FormError, match=words):
        inputs_of(fields, values)  # type: ignore[arg-type]


def test_schemas_that_make_no_form() -> None:
    assert fields_of({}) is None
    assert fields_of({"type": "array"}) is None
    assert fields_of({"$ref": "#/$defs/Missing"}) is None
    many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(50)}}
    assert fields_of(many) is None  # type: ignore[arg-type]
    loop = {"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/A"}}}
    assert fields_of(loop) is None  # type: ignore[arg-type]
    assert len(fields_of({"type": "object", "properties": {}}) or ()) == 0 < MAX_FIELDS


VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=200)


@given(st.lists(VALUE, max_size=8))
def test_any_submitted_values_are_inputs_or_a_named_error(values: list[object]) -> None:
    fields = fields_of(SCHEMA)
    assert fields is not None
    try:
        inputs = inputs_of(fields, values)  # type: ignore[arg-type]
    except FormError as error:
        assert str(error).split(":")[0].split(" ")[0] in {f.name for f in fields}
    else:
        assert set(inputs) <= {f.name for f in fields}
        msgspec.json.encode(inputs)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=30,
    )
)
def test_any_schema_lays_out_or_makes_no_form(schema: object) -> None:
    document = schema if isinstance(schema, dict) else {"x": schema}
    fields = fields_of(document)  # type: ignore[arg-type]
    assert fields is None or len(fields) <= MAX_FIELDS
