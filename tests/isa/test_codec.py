"""Wire codecs: round trips, hostile bytes, and errors that name the bad field."""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from isa_strategies import frames, instruction_by_op

from lightflow_actors.isa import (
    OPS,
    Frame,
    FrameDecodeError,
    FrameEncodeError,
    Instruction,
    InstructionFrame,
    JsonCodec,
    MsgpackCodec,
    Patch,
    Ping,
    WireCodec,
    op_of,
)

CODECS = [JsonCodec(), MsgpackCodec()]
codecs = st.sampled_from(CODECS)


@given(codecs, frames)
def test_every_frame_round_trips(codec: WireCodec, frame: Frame) -> None:
    assert codec.decode(codec.encode(frame)) == frame


@pytest.mark.parametrize("op", OPS)
@given(codec=codecs, data=st.data())
def test_every_instruction_round_trips_in_a_frame(
    op: str, codec: WireCodec, data: st.DataObject
) -> None:
    instruction = data.draw(instruction_by_op[op])
    frame = InstructionFrame(1, 7, instruction=instruction)
    decoded = codec.decode(codec.encode(frame))
    assert isinstance(decoded, InstructionFrame)
    assert decoded.instruction == instruction
    assert op_of(decoded.instruction) == op
    # and on its own, outside a frame
    bare = msgspec.json.decode(msgspec.json.encode(instruction), type=Instruction)
    assert bare == instruction


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(codecs, st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_frame_decode_error(codec: WireCodec, data: bytes) -> None:
    try:
        decoded = codec.decode(data)
    except FrameDecodeError as exc:
        assert exc.code in {"malformed_frame", "unsupported_version"}
    else:
        assert codec.decode(codec.encode(decoded)) == decoded


@given(codecs, frames, st.data())
def test_mutated_frames_never_crash_the_decoder(
    codec: WireCodec, frame: Frame, data: st.DataObject
) -> None:
    raw = bytearray(codec.encode(frame))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[index] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=0, max_value=len(raw)))
    try:
        decoded = codec.decode(bytes(raw[:cut]))
    except FrameDecodeError as exc:
        assert exc.code in {"malformed_frame", "unsupported_version"}
    else:  # whatever decodes is a valid frame: it survives another round trip
        assert codec.decode(codec.encode(decoded)) == decoded


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.binary() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.integers() | st.text() | st.binary(), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_msgpack_payloads_outside_json_are_rejected_with_a_path(value: object) -> None:
    """msgpack can carry bytes, int keys, NaN and huge ints; none may reach a program."""
    frame_dict = {"kind": "instruction", "v": 1, "seq": 3, "instruction": {"op": "patch"}}
    frame_dict["instruction"] = {"op": "patch", "diff": value}
    try:
        raw = msgspec.msgpack.encode(frame_dict)
    except (TypeError, ValueError, OverflowError):
        return  # not representable in msgpack at all
    try:
        frame = MsgpackCodec().decode(raw)
    except FrameDecodeError as exc:
        assert exc.path is not None and exc.path.startswith("$.instruction.diff")
        assert exc.ref == 3
    else:
        assert isinstance(frame, InstructionFrame)
        assert JsonCodec().decode(JsonCodec().encode(frame)) == frame


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_wrong_field_type_names_its_path(codec: WireCodec) -> None:
    raw = _encode_dict(codec, {"kind": "ping", "v": 1, "seq": "seven"})
    with pytest.raises(FrameDecodeError) as info:
        codec.decode(raw)
    assert info.value.code == "malformed_frame"
    assert info.value.path == "$.seq"
    assert "Expected `int`, got `str`" in str(info.value)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_nested_instruction_error_names_the_nested_path(codec: WireCodec) -> None:
    raw = _encode_dict(
        codec,
        {"kind": "instruction", "v": 1, "seq": 4, "instruction": {"op": "subscribe", "topic": 5}},
    )
    with pytest.raises(FrameDecodeError) as info:
        codec.decode(raw)
    assert (info.value.path, info.value.ref) == ("$.instruction.topic", 4)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_unknown_version_is_reported_as_unsupported_not_malformed(codec: WireCodec) -> None:
    # A version-2 frame with a field version 1 does not know.
    raw = _encode_dict(codec, {"kind": "ping", "v": 2, "seq": 9, "priority": "high"})
    with pytest.raises(FrameDecodeError) as info:
        codec.decode(raw)
    assert info.value.code == "unsupported_version"
    assert info.value.path == "$.v"
    assert info.value.ref == 9
    assert "this peer speaks 1" in str(info.value)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_unknown_instruction_op_is_malformed(codec: WireCodec) -> None:
    raw = _encode_dict(
        codec, {"kind": "instruction", "v": 1, "seq": 2, "instruction": {"op": "unsubscribe"}}
    )
    with pytest.raises(FrameDecodeError) as info:
        codec.decode(raw)
    assert info.value.path == "$.instruction.op"


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.format)
def test_oversized_frames_are_refused_before_parsing(codec: WireCodec) -> None:
    small = type(codec)(max_frame_bytes=64)
    frame = InstructionFrame(1, 1, instruction=Patch(diff="x" * 100))
    with pytest.raises(FrameDecodeError) as info:
        small.decode(codec.encode(frame))
    assert info.value.code == "frame_too_large"


