"""What an actor interpreting the instruction set does with an accepted Shutdown.

The actors that interpret a stream (`live.LiveSession`, `flow.RunActor`) run each
instruction through `execute_or_reject` themselves, with their own mailbox decoding and
their own way of carrying effects out; they share this mapping from a Shutdown's reason
to the exit reason their supervisor sees.
"""

from __future__ import annotations

from ..kernel import NORMAL, SHUTDOWN, ExitReason
from ._instructions import ShutdownReason

__all__ = ["exit_reason_of"]


def exit_reason_of(reason: ShutdownReason) -> ExitReason:
    """The kernel exit reason for a Shutdown: ``normal``/``shutdown`` map to the atoms,
    the others to ``("shutdown", reason)`` so supervisors do not treat them as crashes."""
    if reason == "normal":
        return NORMAL
    if reason == "shutdown":
        return SHUTDOWN
    return (SHUTDOWN, reason)
