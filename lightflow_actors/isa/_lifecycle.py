"""The session/run lifecycle: disconnected -> joined -> mounted -> live -> closed.

``next_phase`` is the single transition table every interpreter uses (the pure
and actor interpreters, and the typed ``Session`` facade whose phantom types
mirror this table for mypy). A rejected instruction leaves the phase unchanged.

    disconnected --subscribe--> joined      a watcher joined; nothing mounted yet
    disconnected/joined --mount--> mounted  (mount without a watcher: a dead render,
                                             or a run created from the CLI)
    mounted/live --render--> live           a full view exists; patches may follow
    live --patch|submit--> live
    any phase but disconnected --subscribe(off)--> same phase
    any phase but closed --shutdown--> closed
"""

from __future__ import annotations

from typing import Final, Literal

from ._errors import LifecycleError
from ._instructions import Instruction, Op, Subscribe, op_of

__all__ = ["PHASES", "Phase", "next_phase"]

Phase = Literal["disconnected", "joined", "mounted", "live", "closed"]
PHASES: Final[tuple[Phase, ...]] = ("disconnected", "joined", "mounted", "live", "closed")

_CLOSED_HINT = "a closed session or run accepts no instruction; Mount a new one instead"
_NOT_MOUNTED = "send Mount first"
_NOT_LIVE = "it needs a live session or run: send Mount and Render first"
_NOT_RENDERED = "send Render first so the watcher holds a full view"

# Allowed moves: (op, phase) -> next phase. Every other pair is rejected with the
# hint in _HINTS, which says what the sender should have sent first.
_NEXT: Final[dict[tuple[Op, Phase], Phase]] = {
    ("mount", "disconnected"): "mounted",
    ("mount", "joined"): "mounted",
    ("render", "mounted"): "live",
    ("render", "live"): "live",
    ("patch", "live"): "live",
    ("subscribe", "disconnected"): "joined",
    ("subscribe", "joined"): "joined",
    ("subscribe", "mounted"): "mounted",
    ("subscribe", "live"): "live",
    ("submit", "live"): "live",
    ("shutdown", "disconnected"): "closed",
    ("shutdown", "joined"): "closed",
    ("shutdown", "mounted"): "closed",
    ("shutdown", "live"): "closed",
}

_HINTS: Final[dict[tuple[Op, Phase], str]] = {
    ("mount", "mounted"): "Shutdown it and Mount a new one",
    ("mount", "live"): "Shutdown it and Mount a new one",
    ("render", "disconnected"): _NOT_MOUNTED,
    ("render", "joined"): _NOT_MOUNTED,
    ("patch", "disconnected"): _NOT_LIVE,
    ("patch", "joined"): _NOT_LIVE,
    ("patch", "mounted"): _NOT_RENDERED,
    ("submit", "disconnected"): _NOT_LIVE,
    ("submit", "joined"): _NOT_LIVE,
    ("submit", "mounted"): _NOT_RENDERED,
}


def next_phase(phase: Phase, instruction: Instruction) -> Phase:
    """The phase after ``instruction``; raises ``LifecycleError`` if it is out of order."""
    op = op_of(instruction)
    if phase == "closed":
        raise LifecycleError(op, phase, _CLOSED_HINT)
    if isinstance(instruction, Subscribe) and instruction.off and phase == "disconnected":
        raise LifecycleError(op, phase, "nothing is subscribed yet; Subscribe without off first")
    following = _NEXT.get((op, phase))
    if following is None:
        raise LifecycleError(op, phase, _HINTS[(op, phase)])
    return following
