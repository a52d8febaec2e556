"""``ActorInterpreter``: a session or run actor that executes the instruction stream.

It runs the same ``execute`` step as ``PureInterpreter`` (through
``execute_or_reject``) inside an actor: tell it an
instruction and its effects go to the ``sink``; ask it ``Execute(instruction)`` and
the effects are also the reply. An out-of-order instruction becomes a ``Rejected``
effect (the actor lives on); a program that raises crashes the actor, for its
supervisor to handle. An accepted Shutdown stops the actor with the matching
exit reason after its effects are delivered.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from ..kernel import NORMAL, SHUTDOWN, Actor, Ask, ExitReason, handler
from ._effects import Effect
from ._instructions import Instruction, Shutdown, ShutdownReason
from ._lifecycle import Phase
from ._program import Program, execute_or_reject
from ._trace import Tracer

__all__ = ["ActorInterpreter", "CurrentPhase", "Emitted", "Execute", "exit_reason_of"]


class Emitted(msgspec.Struct, frozen=True, kw_only=True):
    """What the actor hands its sink after each instruction.

    ``phase`` is the phase after the instruction (unchanged when it was rejected).
    """

    instruction: Instruction
    effects: tuple[Effect, ...]
    phase: Phase


class Execute(Ask[list[Effect]], frozen=True):
    """Interpret ``instruction`` and reply with its effects (a ``Rejected`` if refused)."""

    instruction: Instruction


class CurrentPhase(Ask[Phase], frozen=True):
    """Ask the actor for its lifecycle phase."""


def exit_reason_of(reason: ShutdownReason) -> ExitReason:
    """The kernel exit reason for a Shutdown: ``normal``/``shutdown`` map to the atoms,
    the others to ``("shutdown", reason)`` so supervisors do not treat them as crashes."""
    if reason == "normal":
        return NORMAL
    if reason == "shutdown":
        return SHUTDOWN
    return (SHUTDOWN, reason)


class ActorInterpreter(Actor[Instruction | Execute | CurrentPhase]):
    """Interpret instructions against ``program`` inside an actor.

    ``sink`` receives one ``Emitted`` per instruction, in mailbox order (pass another
    actor's ``ref.tell`` to forward effects, or ``list.append`` in a test).

        ref = system.spawn(lambda: ActorInterpreter(ReferenceProgram(), sink=out.append))
        ref.tell(Mount(id="s1", target="counter"))
        effects = await ref.ask(Execute(Render()))
    """

    def __init__(
        self,
        program: Program,
        *,
        sink: Callable[[Emitted], object] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.program = program
        self.sink = sink
        self.tracer = tracer
        self.phase: Phase = "disconnected"

    @handler
    def instruction(self, message: Instruction) -> None:
        self._interpret(message)

    @handler
    def execute(self, message: Execute) -> list[Effect]:
        return self._interpret(message.instruction)

    @handler
    def current_phase(self, message: CurrentPhase) -> Phase:
        return self.phase

    def _interpret(self, instruction: Instruction) -> list[Effect]:
        self.phase, effects, accepted = execute_or_reject(self.program, self.phase, instruction)
        if self.tracer is not None:
            self.tracer.record(instruction, effects)
        if self.sink is not None:
            self.sink(Emitted(instruction=instruction, effects=tuple(effects), phase=self.phase))
        if accepted and isinstance(instruction, Shutdown):
            self.stop(exit_reason_of(instruction.reason))
        return effects
