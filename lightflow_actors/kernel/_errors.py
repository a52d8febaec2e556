"""Errors the kernel raises. Each message says what went wrong and what to do about it."""

from __future__ import annotations

import typing
from typing import Literal

from ._reasons import ExitReason, format_reason

RefusalReason = Literal[
    "not_found",  # the thing the request names does not exist (any more)
    "invalid",  # the request itself is malformed or breaks a rule of the domain
    "conflict",  # the request clashes with the current state (taken id, already done)
    "unavailable",  # the actor cannot serve it now (starting, draining, overloaded); retry
    "forbidden",  # the asker may not do this
    "too_large",  # the request or what it would produce exceeds a limit
    "timeout",  # work the actor waited on for this request took too long
    "over_budget",  # the asker's tenant used up a budget (rate or count); retry after a while
]
"""Why an actor refused a request: a closed set, so each edge maps it once (HTTP, MCP)."""

REFUSAL_REASONS: frozenset[str] = frozenset(typing.get_args(RefusalReason))


class LightflowError(Exception):
    """Base class of every error the runtime raises on purpose."""


class TransientFailure(LightflowError):
    """A failure expected in operation and retried by a supervisor: a dependency that is
    unreachable for a while (a broker down, a connection lost). An actor crashing with one
    (or failing to start with one) is logged as one line at DEBUG with its traceback
    instead of an ERROR with a traceback: whoever retries says so once per attempt."""


def is_transient(reason: object) -> bool:
    """True if ``reason`` is a `TransientFailure`, or a failure caused by one (a
    `StartFailed`, or an exception raised ``from`` one)."""
    seen: set[int] = set()
    while isinstance(reason, BaseException) and id(reason) not in seen:
        if isinstance(reason, TransientFailure):
            return True
        seen.add(id(reason))
        cause = reason.__cause__
        reason = cause if cause is not None else getattr(reason, "reason", None)
    return False


class SystemNotRunning(LightflowError):
    """The actor system has not been started, or has already shut down."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"cannot {what}: the ActorSystem is not running "
            "(use `async with ActorSystem() as system:` or `await system.start()` first)"
        )


class UnhandledMessage(TypeError, LightflowError):
    """A message was sent to an actor that declares no handler for its type."""

    def __init__(self, actor: str, message: object, accepted: list[str]) -> None:
        self.actor = actor
        self.message_type = type(message).__qualname__
        super().__init__(
            f"{actor} has no handler for {self.message_type}; "
            f"it accepts: {', '.join(accepted) or 'nothing'}"
        )


class InvalidActorDefinition(TypeError, LightflowError):
    """An actor class is malformed (a handler without a message type, a missing handler)."""


class AskTimeout(TimeoutError, LightflowError):
    """``ask`` got no reply in time."""

    def __init__(self, actor: str, message: object, timeout: float) -> None:
        self.actor = actor
        self.message_type = type(message).__qualname__
        self.timeout = timeout
        super().__init__(
            f"ask {self.message_type} to {actor} timed out after {timeout:g}s "
            "(the actor is busy, blocked, or its handler never returns; "
            "raise the timeout or check the actor with system.info(ref))"
        )


class ActorNotAlive(LightflowError):
    """The target actor has already exited (Erlang's ``noproc``)."""

    def __init__(self, actor: str, reason: ExitReason | None = None) -> None:
        self.actor = actor
        self.reason = reason
        tail = f" (exited: {format_reason(reason)})" if reason is not None else ""
        super().__init__(f"{actor} is not alive{tail}")


class ActorExited(LightflowError):
    """The actor exited before replying to an ``ask``; ``reason`` says why."""

    def __init__(self, actor: str, message: object, reason: ExitReason) -> None:
        self.actor = actor
        self.message_type = type(message).__qualname__
        self.reason = reason
        super().__init__(
            f"{actor} exited before replying to {self.message_type}: {format_reason(reason)}"
        )
        if isinstance(reason, BaseException):
            self.__cause__ = reason


class MailboxFull(LightflowError):
    """A bounded mailbox refused a message (policy ``fail``, or ``tell`` on policy ``await``)."""

    def __init__(self, actor: str, capacity: int, hint: str) -> None:
        self.actor = actor
        self.capacity = capacity
        super().__init__(f"mailbox of {actor} is full ({capacity} messages); {hint}")


class MessageDropped(LightflowError):
    """An ``ask`` whose message a bounded mailbox dropped (``drop_oldest`` / ``drop_newest``)."""

    def __init__(self, actor: str, message: object) -> None:
        self.actor = actor
        self.message_type = type(message).__qualname__
        super().__init__(f"{actor} dropped {self.message_type}: its bounded mailbox overflowed")


class NameTaken(LightflowError):
    """A registry name is already held by a live actor."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        super().__init__(f"name {name!r} is already registered to {holder}; pick another name")


class NameNotRegistered(LookupError, LightflowError):
    """A registry lookup found no live actor under the name."""

    def __init__(self, name: str, known: int) -> None:
        self.name = name
        super().__init__(
            f"no actor is registered as {name!r} ({known} names registered); "
            "check the spelling, or use system.whereis(name) to get None instead"
        )


class WrongActorType(TypeError, LightflowError):
    """A typed lookup found an actor of another class."""

    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(f"actor {name!r} is a {actual}, not a {expected}")


class StartFailed(LightflowError):
    """An actor's ``on_start`` raised; the actor never ran."""

    def __init__(self, actor: str, reason: ExitReason) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(f"{actor} failed to start: {format_reason(reason)}")
        if isinstance(reason, BaseException):
            self.__cause__ = reason


class NotInActor(LightflowError):
    """An actor-context method was used on an actor object that is not running."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is only available while the actor runs under a system "
            "(after spawn; not in __init__)"
        )


class Refused(LightflowError):
    """A handler declined a request: the answer to an ``ask``, not a crash.

    Raise it (or a subclass) from a handler, sync or async. The actor keeps running; the
    asker's ``ask`` raises this same exception object; a ``tell`` (no asker) is logged at
    debug level and dropped. ``reason`` is one of ``RefusalReason`` and ``str(exc)`` is the
    message. Domains define their refusals as subclasses with a fixed reason::

        class RunNotFound(Refused):
            reason = "not_found"

        raise RunNotFound(f"run {run_id!r} not found; list runs with GetRuns")

    A reason given to ``__init__`` wins over the class's; ``Refused`` itself defaults to
    ``"invalid"``. Nothing is serialised: the object travels to the asker as it is.
    """

    reason: RefusalReason = "invalid"

    def __init__(self, message: str, reason: RefusalReason | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            if reason not in REFUSAL_REASONS:
                raise ValueError(_bad_reason(reason))
            self.reason = reason
        self.message = message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.reason not in REFUSAL_REASONS:
            raise TypeError(f"{cls.__qualname__}.reason: {_bad_reason(cls.reason)}")

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({self.message!r}, reason={self.reason!r})"


def _bad_reason(reason: object) -> str:
    return f"{reason!r} is not a RefusalReason; use one of {', '.join(sorted(REFUSAL_REASONS))}"
