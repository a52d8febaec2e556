"""The kernel's instrumentation hook, used by the deterministic scheduler and tracers.

A system with no tap pays one attribute check per send. With a tap installed, every send,
handler invocation, spawn, exit and timer firing is reported, and the tap may take a
message out of the normal path (drop, delay or duplicate it: it re-delivers through
``Cell.append``) or raise before a handler runs (a crash injected at a message boundary).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from ._reasons import ExitReason

if TYPE_CHECKING:
    from ._cell import Cell

current_cell: ContextVar[Cell | None] = ContextVar("lightflow_current_cell", default=None)
"""The cell whose handler is running (set only while a tap is installed)."""


class Tap(Protocol):
    def on_send(self, sender: Cell | None, target: Cell, item: object) -> bool:
        """A message (or ``Call``) is about to be queued; False means the tap took it."""
        ...

    def on_handle(self, cell: Cell, message: object) -> None:
        """A handler is about to run; raising here crashes the actor at this boundary."""
        ...

    def on_spawn(self, cell: Cell) -> None: ...

    def on_exit(self, cell: Cell, reason: ExitReason) -> None: ...

    def on_timer(self, target: Cell, message: object) -> None: ...
