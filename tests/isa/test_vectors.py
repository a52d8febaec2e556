"""Shared vectors: the pure and the actor interpreter produce the same effects."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lightflow_actors import ActorNotAlive, ActorSystem
from lightflow_actors.isa import (
    ActorInterpreter,
    CurrentPhase,
    Effect,
    Emitted,
    Execute,
    Instruction,
    Phase,
    PureInterpreter,
    ReferenceProgram,
    Rejected,
    Shutdown,
    execute_or_reject,
    exit_reason_of,
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


def _until_closed(vector: Vector) -> tuple[list[Step], list[Step]]:
    """Split at the first accepted Shutdown: the actor exits right after it."""
    for index, step in enumerate(vector.steps):
        accepted = not any(isinstance(e, Rejected) for e in step.effects)
        if isinstance(step.instruction, Shutdown) and accepted:
            return vector.steps[: index + 1], vector.steps[index + 1 :]
    return vector.steps, []


@pytest.mark.anyio
@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
async def test_actor_interpreter_matches_vector_by_ask(vector: Vector) -> None:
    live, after_close = _until_closed(vector)
    async with ActorSystem() as system:
        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram()))
        for index, step in enumerate(live):
            assert await ref.ask(Execute(step.instruction)) == step.effects, f"step {index}"
            if step.phase != "closed":
                assert await ref.ask(CurrentPhase()) == step.phase, f"step {index}"
        last = live[-1].instruction
        if isinstance(last, Shutdown):
            assert await system.wait_exit(ref) == exit_reason_of(last.reason)
        for step in after_close:
            # The closed phase's rejection, in actor form: the session is gone.
            assert all(isinstance(e, Rejected) and e.phase == "closed" for e in step.effects)
            with pytest.raises(ActorNotAlive):
                await ref.ask(Execute(step.instruction))


@pytest.mark.anyio
@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
async def test_actor_interpreter_matches_vector_by_tell(vector: Vector) -> None:
    live, _ = _until_closed(vector)
    emitted: list[Emitted] = []
    async with ActorSystem() as system:
        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram(), sink=emitted.append))
        for step in live:
            ref.tell(step.instruction)
        if live[-1].phase == "closed":
            await system.wait_exit(ref)
        else:
            await ref.ask(CurrentPhase())  # mailbox order: every tell was handled before
    assert [(e.instruction, list(e.effects), e.phase) for e in emitted] == [
        (s.instruction, s.effects, s.phase) for s in live
    ]
