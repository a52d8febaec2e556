"""Kernel messages: the typed signals the runtime delivers, and ``Ask[R]`` for typed replies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

import msgspec

from ._reasons import ExitReason

if TYPE_CHECKING:
    from ._ref import AnyRef

R = TypeVar("R")


class Ask(msgspec.Struct, Generic[R], frozen=True):
    """Base for messages that expect a reply of type ``R``.

    ``await ref.ask(Get())`` is then typed as returning ``R``: the handler's return value.
    Requests are immutable values, so ``Ask`` is frozen and so are its subclasses.

    >>> class Get(Ask[int], frozen=True):
    ...     key: str
    """


class Exit(msgspec.Struct, frozen=True):
    """A linked actor exited; delivered as a message only to actors that trap exits.

    ``sender`` is None when the signal came from the system itself (``system.exit``).
    """

    sender: AnyRef | None
    reason: ExitReason


class Down(msgspec.Struct, frozen=True):
    """A monitored actor exited (or was not alive when monitored: reason ``"noproc"``).

    Delivered exactly once per monitor.
    """

    actor: AnyRef
    monitor: int
    reason: ExitReason
