"""Exit reasons with their OTP meaning.

An actor ends with one reason, and the reason decides what linked actors do:

- ``"normal"``: the actor finished its work. Linked actors that do not trap exits ignore it.
- ``"shutdown"`` or ``("shutdown", term)``: it was asked to stop (by its supervisor or the
  system). Linked actors that do not trap exits stop with the same reason; a ``transient``
  child is not restarted for it.
- ``"kill"``: sent from outside (``system.kill(ref)``, ``system.exit(ref, "kill")``, a
  shutdown timeout: Erlang's ``exit(Pid, kill)``) it is untrappable: the actor ends at once,
  without ``on_stop``, with reason ``"killed"``, and that is what linked actors see (it *is*
  trappable). An actor that exits *itself* with ``"kill"`` (``self.stop("kill")``) ends as
  with any other reason (``on_stop`` runs), and its links get an ordinary signal: a trapping
  actor receives ``Exit(ref, "kill")`` (a supervisor restarts the child), a non-trapping one
  exits with ``"kill"`` too. Only the external kill is untrappable, as in OTP.
- ``"noproc"``: the actor a link or monitor named was not alive.
- an exception: the actor crashed; the exception keeps its traceback.
"""

from __future__ import annotations

import traceback
from typing import Final, Literal, TypeAlias

NORMAL: Final = "normal"
SHUTDOWN: Final = "shutdown"
KILL: Final = "kill"
KILLED: Final = "killed"
NOPROC: Final = "noproc"
NOCONNECTION: Final = "noconnection"
"""A remote actor's node was lost (its node went down or the link to it broke), as in Erlang."""

AtomReason: TypeAlias = Literal["normal", "shutdown", "kill", "killed", "noproc", "noconnection"]
ShutdownReason: TypeAlias = tuple[Literal["shutdown"], object]
ExitReason: TypeAlias = AtomReason | ShutdownReason | BaseException


def is_normal_exit(reason: ExitReason) -> bool:
    """True for the reasons after which a ``transient`` child is *not* restarted.

    OTP: ``normal``, ``shutdown`` and ``{shutdown, Term}``.
    """
    if isinstance(reason, str):
        return reason in (NORMAL, SHUTDOWN)
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == SHUTDOWN


def is_crash(reason: ExitReason) -> bool:
    """True when the reason is an exception raised by the actor's own code."""
    return isinstance(reason, BaseException)


def format_reason(reason: ExitReason) -> str:
    """A one-line text for operators and logs: the atom, or ``Type: message``."""
    if isinstance(reason, BaseException):
        text = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        return text
    if isinstance(reason, tuple):
        return f"shutdown: {reason[1]!r}"
    return reason


def format_traceback(reason: ExitReason) -> str | None:
    """The full traceback of a crash, or ``None`` for an orderly reason."""
    if not isinstance(reason, BaseException):
        return None
    return "".join(traceback.format_exception(type(reason), reason, reason.__traceback__))
