"""Errors of supervision: bad specs, and the OTP error cases of the supervisor operations.

Each message says what was wrong and what to do. The operation errors mirror OTP's
``{error, ...}`` replies (``already_present``, ``{already_started, Pid}``, ``running``,
``restarting``, ``not_found``, ``simple_one_for_one``) and Elixir's ``max_children``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kernel import ExitReason, LightflowError, format_reason

if TYPE_CHECKING:
    from ..kernel import AnyRef


class SupervisionError(LightflowError):
    """Base class of every error this subpackage raises on purpose."""


class InvalidChildSpec(SupervisionError, ValueError):
    """A ``ChildSpec`` (or ``Backoff``) field has a value OTP would reject."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"ChildSpec.{field} must be {expected}, got {value!r}")


class InvalidSupervisorFlags(SupervisionError, ValueError):
    """A supervisor option (strategy, intensity, period, max_children) is out of range."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"supervisor {field} must be {expected}, got {value!r}")


class DuplicateChildId(SupervisionError, ValueError):
    """Two child specs given to one supervisor share an id (OTP ``duplicate_child_name``)."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"two child specs have the id {child_id!r}; child ids must be unique")


class ChildStartFailed(SupervisionError):
    """A child failed to start while its supervisor started (OTP ``failed_to_start_child``).

    The children started before it were stopped again (in reverse order), and the
    supervisor itself did not start. ``reason`` is the child's start failure.
    """

    def __init__(self, supervisor: str, child_id: str, reason: ExitReason) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.reason = reason
        super().__init__(
            f"{supervisor} could not start child {child_id!r}: {format_reason(reason)}; "
            "the children started before it were stopped again"
        )
        if isinstance(reason, BaseException):
            self.__cause__ = reason


class ChildNotFound(SupervisionError, LookupError):
    """No child with this id (or ref) under the supervisor (OTP ``not_found``)."""

    def __init__(self, supervisor: str, child: object) -> None:
        self.supervisor = supervisor
        self.child = child
        super().__init__(
            f"{supervisor} has no child {child!r}; which_children(sup) lists the ones it has"
        )


class ChildAlreadyStarted(SupervisionError):
    """``start_child`` named an id whose child is running (OTP ``{already_started, Pid}``)."""

    def __init__(self, supervisor: str, child_id: str, ref: AnyRef) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.ref = ref
        super().__init__(
            f"{supervisor} already runs child {child_id!r} as {ref!r}; pick another id"
        )


class ChildAlreadyPresent(SupervisionError):
    """``start_child`` named an id whose spec is kept but not running (OTP ``already_present``)."""

    def __init__(self, supervisor: str, child_id: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        super().__init__(
            f"{supervisor} already has a spec for child {child_id!r} (not running); "
            "use restart_child to start it, or delete_child before adding a new spec"
        )


class ChildRunning(SupervisionError):
    """``restart_child``/``delete_child`` on a running child (OTP ``running``)."""

    def __init__(self, supervisor: str, child_id: str, operation: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        super().__init__(
            f"cannot {operation} child {child_id!r} of {supervisor}: it is running; "
            "terminate_child it first"
        )


class ChildRestarting(SupervisionError):
    """``restart_child``/``delete_child`` while the supervisor is restarting the child."""

    def __init__(self, supervisor: str, child_id: str, operation: str) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        super().__init__(
            f"cannot {operation} child {child_id!r} of {supervisor}: a restart is pending "
            "(backoff or a failed start); wait for it, or terminate_child to cancel it"
        )


class MaxChildrenReached(SupervisionError):
    """A ``DynamicSupervisor`` already has ``max_children`` children (Elixir ``max_children``)."""

    def __init__(self, supervisor: str, max_children: int) -> None:
        self.supervisor = supervisor
        self.max_children = max_children
        super().__init__(
            f"{supervisor} already has its maximum of {max_children} children; "
            "terminate one first or raise max_children"
        )


class NotSupportedByDynamic(SupervisionError):
    """An operation that needs child ids, asked of a ``DynamicSupervisor``.

    OTP answers ``{error, simple_one_for_one}``: dynamic children are named by their ref.
    """

    def __init__(self, supervisor: str, operation: str) -> None:
        self.supervisor = supervisor
        super().__init__(
            f"{operation} is not supported by {supervisor} (a DynamicSupervisor): its children "
            "have no ids; use terminate_child(sup, ref) and start_child(sup, spec) instead"
        )
