"""The program an interpreter delegates to, and the one step every interpreter shares.

A program implements one method per instruction and returns effects as data. The
interpreters differ only in how they are driven (a plain call, an actor mailbox)
and where effects go; ``execute`` is the step they all run, so the same stream
gives the same effects everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ._effects import Effect, Rejected, Stopped
from ._errors import LifecycleError
from ._instructions import Instruction, Mount, Patch, Render, Shutdown, Submit, Subscribe
from ._lifecycle import Phase, next_phase

__all__ = ["Program", "execute", "execute_or_reject", "rejection"]


class Program(Protocol):
    """What a session component or a run workflow implements.

    Each method is called only when the lifecycle accepts the instruction, and
    returns the effects to carry out. A raised exception is a crash of the session
    (the actor interpreter lets it crash; the pure interpreter propagates it).
    """

    def mount(self, instruction: Mount) -> Sequence[Effect]: ...

    def render(self, instruction: Render) -> Sequence[Effect]: ...

    def patch(self, instruction: Patch) -> Sequence[Effect]: ...

    def subscribe(self, instruction: Subscribe) -> Sequence[Effect]: ...

    def submit(self, instruction: Submit) -> Sequence[Effect]: ...

    def shutdown(self, instruction: Shutdown) -> Sequence[Effect]: ...


def execute(program: Program, phase: Phase, instruction: Instruction) -> tuple[Phase, list[Effect]]:
    """Check the lifecycle, run the program's method, return (next phase, effects).

    Raises ``LifecycleError`` before touching the program when ``instruction`` is
    out of order. A Shutdown always ends with a ``Stopped`` effect, whatever the
    program returned, so hosts can rely on it to stop.
    """
    following = next_phase(phase, instruction)
    match instruction:
        case Mount():
            effects = list(program.mount(instruction))
        case Render():
            effects = list(program.render(instruction))
        case Patch():
            effects = list(program.patch(instruction))
        case Subscribe():
            effects = list(program.subscribe(instruction))
        case Submit():
            effects = list(program.submit(instruction))
        case Shutdown():
            effects = list(program.shutdown(instruction))
            effects.append(Stopped(reason=instruction.reason, detail=instruction.detail))
    return following, effects


def execute_or_reject(
    program: Program, phase: Phase, instruction: Instruction
) -> tuple[Phase, list[Effect], bool]:
    """``execute`` as a long-lived host runs it: (next phase, effects, accepted).

    An out-of-order instruction does not raise: the phase stays, the effects are
    ``[Rejected(...)]`` and ``accepted`` is false (so a refused Shutdown stops
    nothing). A program that raises still raises: that is a crash, not a refusal.
    """
    try:
        following, effects = execute(program, phase, instruction)
    except LifecycleError as error:
        return phase, [rejection(error)], False
    return following, effects, True


def rejection(error: LifecycleError) -> Rejected:
    """The effect reporting a refused instruction to the host."""
    return Rejected(op=error.op, phase=error.phase, message=str(error))
