"""Decoding of path, query, body and header inputs: valid values pass, others name the field."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.adapters.http import BadRequest, PayloadTooLarge
from lightflow_actors.adapters.http._inputs import (
    MAX_ID,
    OPERATOR,
    ActorQuery,
    StopBody,
    TreeQuery,
    decode_actor_id,
)

hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "\uff11",
            "\u00b2",
            "\u0663",
            "nan",
            "inf",
            str(MAX_ID + 1),
            "9" * 400,
            "../1",
            "%31",
            "1/2",
            "true",
            "null",
            "[1]",
        ]
    ),
)


@given(st.integers(min_value=1, max_value=MAX_ID))
def test_actor_id_accepts_every_positive_integer(value: int) -> None:
    assert decode_actor_id(str(value)) == value


@given(hostile_text)
def test_actor_id_refuses_anything_else_naming_the_field(raw: str) -> None:
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID and len(raw) <= 19:
        assert decode_actor_id(raw) == int(raw)
        return
    with pytest.raises(BadRequest) as info:
        decode_actor_id(raw)
    assert info.value.field == "id"
    assert info.value.status == 400


@given(
    st.dictionaries(
        st.sampled_from(["root", "status", "limit", "cursor", "bogus", "LIMIT", ""]),
        hostile_text,
        max_size=5,
    )
)
def test_tree_query_decodes_or_names_the_bad_parameter(params: dict[str, str]) -> None:
    try:
        query = OPERATOR.params(params.items(), TreeQuery, where="query", default_field="query")
    except BadRequest as exc:
        assert exc.field in {*params, "query"}
        assert exc.field in exc.message or exc.field == "query"
        return
    assert set(params) <= {"root", "status", "limit", "cursor"}
    assert 1 <= query.limit <= 10_000
    assert query.status in (None, "starting", "idle", "busy", "stopping", "exited")


def test_tree_query_values() -> None:
    items = [("root", "3"), ("status", "idle"), ("limit", "5"), ("cursor", "9")]
    query = OPERATOR.params(items, TreeQuery, where="query", default_field="query")
    assert query == TreeQuery(root=3, status="idle", limit=5, cursor=9)
    assert OPERATOR.params([], TreeQuery, where="query", default_field="query") == TreeQuery()


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([("limit", "0")], "limit"),
        ([("limit", "10001")], "limit"),
        ([("limit", "x")], "limit"),
        ([("status", "sleeping")], "status"),
        ([("root", "-2")], "root"),
        ([("cursor", "-1")], "cursor"),
        ([("limit", "1"), ("limit", "2")], "limit"),
        ([("colour", "red")], "colour"),
    ],
)
def test_tree_query_errors_name_the_field(items: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(BadRequest) as info:
        OPERATOR.params(items, TreeQuery, where="query", default_field="query")
    assert info.value.field == field
    assert f"`{field}`" in info.value.message


def test_actor_query_bounds() -> None:
    ok = OPERATOR.params([("events", "0")], ActorQuery, where="query", default_field="query")
    assert ok.events == 0
    with pytest.raises(BadRequest) as info:
        OPERATOR.params([("events", "1001")], ActorQuery, where="query", default_field="query")
    assert info.value.field == "events"


@given(st.binary(max_size=200))
def test_stop_body_never_raises_anything_but_bad_request(body: bytes) -> None:
    try:
        decoded = OPERATOR.body(body, StopBody)
    except BadRequest as exc:
        assert exc.field is not None and exc.field.startswith("body")
        return
    assert decoded.timeout is None or 0 < decoded.timeout <= 300


@given(
    st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
    )
)
def test_stop_body_timeout_field_is_named(value: object) -> None:
    body = msgspec.json.encode({"timeout": value}) if value == value else b'{"timeout": NaN}'
    try:
        decoded = OPERATOR.body(body, StopBody)
    except BadRequest as exc:
        assert exc.field in ("body.timeout", "body")
        return
    assert decoded.timeout is None or 0 < decoded.timeout <= 300


def test_body_edge_cases() -> None:
    assert OPERATOR.body(b"", StopBody) == StopBody()
    assert OPERATOR.body(b"  \n", StopBody) == StopBody()
    assert OPERATOR.body(b'{"timeout": 1.5}', StopBody).timeout == 1.5
    with pytest.raises(BadRequest) as info:
        OPERATOR.body(b'{"timeout": 1, "extra": 2}', StopBody)
    assert info.value.field == "body.extra"
    with pytest.raises(BadRequest) as info:
        OPERATOR.body(b"[1, 2]", StopBody)
    assert info.value.field == "body"
    with pytest.raises(BadRequest) as info:
        OPERATOR.body(b"{", StopBody)
    assert info.value.field == "body"
    with pytest.raises(PayloadTooLarge):
        OPERATOR.body(b" " * (OPERATOR.max_body_bytes + 1), StopBody)


@given(hostile_text)
def test_last_event_id(raw: str) -> None:
    text = raw.strip()
    valid = text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID
    if valid:
        assert OPERATOR.last_event_id(raw) == int(text)
        return
    with pytest.raises(BadRequest) as info:
        OPERATOR.last_event_id(raw)
    assert info.value.field == "Last-Event-ID"


def test_last_event_id_absent() -> None:
    assert OPERATOR.last_event_id(None) is None
