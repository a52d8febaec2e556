"""The JSONL tracer: write, read back, replay, and hostile lines."""

from __future__ import annotations

import io
import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from isa_strategies import effects, instructions

from lightflow_actors.isa import (
    Effect,
    Instruction,
    LifecycleError,
    Mount,
    Patch,
    PureInterpreter,
    ReferenceProgram,
    Rejected,
    Render,
    Submit,
    TraceDecodeError,
    Tracer,
    TraceRecord,
    read_trace,
)


@given(st.lists(st.tuples(instructions, st.lists(effects, max_size=3)), max_size=10))
def test_trace_round_trips(entries: list[tuple[Instruction, list[Effect]]]) -> None:
    out = io.BytesIO()
    clock = itertools.count(1_700_000_000_000, 5)
    tracer = Tracer(out.write, now_ms=lambda: next(clock))
    for instruction, produced in entries:
        tracer.record(instruction, produced)
    records = list(read_trace(io.BytesIO(out.getvalue())))
    assert [(r.instruction, r.effects) for r in records] == entries
    assert [r.seq for r in records] == list(range(1, len(entries) + 1))
    assert all(b.at_ms - a.at_ms == 5 for a, b in itertools.pairwise(records))


def test_an_explicit_stamp_overrides_the_tracer_clock() -> None:
    out = io.BytesIO()
    tracer = Tracer(out.write, now_ms=lambda: 5)
    tracer.record(Render(), at_ms=1_700_000_000_123)
    tracer.record(Render())
    first, second = read_trace(out.getvalue().splitlines())
    assert (first.at_ms, second.at_ms) == (1_700_000_000_123, 5)


@given(st.lists(instructions, max_size=25))
def test_replaying_a_trace_reproduces_its_effects(stream: list[Instruction]) -> None:
    out = io.BytesIO()
    interpreter = PureInterpreter(ReferenceProgram(), tracer=Tracer(out.write))
    for instruction in stream:
        interpreter.step(instruction)
    replay = PureInterpreter(ReferenceProgram())
    for record in read_trace(out.getvalue().splitlines()):
        assert replay.step(record.instruction) == record.effects


def test_rejections_are_traced_too() -> None:
    out = io.BytesIO()
    interpreter = PureInterpreter(ReferenceProgram(), tracer=Tracer(out.write))
    with pytest.raises(LifecycleError):
        interpreter.apply(Patch(diff={}))
    (record,) = read_trace(out.getvalue().splitlines())
    assert record.instruction == Patch(diff={})
    (effect,) = record.effects
    assert isinstance(effect, Rejected)
    assert (effect.op, effect.phase) == ("patch", "disconnected")


def test_text_lines_and_blank_lines_are_accepted() -> None:
    out = io.BytesIO()
    tracer = Tracer(out.write)
    tracer.record(Mount(id="s", target="t"))
    tracer.record(Render())
    text = io.StringIO("\n" + out.getvalue().decode() + "\n\n")
    assert [type(r.instruction) for r in read_trace(text)] == [Mount, Render]


def test_a_missing_line_is_detected() -> None:
    out = io.BytesIO()
    tracer = Tracer(out.write)
    for event in "abc":
        tracer.record(Submit(event=event))
    lines = out.getvalue().splitlines()
    with pytest.raises(TraceDecodeError, match="trace line 2: seq 3 does not follow 1"):
        list(read_trace([lines[0], lines[2]]))


def test_a_bad_field_is_reported_with_line_and_path() -> None:
    good = msgspec.json.encode(TraceRecord(seq=1, instruction=Render()))
    bad = b'{"seq":2,"instruction":{"op":"subscribe","topic":""}}'
    with pytest.raises(TraceDecodeError) as info:
        list(read_trace([good, bad]))
    assert info.value.line == 2
    assert "$.instruction.topic" in str(info.value)


@given(st.lists(st.binary(max_size=80) | st.text(max_size=80), max_size=5))
def test_arbitrary_lines_raise_only_trace_decode_error(lines: list[bytes | str]) -> None:
    try:
        records = list(read_trace(lines))
    except TraceDecodeError as exc:
        assert exc.line >= 1
    else:
        assert [r.seq for r in records] == list(range(1, len(records) + 1))


def test_hostile_nesting_raises_trace_decode_error() -> None:
    line = b'{"seq":1,"instruction":{"op":"patch","diff":' + b"[" * 5000 + b"]" * 5000 + b"}}"
    with pytest.raises(TraceDecodeError, match="trace line 1"):
        list(read_trace([line]))
