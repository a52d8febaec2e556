"""``ActorInterpreter`` beyond the shared vectors: crashes, tracing, exit reasons."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from lightflow_actors import ActorExited, ActorSystem
from lightflow_actors.isa import (
    ActorInterpreter,
    CurrentPhase,
    Effect,
    Emitted,
    Execute,
    Mount,
    Patch,
    ReferenceProgram,
    Rejected,
    Render,
    Shutdown,
    ShutdownReason,
    Submit,
    Tracer,
    exit_reason_of,
    read_trace,
)


class FailingSubmit(ReferenceProgram):
    def submit(self, instruction: Submit) -> Sequence[Effect]:
        raise ValueError(f"cannot handle {instruction.event}")


@pytest.mark.anyio
async def test_a_crashing_program_crashes_the_actor() -> None:
    async with ActorSystem() as system:
        ref = system.spawn(lambda: ActorInterpreter(FailingSubmit()))
        ref.tell(Mount(id="s", target="t"))
        ref.tell(Render())
        with pytest.raises(ActorExited):
            await ref.ask(Execute(Submit(event="boom")))
        reason = await system.wait_exit(ref)
        assert isinstance(reason, ValueError) and str(reason) == "cannot handle boom"


@pytest.mark.anyio
async def test_rejections_do_not_stop_the_actor() -> None:
    emitted: list[Emitted] = []
    async with ActorSystem() as system:
        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram(), sink=emitted.append))
        for _ in range(3):
            (effect,) = await ref.ask(Execute(Patch(diff={})))
            assert isinstance(effect, Rejected) and effect.phase == "disconnected"
        assert ref.alive
        assert await ref.ask(CurrentPhase()) == "disconnected"
    assert len(emitted) == 3


@pytest.mark.anyio
async def test_the_actor_traces_like_the_pure_interpreter() -> None:
    out = io.BytesIO()
    async with ActorSystem() as system:
        tracer = Tracer(out.write, now_ms=system.clock.wall_ms)
        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram(), tracer=tracer))
        ref.tell(Submit(event="early"))
        ref.tell(Mount(id="s", target="t"))
        await ref.ask(Execute(Render()))
    records = list(read_trace(out.getvalue().splitlines()))
    assert [type(r.instruction).__name__ for r in records] == ["Submit", "Mount", "Render"]
    assert isinstance(records[0].effects[0], Rejected)
    assert all(r.at_ms > 1_600_000_000_000 for r in records)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reason", "exit_reason"),
    [
        ("normal", "normal"),
        ("shutdown", "shutdown"),
        ("cancelled", ("shutdown", "cancelled")),
        ("timeout", ("shutdown", "timeout")),
        ("error", ("shutdown", "error")),
    ],
)
async def test_shutdown_reasons_become_orderly_exit_reasons(
    reason: ShutdownReason, exit_reason: object
) -> None:
    assert exit_reason_of(reason) == exit_reason
    async with ActorSystem() as system:
        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram()))
        ref.tell(Shutdown(reason=reason))
        assert await system.wait_exit(ref) == exit_reason
