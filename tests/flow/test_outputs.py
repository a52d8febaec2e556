"""Response decoding (per API format) and the output schema check a resumed run relies on."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    API_FORMATS,
    AssetCatalog,
    MalformedResponse,
    reply_text,
    resolve,
    schema_problem,
    step_output,
)


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("openai.chat", {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}),
        ("openai.responses", {"output_text": "hi"}),
        ("openai.responses", {"output": [{"content": [{"type": "output_text", "text": "hi"}]}]}),
        (
            "anthropic.messages",
            {"content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]},
        ),
        ("google.generate_content", {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}),
    ],
)
def test_reply_text_per_format(fmt: str, body: object) -> None:
    assert reply_text(fmt, msgspec.json.encode(body)) == "hi"  # type: ignore[arg-type]


@settings(max_examples=200)
@given(fmt=st.sampled_from(API_FORMATS), body=st.binary(max_size=300))
def test_reply_text_of_any_bytes_is_text_or_malformed(fmt: str, body: bytes) -> None:
    try:
        assert isinstance(reply_text(fmt, body), str)  # type: ignore[arg-type]
    except MalformedResponse as exc:
        assert fmt in str(exc) or "no choices" in str(exc) or "no candidates" in str(exc)


def test_step_outputs_are_checked_against_their_schema(catalog: AssetCatalog) -> None:
    count = resolve(catalog, "word-count", b'{"text": "a b"}').step("count")
    assert step_output(count, b'{"words": 2, "lines": 1}') == {"words": 2, "lines": 1}
    with pytest.raises(MalformedResponse, match=r"\$: missing required field 'lines'"):
        step_output(count, b'{"words": 2}')
    with pytest.raises(MalformedResponse, match=r"\$\.words: expected integer, got string"):
        step_output(count, b'{"words": "2", "lines": 1}')
    with pytest.raises(MalformedResponse, match="not JSON"):
        step_output(count, b"{oops")
    ask = resolve(catalog, "thread-ask", b'{"question": "q"}').step("ask")
    assert step_output(ask, b'"a reply"') == {"text": "a reply"}
    assert step_output(ask, b'{"text": "a reply"}') == {"text": "a reply"}
    plan = resolve(catalog, "text-plan", b'{"topic": "t"}').step("plan")
    chat = msgspec.json.encode({"choices": [{"message": {"content": "1. boil"}}]})
    assert step_output(plan, chat) == {"text": "1. boil"}


class Inner(msgspec.Struct):
    name: str
    score: float = 0.0


class Sample(msgspec.Struct, forbid_unknown_fields=True):
    count: int
    label: Literal["a", "b"]
    tags: list[str]
    inner: Inner
    maybe: int | None = None
    pair: tuple[int, str] = (0, "")
    scores: dict[str, int] = {}
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=3, pattern="^a")] = "a"
    level: Annotated[int, msgspec.Meta(ge=0, lt=10)] = 0
    some: Annotated[list[int], msgspec.Meta(max_length=2)] = []


SCHEMA = msgspec.json.schema(Sample)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_sample_like = st.fixed_dictionaries(
    {
        "count": st.integers() | st.text(max_size=2),
        "label": st.sampled_from(["a", "b", "c"]),
        "tags": st.lists(st.text(max_size=3) | st.integers(), max_size=3),
        "inner": st.fixed_dictionaries({"name": st.text(max_size=3) | st.none()})
        | st.just({"name": "n", "score": 1}),
    },
    optional={
        "maybe": st.none() | st.integers() | st.text(max_size=1),
        "pair": st.tuples(st.integers(), st.text(max_size=2)).map(list) | st.just([1]),
        "extra": st.integers(),
        "scores": st.dictionaries(st.text(max_size=2), st.integers() | st.text(max_size=1)),
        "code": st.text(alphabet="ab", max_size=4),
        "level": st.integers(-2, 12) | st.floats(0, 5),
        "some": st.lists(st.integers(), max_size=4),
    },
)


@settings(max_examples=400)
@given(value=_sample_like | _json)
def test_schema_check_agrees_with_msgspec(value: object) -> None:
    """The check on recorded JSON Schema accepts exactly what msgspec would decode."""
    try:
        msgspec.convert(value, Sample)
        valid = True
    except msgspec.ValidationError:
        valid = False
    assert (schema_problem(value, SCHEMA) is None) == valid, schema_problem(value, SCHEMA)  # type: ignore[arg-type]
