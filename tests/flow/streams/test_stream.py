"""Streams of size-prefixed RuntimeFrames: sequencing writer, reassembling reader."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.flow.streams import (
    FrameKind,
    RuntimeFrame,
    RuntimeStreamReader,
    RuntimeStreamWriter,
    decode_runtime_stream,
    encode_runtime_frame,
)
from lightflow_actors.isa import JSONValue, RuntimeFrameError

from ...isa.isa_strategies import json_values, runtime_frames

GOLDEN = Path(__file__).parents[2] / "vectors" / "runtime"


def _writer(first: int = 1) -> RuntimeStreamWriter:
    clock = itertools.count(1_700_000_000_000, 10)
    return RuntimeStreamWriter("run-7", now_ms=lambda: next(clock), first=first)


@given(st.lists(st.tuples(st.sampled_from(list(FrameKind)), json_values), max_size=12))
def test_writer_numbers_frames_strictly_increasing(
    items: list[tuple[FrameKind, JSONValue]],
) -> None:
    writer = _writer(first=41)
    stream = b"".join(writer.frame(kind, "running", payload) for kind, payload in items)
    frames = decode_runtime_stream(stream)
    assert [f.sequence for f in frames] == list(range(41, 41 + len(items)))
    assert [(f.kind, f.payload()) for f in frames] == items
    assert all(f.run_id == "run-7" for f in frames)
    assert writer.next_sequence == 41 + len(items)


@given(st.lists(runtime_frames, min_size=1, max_size=6), st.data())
def test_reader_reassembles_any_chunking(frames: list[RuntimeFrame], data: st.DataObject) -> None:
    writer = _writer()
    stream = b"".join(writer.encode(f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = RuntimeStreamReader()
    received: list[RuntimeFrame] = []
    for start, end in itertools.pairwise([0, *cuts, len(stream)]):
        received.extend(reader.feed(stream[start:end]))
    reader.close()
    assert [f.payload_json for f in received] == [f.payload_json for f in frames]
    assert [f.sequence for f in received] == list(range(1, len(frames) + 1))


def test_reads_a_stream_of_flatc_size_prefixed_frames() -> None:
    (frame,) = decode_runtime_stream((GOLDEN / "event.sp.bin").read_bytes())
    assert frame.sequence == 7


def test_a_repeated_sequence_is_refused_and_poisons_the_reader() -> None:
    frame = RuntimeFrame(kind=FrameKind.RunEvent, run_id="r", status="s", sequence=3)
    once = encode_runtime_frame(frame, size_prefixed=True)
    reader = RuntimeStreamReader()
    assert len(reader.feed(once)) == 1
    with pytest.raises(RuntimeFrameError, match="sequence 3 does not increase on 3"):
        reader.feed(once)
    with pytest.raises(RuntimeFrameError, match="stream already failed"):
        reader.feed(b"")


def test_an_oversized_length_prefix_is_refused_before_buffering() -> None:
    reader = RuntimeStreamReader(max_frame_bytes=1024)
    with pytest.raises(RuntimeFrameError, match="exceeds the limit of 1024"):
        reader.feed(b"\xff\xff\xff\x7f" + b"x" * 10)


def test_a_stream_cut_inside_a_frame_is_refused_at_close() -> None:
    data = _writer().frame(FrameKind.RunSnapshot, "planned", {"steps": []})
    reader = RuntimeStreamReader()
    assert reader.feed(data[:-3]) == []
    assert reader.pending == len(data) - 3
    with pytest.raises(RuntimeFrameError, match="stream ended inside a frame"):
        reader.close()


def test_unencodable_payload_is_refused() -> None:
    with pytest.raises(RuntimeFrameError, match="not JSON-encodable"):
        _writer().frame(FrameKind.RunEvent, "running", {"x": object()})  # type: ignore[dict-item]


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_runtime_frame_error(data: bytes) -> None:
    try:
        frames = decode_runtime_stream(data, max_frame_bytes=4096)
    except RuntimeFrameError:
        return
    for frame in frames:
        assert decode_runtime_stream(encode_runtime_frame(frame, size_prefixed=True)) == [frame]
