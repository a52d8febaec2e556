"""The lifecycle table and the pure interpreter as a state machine."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st
from isa_strategies import instructions

from lightflow_actors.isa import (
    OPS,
    PHASES,
    Effect,
    Instruction,
    LifecycleError,
    Mount,
    Patch,
    Phase,
    PureInterpreter,
    ReferenceProgram,
    Rejected,
    Render,
    Shutdown,
    Stopped,
    Submit,
    Subscribe,
    next_phase,
    op_of,
)

SAMPLE: dict[str, Instruction] = {
    "mount": Mount(id="s", target="t"),
    "render": Render(),
    "patch": Patch(diff={}),
    "subscribe": Subscribe(topic="t"),
    "submit": Submit(event="e"),
    "shutdown": Shutdown(),
}

# The lifecycle written out as the issue states it; next_phase must agree cell by cell.
EXPECTED: dict[tuple[str, Phase], Phase | None] = {
    ("mount", "disconnected"): "mounted",
    ("mount", "joined"): "mounted",
    ("mount", "mounted"): None,
    ("mount", "live"): None,
    ("render", "disconnected"): None,
    ("render", "joined"): None,
    ("render", "mounted"): "live",
    ("render", "live"): "live",
    ("patch", "disconnected"): None,
    ("patch", "joined"): None,
    ("patch", "mounted"): None,
    ("patch", "live"): "live",
    ("subscribe", "disconnected"): "joined",
    ("subscribe", "joined"): "joined",
    ("subscribe", "mounted"): "mounted",
    ("subscribe", "live"): "live",
    ("submit", "disconnected"): None,
    ("submit", "joined"): None,
    ("submit", "mounted"): None,
    ("submit", "live"): "live",
    ("shutdown", "disconnected"): "closed",
    ("shutdown", "joined"): "closed",
    ("shutdown", "mounted"): "closed",
    ("shutdown", "live"): "closed",
}


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("op", OPS)
def test_transition_table(op: str, phase: Phase) -> None:
    expected = None if phase == "closed" else EXPECTED[(op, phase)]
    if expected is None:
        with pytest.raises(LifecycleError) as info:
            next_phase(phase, SAMPLE[op])
        assert (info.value.op, info.value.phase) == (op, phase)
        assert str(info.value).startswith(
            f"{op.capitalize()} rejected: the session or run is {phase};"
        )
    else:
        assert next_phase(phase, SAMPLE[op]) == expected


def test_leaving_a_topic_before_joining_is_refused() -> None:
    with pytest.raises(LifecycleError, match="Subscribe without off first"):
        next_phase("disconnected", Subscribe(topic="t", off=True))
    assert next_phase("joined", Subscribe(topic="t", off=True)) == "joined"


class CountingProgram(ReferenceProgram):
    """The reference program, counting how often each method ran."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def mount(self, instruction: Mount) -> Sequence[Effect]:
        self.calls.append("mount")
        return super().mount(instruction)

    def patch(self, instruction: Patch) -> Sequence[Effect]:
        self.calls.append("patch")
        return super().patch(instruction)


@given(st.lists(instructions, max_size=30))
def test_any_stream_only_ever_rejects_with_lifecycle_errors(stream: list[Instruction]) -> None:
    program = CountingProgram()
    interpreter = PureInterpreter(program)
    model: Phase = "disconnected"
    accepted_ops: list[str] = []
    for instruction in stream:
        before = interpreter.phase
        effects = interpreter.step(instruction)
        rejected = [e for e in effects if isinstance(e, Rejected)]
        if rejected:
            # a refusal is the only effect, names the phase, and changes nothing
            assert effects == rejected and len(rejected) == 1
            assert rejected[0].phase == before == interpreter.phase
            assert rejected[0].op == op_of(instruction)
        else:
            model = next_phase(model, instruction)
            accepted_ops.append(op_of(instruction))
        assert interpreter.phase == model
        if isinstance(instruction, Shutdown) and not rejected:
            assert effects[-1] == Stopped(reason=instruction.reason, detail=instruction.detail)
    # the program saw exactly the accepted instructions
    assert program.calls == [op for op in accepted_ops if op in ("mount", "patch")]


@given(st.lists(instructions, max_size=30))
def test_closed_is_absorbing(stream: list[Instruction]) -> None:
    interpreter = PureInterpreter(ReferenceProgram())
    interpreter.apply(Shutdown())
    for instruction in stream:
        (effect,) = interpreter.step(instruction)
        assert isinstance(effect, Rejected) and effect.phase == "closed"
    assert interpreter.phase == "closed"


def test_apply_raises_and_leaves_the_phase() -> None:
    interpreter = PureInterpreter(ReferenceProgram())
    with pytest.raises(LifecycleError) as info:
        interpreter.apply(Submit(event="click"))
    assert info.value.op == "submit"
    assert "send Mount and Render first" in str(info.value)
    assert interpreter.phase == "disconnected"


def test_a_crashing_program_propagates_and_keeps_the_phase() -> None:
    class Broken(ReferenceProgram):
        def render(self, instruction: Render) -> Sequence[Effect]:
            raise RuntimeError("template missing")

    interpreter = PureInterpreter(Broken())
    interpreter.apply(Mount(id="s", target="t"))
    with pytest.raises(RuntimeError, match="template missing"):
        interpreter.apply(Render())
    assert interpreter.phase == "mounted"
