"""Messages a supervisor accepts, and the records its operations reply with.

The operations (``which_children``, ``start_child``...) are ``Ask`` messages handled by the
supervisor actor itself, one at a time, between the exit signals of its children, as OTP's
``gen_server:call`` to a supervisor. An operation that fails replies with the error as a
value (a handler that raised would crash the supervisor); ``_ops`` raises it at the caller.
"""

from __future__ import annotations

from typing import Literal, Never, TypeAlias

import msgspec

from ..kernel import AnyRef, Ask, Exit, StartFailed
from ._crash import Crash
from ._errors import SupervisionError
from ._spec import ChildSpec, ChildType, Restart

ChildStatus: TypeAlias = Literal["running", "restarting", "stopped"]
"""``stopped`` is OTP's ``undefined``: the spec is kept but no actor runs for it."""

OpFailure: TypeAlias = SupervisionError | StartFailed


class ChildInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``which_children``: OTP's ``{Id, Child, Type, Modules}``, plus more."""

    id: str
    ref: AnyRef | None
    status: ChildStatus
    type: ChildType
    restart: Restart
    restarts: int
    restart_at: float | None = None
    """While ``restarting``: the ``system.clock`` time the next restart attempt is due."""
    last_exit: str | None = None
    """While ``restarting``: why the child (or its last start attempt) ended."""
    crash: Crash | None = None
    """The child's last crash (reason and traceback), kept across its restarts."""


class ChildCounts(msgspec.Struct, frozen=True, kw_only=True):
    """``count_children``: OTP's ``specs``, ``active``, ``supervisors``, ``workers``."""

    specs: int
    active: int
    supervisors: int
    workers: int


class WhichChildren(Ask[list[ChildInfo]], frozen=True):
    pass


class CountChildren(Ask[ChildCounts], frozen=True):
    pass


class StartChild(Ask[AnyRef | OpFailure], frozen=True):
    spec: ChildSpec[Never]


class TerminateChild(Ask[OpFailure | None], frozen=True):
    child: str | AnyRef


class RestartChild(Ask[AnyRef | OpFailure], frozen=True):
    child_id: str


class DeleteChild(Ask[OpFailure | None], frozen=True):
    child_id: str


class RestartDue(msgspec.Struct, frozen=True):
    """A delayed restart (backoff, or a retry after a failed start) falls due.

    Sent by the supervisor to itself with ``send_after``; ``token`` tells a current
    restart from one that a later event (terminate_child, a group restart) superseded.
    """

    key: str | int
    token: int


SupervisorMessage: TypeAlias = (
    Exit | WhichChildren | CountChildren | StartChild | TerminateChild | RestartChild | DeleteChild
)
"""What a supervisor's ref accepts: ``ActorRef[SupervisorMessage]``."""
