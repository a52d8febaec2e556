"""RuntimeFrame FlatBuffers: round trips, flatc interop, and hostile bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow.streams import (
    FILE_IDENTIFIER,
    RUNTIME_FBS,
    FrameKind,
    RuntimeFrame,
    decode_runtime_frame,
    encode_runtime_frame,
)
from lightflow_actors.isa import RuntimeFrameError

from ...isa.isa_strategies import runtime_frames

ROOT = Path(__file__).parents[3]
GOLDEN = ROOT / "tests" / "vectors" / "runtime"
SAMPLE = RuntimeFrame(
    kind=FrameKind.RunEvent,
    run_id="run-42",
    status="running",
    sequence=7,
    timestamp_unix_ms=1_700_000_000_123,
    payload_json='{"event":"step.submitted","step":"fetch"}',
)


def test_schema_constant_is_the_spec_file() -> None:
    assert (ROOT / "specs" / "runtime.fbs").read_text() == RUNTIME_FBS
    assert 'file_identifier "LFRS";' in RUNTIME_FBS
    assert "namespace lightflow.runtime;" in RUNTIME_FBS


@given(runtime_frames, st.booleans())
def test_round_trip(frame: RuntimeFrame, size_prefixed: bool) -> None:
    data = encode_runtime_frame(frame, size_prefixed=size_prefixed)
    assert decode_runtime_frame(data, size_prefixed=size_prefixed) == frame


def test_identifier_sits_where_flatbuffers_puts_it() -> None:
    data = encode_runtime_frame(SAMPLE)
    assert data[4:8] == FILE_IDENTIFIER
    prefixed = encode_runtime_frame(SAMPLE, size_prefixed=True)
    assert struct.unpack_from("<I", prefixed)[0] == len(prefixed) - 4
    assert prefixed[8:12] == FILE_IDENTIFIER


@pytest.mark.parametrize("name", ["snapshot", "event"])
def test_decodes_what_flatc_wrote(name: str) -> None:
    source = json.loads((GOLDEN / f"{name}.json").read_text())
    frame = decode_runtime_frame((GOLDEN / f"{name}.bin").read_bytes())
    assert frame.kind == FrameKind[source["kind"]]
    for field in ("run_id", "status", "sequence", "timestamp_unix_ms", "payload_json"):
        assert getattr(frame, field) == source[field]
    assert encode_runtime_frame(frame) == encode_runtime_frame(
        decode_runtime_frame(encode_runtime_frame(frame))
    )


def test_decodes_flatc_size_prefixed_output() -> None:
    prefixed = decode_runtime_frame((GOLDEN / "event.sp.bin").read_bytes(), size_prefixed=True)
    assert prefixed == decode_runtime_frame((GOLDEN / "event.bin").read_bytes()) == SAMPLE


def test_absent_strings_and_version_take_their_defaults() -> None:
    frame = decode_runtime_frame((GOLDEN / "minimal.bin").read_bytes())
    assert frame == RuntimeFrame(kind=FrameKind.Preview, run_id="", status="")


def test_a_frame_without_kind_is_refused() -> None:
    with pytest.raises(RuntimeFrameError, match="has no kind"):
        decode_runtime_frame((GOLDEN / "no_kind.bin").read_bytes())


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(RuntimeFrameError, match="version 2 is not supported"):
        decode_runtime_frame((GOLDEN / "version2.bin").read_bytes())


def test_a_wrong_identifier_is_refused() -> None:
    data = bytearray(encode_runtime_frame(SAMPLE))
    data[4:8] = b"NOPE"
    with pytest.raises(RuntimeFrameError, match="file identifier is b'NOPE', expected b'LFRS'"):
        decode_runtime_frame(bytes(data))


def test_an_unknown_kind_is_refused() -> None:
    data = bytearray(encode_runtime_frame(SAMPLE))
    data[data.index(bytes([int(FrameKind.RunEvent)]), 8)] = 9  # first kind byte after header
    with pytest.raises(RuntimeFrameError):
        decode_runtime_frame(bytes(data))


def test_out_of_range_values_are_refused_on_encode() -> None:
    for bad in (
        RuntimeFrame(kind=FrameKind.RunEvent, run_id="r", status="s", sequence=2**64),
        RuntimeFrame(kind=FrameKind.RunEvent, run_id="r", status="s", version=70000),
        RuntimeFrame(kind=5, run_id="r", status="s"),  # type: ignore[arg-type]
        RuntimeFrame(kind=FrameKind.RunEvent, run_id="\udc80", status="s"),
    ):
        with pytest.raises(RuntimeFrameError):
            encode_runtime_frame(bad)


@pytest.mark.parametrize("size_prefixed", [False, True])
def test_every_truncation_is_refused(size_prefixed: bool) -> None:
    data = encode_runtime_frame(SAMPLE, size_prefixed=size_prefixed)
    for cut in range(len(data)):
        try:
            frame = decode_runtime_frame(data[:cut], size_prefixed=size_prefixed)
        except RuntimeFrameError:
            continue
        # Only trailing padding may be cut without losing a field.
        assert frame == SAMPLE and not size_prefixed


@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_raise_only_runtime_frame_error(data: bytes, size_prefixed: bool) -> None:
    try:
        frame = decode_runtime_frame(data, size_prefixed=size_prefixed)
    except RuntimeFrameError:
        return
    assert decode_runtime_frame(encode_runtime_frame(frame)) == frame


@given(runtime_frames, st.data())
def test_corrupted_frames_raise_only_runtime_frame_error(
    frame: RuntimeFrame, data: st.DataObject
) -> None:
    raw = bytearray(encode_runtime_frame(frame))
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[index] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        decoded = decode_runtime_frame(bytes(raw))
    except RuntimeFrameError:
        return
    assert decode_runtime_frame(encode_runtime_frame(decoded)) == decoded


def test_payload_helper_decodes_json_or_says_why_not() -> None:
    assert SAMPLE.payload() == {"event": "step.submitted", "step": "fetch"}
    broken = RuntimeFrame(kind=FrameKind.RunEvent, run_id="r", status="s", payload_json="{")
    with pytest.raises(RuntimeFrameError, match="payload_json is not valid JSON"):
        broken.payload()
    for hostile in ("[" * 5000 + "]" * 5000, "[" * 70 + "]" * 70, str(2**70)):
        frame = msgspec.structs.replace(broken, payload_json=hostile)
        with pytest.raises(RuntimeFrameError, match="payload_json is not valid JSON"):
            frame.payload()
