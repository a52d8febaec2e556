"""``PureInterpreter``: runs an instruction stream with no event loop, returning effects.

Deterministic by construction (no clock, no randomness, no I/O): the reference
against which the actor interpreter is checked, and the engine of the typed
``Session`` facade.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._effects import Effect
from ._errors import LifecycleError
from ._instructions import Instruction
from ._lifecycle import Phase
from ._program import Program, execute, rejection
from ._trace import Tracer

__all__ = ["PureInterpreter"]


class PureInterpreter:
    """Interpret instructions against ``program`` synchronously.

    ``apply`` raises ``LifecycleError`` for an out-of-order instruction; ``step``
    reports it as a ``Rejected`` effect instead (what a session does with a peer's
    misordered frame); ``run`` steps through a whole stream. A ``tracer``, if given,
    records each accepted or rejected instruction with its effects.

    >>> from lightflow_actors.isa import Patch, ReferenceProgram
    >>> PureInterpreter(ReferenceProgram()).step(Patch(diff={}))[0].phase
    'disconnected'
    """

    def __init__(self, program: Program, *, tracer: Tracer | None = None) -> None:
        self.program = program
        self.tracer = tracer
        self._phase: Phase = "disconnected"

    @property
    def phase(self) -> Phase:
        return self._phase

    def apply(self, instruction: Instruction) -> list[Effect]:
        """Effects of ``instruction``; raises ``LifecycleError`` if it is out of order."""
        try:
            self._phase, effects = execute(self.program, self._phase, instruction)
        except LifecycleError as error:
            if self.tracer is not None:
                self.tracer.record(instruction, [rejection(error)])
            raise
        if self.tracer is not None:
            self.tracer.record(instruction, effects)
        return effects

    def step(self, instruction: Instruction) -> list[Effect]:
        """Effects of ``instruction``; an out-of-order one yields ``[Rejected(...)]``."""
        try:
            return self.apply(instruction)
        except LifecycleError as error:
            return [rejection(error)]

    def run(self, instructions: Iterable[Instruction]) -> list[Effect]:
        """All effects of a stream, in order, rejections included."""
        effects: list[Effect] = []
        for instruction in instructions:
            effects.extend(self.step(instruction))
        return effects
