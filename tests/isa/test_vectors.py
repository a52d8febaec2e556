"""Shared vectors: the pure interpreter and the shared step (``execute_or_reject``) that
``LiveSession`` and ``RunActor`` run produce the same effects. Run vectors (``run/``, the
``RunProgram`` against the real ``RunActor``) are read by ``tests/flow/test_run_vectors.py``."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lightflow_actors.isa import (
    Effect,
    Instruction,
    Phase,
    PureInterpreter,
    ReferenceProgram,
    Rejected,
    execute_or_reject,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "isa"


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    instruction: Instruction
    effects: list[Effect]
    phase: Phase


class Vector(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str
    program: str
    steps: list[Step]


def _load() -> list[Vector]:
    vectors = [
        msgspec.json.decode(p.read_bytes(), type=Vector) for p in sorted(VECTORS.glob("*.json"))
    ]
    assert len(vectors) >= 10, "the vectors folder lost files"
    return vectors


ALL = _load()


def test_vector_names_match_their_files() -> None:
    assert sorted(v.name for v in ALL) == sorted(p.stem for p in VECTORS.glob("*.json"))
    assert all(v.program == "reference" for v in ALL)


def test_vectors_cover_every_op_and_every_phase() -> None:
    ops = {type(s.instruction).__name__ for v in ALL for s in v.steps}
    assert ops == {"Mount", "Render", "Patch", "Subscribe", "Submit", "Shutdown"}
    phases = {s.phase for v in ALL for s in v.steps}
    assert phases == {"disconnected", "joined", "mounted", "live", "closed"}
    rejected_in = {
        e.phase for v in ALL for s in v.steps for e in s.effects if isinstance(e, Rejected)
    }
    assert rejected_in == {"disconnected", "joined", "mounted", "live", "closed"}


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_pure_interpreter_matches_vector(vector: Vector) -> None:
    interpreter = PureInterpreter(ReferenceProgram())
    for index, step in enumerate(vector.steps):
        assert interpreter.step(step.instruction) == step.effects, f"step {index}"
        assert interpreter.phase == step.phase, f"step {index}"


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_pure_interpreter_run_flattens_the_same_effects(vector: Vector) -> None:
    expected = [e for s in vector.steps for e in s.effects]
    assert PureInterpreter(ReferenceProgram()).run(s.instruction for s in vector.steps) == expected


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_execute_or_reject_matches_vector(vector: Vector) -> None:
    program = ReferenceProgram()
    phase: Phase = "disconnected"
    for index, step in enumerate(vector.steps):
        before = phase
        phase, effects, accepted = execute_or_reject(program, phase, step.instruction)
        assert (effects, phase) == (step.effects, step.phase), f"step {index}"
        rejected = any(isinstance(e, Rejected) for e in effects)
        assert accepted is not rejected, f"step {index}"
        assert accepted or phase == before, f"step {index}: a refusal moved the phase"
