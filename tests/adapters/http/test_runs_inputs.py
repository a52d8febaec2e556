"""Decoders at the runs boundary (bodies, queries, Last-Event-ID, MCP tool arguments):
malformed, oversized and hostile input is a typed error naming the field, never a crash."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.adapters.http import BadRequest, PayloadTooLarge
from lightflow_actors.adapters.http._inputs import (
    RUNS,
    CancelBody,
    CreateBody,
    EmptyBody,
    StreamQuery,
    decode_run_id,
)
from lightflow_actors.adapters.mcp._server import MCP_TOOLS, tool_schema
from lightflow_actors.flow import InvalidRunId


def test_bodies() -> None:
    body = RUNS.body(b'{"workflow": "w", "inputs": {"a": [1, {"b": null}]}}', CreateBody)
    assert bytes(body.inputs) == b'{"a": [1, {"b": null}]}'
    assert RUNS.body(b"", CancelBody).reason == "cancelled by request"
    assert bytes(RUNS.body(b'{"workflow": "w"}', CreateBody).inputs) == b"{}"
    with pytest.raises(BadRequest) as bad:
        RUNS.body(b'{"workflow": "w", "id": 5}', CreateBody)
    assert bad.value.field == "body.id"
    with pytest.raises(BadRequest) as long:
        RUNS.body(msgspec.json.encode({"workflow": "w" * 300}), CreateBody)
    assert long.value.field == "body.workflow"
    with pytest.raises(PayloadTooLarge):
        RUNS.body(b" " * (3 << 20), EmptyBody)
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        RUNS.body(b"\xff\xfe", EmptyBody)
    with pytest.raises(BadRequest, match="not valid JSON"):
        RUNS.body(b"{", EmptyBody)


def test_queries_and_headers() -> None:
    assert RUNS.query([("after", "7")], StreamQuery).after == 7
    for items in (
        [("after", "x")],
        [("after", "-1")],
        [("after", "1"), ("after", "2")],
        [("b", "")],
    ):
        with pytest.raises(BadRequest):
            RUNS.query(items, StreamQuery)
    assert RUNS.last_event_id(None) is None and RUNS.last_event_id(" 12 ") == 12
    for raw in ("", "-1", "1e3", "١٢", "9" * 40):
        with pytest.raises(BadRequest):
            RUNS.last_event_id(raw)
    for raw in ("", ".", "..", "a/b", "a\x00", "\x7f", "é" * 150):
        with pytest.raises(InvalidRunId):
            decode_run_id(raw)


@given(st.binary(max_size=400))
def test_any_body_decodes_or_is_a_typed_error(data: bytes) -> None:
    for kind in (CreateBody, CancelBody, EmptyBody):
        try:
            RUNS.body(data, kind)
        except (BadRequest, PayloadTooLarge) as exc:
            assert exc.status in (400, 413)


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=30)), max_size=4))
def test_any_query_decodes_or_is_a_typed_error(items: list[tuple[str, str]]) -> None:
    try:
        RUNS.query(items, StreamQuery)
    except BadRequest as exc:
        assert exc.status == 400


@given(st.text(max_size=40))
def test_any_last_event_id(raw: str) -> None:
    try:
        value = RUNS.last_event_id(raw)
    except BadRequest:
        return
    assert value is not None and value >= 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.dictionaries(
        st.sampled_from(["workflow", "run_id", "inputs", "id", "step", "kind", "x"]), json_values
    )
)
def test_tool_arguments_decode_or_name_the_field(arguments: dict[str, object]) -> None:
    for tool in MCP_TOOLS:
        try:
            msgspec.convert(arguments, tool.args)
        except msgspec.ValidationError as exc:
            assert "$" in str(exc) or "Object" in str(exc)


def test_tool_schemas_are_objects() -> None:
    for tool in MCP_TOOLS:
        schema = tool_schema(tool.args)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
