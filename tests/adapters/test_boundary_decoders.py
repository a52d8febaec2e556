"""Every decoder at the adapters' boundary, fed arbitrary bytes and JSON-ish documents (valid
JSON, JSON with invalid UTF-8 spliced into its strings and keys, arrays and objects nested
up to 5 000 deep): only the decoder's typed error escapes, never `UnicodeDecodeError`,
`RecursionError`, `msgspec.DecodeError` or anything else that would be a 500 or a crash.

The decoders: HTTP bodies of every route (runs, operator, `POST /mcp`'s pre-check), run
inputs as the flow decodes them, MCP tool arguments, WebSocket frames (the codec and the
connection state machine that the transport actor drives), live event payloads, and the
`Last-Event-ID` header. The HTTP routes of the real app are driven too (tests/adapters/http
/test_hostile_bodies.py drives each with the named hostile cases)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from lightflow_actors.adapters.http import BadRequest, PayloadTooLarge
from lightflow_actors.adapters.http._inputs import (
    OPERATOR,
    RUNS,
    CancelBody,
    CreateBody,
    EmptyBody,
    PreviewBody,
    StopBody,
)
from lightflow_actors.adapters.mcp._server import MCP_TOOLS
from lightflow_actors.flow import InvalidInputs, decode_inputs
from lightflow_actors.isa import Connection, FrameDecodeError, JsonCodec
from lightflow_actors.live import EventError, ViewSpec
from lightflow_actors.live_examples.counter import counter

from ..runs._support import RunsEnv
from .http.test_hostile_bodies import make_client

BAD_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82")
OPENERS = (b"[", b'{"a":', b'{"workflow": "greet", "inputs": {"a":', b'{"kind": "submit", "x":')

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """Valid JSON with invalid UTF-8 inserted just after one of its quotes (inside a string
    or a key, or right after one: then the JSON itself breaks too)."""
    data = msgspec.json.encode(draw(json_values))
    quotes = [i + 1 for i, byte in enumerate(data) if byte == ord('"')]
    if not quotes:
        return data + draw(st.sampled_from(BAD_UTF8))
    at = draw(st.sampled_from(quotes))
    return data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:]


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    """Arrays or objects nested up to 5 000 deep, closed or not."""
    depth = draw(st.integers(min_value=1, max_value=5000))
    opener = draw(st.sampled_from(OPENERS))
    closer = b"]" if opener == b"[" else b"}"
    leaf = draw(st.sampled_from((b"1", b'"x"', b'"\xff"', b"")))
    tail = closer * depth if draw(st.booleans()) else b""
    outer = b"}}" if opener.startswith(b'{"workflow"') else b""
    return opener * depth + leaf + tail + outer


documents = st.one_of(
    st.binary(max_size=300),
    json_values.map(msgspec.json.encode),
    spliced(),
    deep(),
)


def loads(data: bytes) -> Any:
    """The document as a Python value, when it is one (for the decoders of decoded JSON)."""
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_only_the_typed_error_escapes_any_boundary_decoder(data: bytes) -> None:
    # HTTP bodies, both surfaces, every body type.
    for inputs, kinds in (
        (RUNS, (CreateBody, PreviewBody, CancelBody, EmptyBody)),
        (OPERATOR, (StopBody, EmptyBody)),
    ):
        for kind in kinds:
            try:
                inputs.body(data, kind)
            except (BadRequest, PayloadTooLarge) as exc:
                assert exc.field is not None and exc.field.startswith("body"), exc.field
    # Run inputs at the boundary and in the flow (POST /runs, MCP create_run, CLI).
    for check in (RUNS.json_object, RUNS.json_document):
        try:
            check(data, "body.inputs")
        except (BadRequest, PayloadTooLarge) as exc:
            assert exc.field is not None and exc.field.startswith("body.inputs")
    with contextlib.suppress(InvalidInputs):
        decode_inputs(data)
    # The Last-Event-ID header, as Starlette hands it over (latin-1).
    with contextlib.suppress(BadRequest):
        RUNS.last_event_id(data[:60].decode("latin-1"))
    # WebSocket frames: the codec, then the connection the transport actor drives (which
    # answers a bad frame with an error frame and never raises).
    codec = JsonCodec(max_frame_bytes=64 * 1024)
    with contextlib.suppress(FrameDecodeError):
        codec.decode(data)
    connection = Connection("server", JsonCodec(max_frame_bytes=64 * 1024), now=0.0)
    connection.receive(b'{"kind": "hello", "v": 1, "seq": 1, "versions": [1]}', now=0.0)
    connection.receive(data, now=1.0)
    # Decoded documents: MCP tool arguments and live event payloads.
    value = loads(data)
    for tool in MCP_TOOLS:
        with contextlib.suppress(msgspec.ValidationError):
            msgspec.convert(value, tool.args)
    spec = ViewSpec("counter", counter)
    for event in ("inc", "nope"):
        with contextlib.suppress(EventError):
            spec.decode_event(event, value)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(RunsEnv(tmp_path_factory.mktemp("any-body"))) as c:
        yield c


POST_ROUTES = (
    "/runs",
    "/runs/preview",
    "/runs/nobody/cancel",
    "/runs/nobody/steps/s/submit",
    "/runs/nobody/refresh",
    "/mcp",
    "/actors/999999/stop",
    "/actors/999999/restart",
    "/actors/999999/kill",
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(POST_ROUTES), documents)
def test_any_body_on_any_route_of_the_real_app_is_answered_without_a_500(
    client: TestClient, path: str, data: bytes
) -> None:
    headers = {"content-type": "application/json", "accept": "application/json"}
    answer = client.post(path, content=data, headers=headers)
    assert answer.status_code < 500, (path, data[:60], answer.text)
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/json")
        assert msgspec.json.decode(answer.content)
