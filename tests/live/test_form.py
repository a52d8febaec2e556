"""to_form: per-field errors in msgspec's words, used-input tracking, defaults and the
record being edited, whole-form errors; and any params at all give a Form, never an
exception."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.live import FormEvent, ViewDefinitionError, to_form
from lightflow_actors.live._component import ViewSpec
from lightflow_actors.live._form import BLANK


class Signup(msgspec.Struct, frozen=True):
    name: Annotated[str, msgspec.Meta(min_length=2)]
    age: Annotated[int, msgspec.Meta(ge=18)]
    newsletter: bool = False
    tags: list[str] = msgspec.field(default_factory=list)


class Range(msgspec.Struct, frozen=True):
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError("low must not exceed high")


def test_errors_are_msgspec_words_and_shown_only_when_used() -> None:
    form = to_form(Signup, {"name": "A", "age": "12", "_unused_age": "", "_target": "name"})
    assert form["name"].errors == ("Expected `str` of length >= 2",)
    assert form["name"].shown_errors == form["name"].errors
    assert form["age"].errors == ("Expected `int` >= 18",)
    assert form["age"].shown_errors == ()  # not touched yet
    assert form["age"].value == "12"  # what the user typed stays in the field
    assert not form.valid and form.data is None


def test_a_valid_form_gives_the_record() -> None:
    form = to_form(Signup, {"name": "Ada", "age": "36", "newsletter": True, "tags": ["a"]})
    assert form.data == Signup("Ada", 36, True, ["a"])
    assert form["newsletter"].value == "true"
    assert all(f.used for f in form.fields.values())


def test_blank_required_fields_and_defaults() -> None:
    form = to_form(Signup, {"name": "", "age": ""})
    assert form["name"].errors == (BLANK,)  # empty and refused: blank, not too short
    assert form["age"].errors == (BLANK,)
    assert form["newsletter"].value == "" and form["newsletter"].errors == ()
    empty = to_form(Signup)
    assert not empty.used
    assert empty["name"].errors == (BLANK,) and empty["name"].shown_errors == ()


def test_fields_missing_from_params_come_from_the_record() -> None:
    record = Signup("Ada", 36)
    form = to_form(Signup, {"age": "40"}, data=record)
    assert form.data == Signup("Ada", 40)
    assert form["name"].value == "Ada" and not form["name"].used


def test_post_init_errors_belong_to_the_form() -> None:
    form = to_form(Range, {"low": "5", "high": "1"})
    assert form.errors == ("low must not exceed high",)
    assert form.data is None
    assert to_form(Range, {"low": "1", "high": "5"}).data == Range(1, 5)


def test_unknown_field_lookup_names_the_fields() -> None:
    with pytest.raises(KeyError, match="it has: name, age, newsletter, tags"):
        to_form(Signup)["email"]


def test_form_events_carry_every_key_and_lf_names_are_reserved() -> None:
    from lightflow_actors.live import LiveView, Params, Rendered, SessionInfo

    class Validate(FormEvent, frozen=True, tag="validate"):
        pass

    class V(LiveView[int, Validate]):
        def mount(self, params: Params, session: SessionInfo) -> int:
            return 0

        def render(self, state: int) -> Rendered:
            raise NotImplementedError

    event = ViewSpec("v", V()).decode_event("validate", {"name": "x", "_unused_age": ""})
    assert isinstance(event, Validate)
    assert event.params == {"name": "x", "_unused_age": ""}

    class Sneaky(msgspec.Struct, frozen=True, tag="lf:chunk"):
        pass

    class W(LiveView[int, Sneaky]):
        pass

    with pytest.raises(ViewDefinitionError, match="keeps for itself"):
        ViewSpec("w", W())


values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.lists(st.text(max_size=4), max_size=3)
)


@given(
    st.dictionaries(
        st.sampled_from(["name", "age", "newsletter", "tags", "_unused_name", "_target", "x"]),
        values,
    )
)
def test_any_params_give_a_form(params: dict[str, object]) -> None:
    form = to_form(Signup, params)
    assert set(form.fields) == {"name", "age", "newsletter", "tags"}
    if form.valid:
        assert isinstance(form.data, Signup)
        assert all(not f.errors for f in form.fields.values())
    else:
        assert any(f.errors for f in form.fields.values()) or form.errors
    for field in form.fields.values():
        assert field.used == (field.name in params and "_unused_" + field.name not in params)