def test_deeply_nested_payload_is_refused() -> None:
    raw = b'{"kind":"instruction","v":1,"seq":1,"instruction":{"op":"patch","diff":'
    raw += b"[" * 100 + b"]" * 100 + b"}}"
    with pytest.raises(FrameDecodeError) as info:
        JsonCodec().decode(raw)
    assert info.value.path is not None and info.value.path.startswith("$.instruction.diff")


def test_huge_json_integers_are_refused_because_msgpack_cannot_carry_them() -> None:
    raw = b'{"kind":"instruction","v":1,"seq":1,"instruction":{"op":"patch","diff":[1,'
    raw += str(2**70).encode() + b"]}}"
    with pytest.raises(FrameDecodeError) as info:
        JsonCodec().decode(raw)
    assert info.value.path == "$.instruction.diff[1]"


def test_encoding_a_lone_surrogate_raises_the_codec_error() -> None:
    for codec in CODECS:
        with pytest.raises(FrameEncodeError):
            codec.encode(InstructionFrame(1, 1, instruction=Patch(diff="\udc80")))


def test_frames_put_version_and_seq_first_on_the_wire() -> None:
    assert JsonCodec().encode(Ping(1, 3)) == b'{"kind":"ping","v":1,"seq":3}'


def _encode_dict(codec: WireCodec, value: dict[str, object]) -> bytes:
    if codec.format == "json":
        return msgspec.json.encode(value)
    return msgspec.msgpack.encode(value)


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_hostile_nesting_raises_the_codec_error(depth: int) -> None:
    """msgspec stops deep nesting with RecursionError; the codec must translate it."""
    head = b'{"kind":"instruction","v":1,"seq":1,"instruction":{"op":"patch","diff":'
    with pytest.raises(FrameDecodeError) as info:
        JsonCodec(max_frame_bytes=1 << 22).decode(head + b"[" * depth + b"]" * depth + b"}}")
    assert info.value.code == "malformed_frame"
    nested = b"\x91" * depth + b"\x90"  # msgpack: arrays of one element
    frame = msgspec.msgpack.encode(
        {"kind": "instruction", "v": 1, "seq": 1, "instruction": {"op": "patch", "diff": 0}}
    )
    with pytest.raises(FrameDecodeError):
        MsgpackCodec(max_frame_bytes=1 << 22).decode(frame[:-1] + nested)
    with pytest.raises(FrameDecodeError):
        JsonCodec(max_frame_bytes=1 << 22).decode(b'{"v":' + b"[" * depth + b"]" * depth + b"}")


@given(st.binary(max_size=200) | st.text('0123456789ab{}[]" ', max_size=200).map(str.encode))
def test_the_long_digits_screen_finds_what_a_regex_finds(data: bytes) -> None:
    from lightflow_actors.isa._codec import _DIGITS_ONLY, _LONG_DIGITS

    assert (_LONG_DIGITS in data.translate(_DIGITS_ONLY)) == (
        re.search(rb"[0-9]{20}", data) is not None
    )
