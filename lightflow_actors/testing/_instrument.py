"""``SimulationTap``: the kernel tap of a simulated run.

It writes the trace, applies the fault plan (taking a message out of the normal path and
re-delivering it through ``Cell.append`` when delayed, held or duplicated; raising
``InjectedCrash`` before a handler), and checks per-pair FIFO: a message from a sender must
never be handled while an earlier message from the same sender still waits in the
receiver's mailbox. The scheduler may reorder anything *across* actors; this check proves
the kernel's per-cell deque keeps each sender's order whatever it picks.
"""

from __future__ import annotations

from collections import deque

from ..kernel._cell import DEAD, Call, Cell
from ..kernel._reasons import ExitReason, format_reason
from ._errors import InjectedCrash
from ._faults import FaultInjector
from ._loop import DeterministicLoop
from ._trace import Trace, TraceEvent, TraceKind, describe_message

OUTSIDE = 0
"""The sender id of messages sent from outside any actor (the scenario itself)."""


class SimulationTap:
    """Implements the kernel's ``Tap`` protocol for one run."""

    def __init__(self, loop: DeterministicLoop, faults: FaultInjector, trace: Trace) -> None:
        self._loop = loop
        self._faults = faults
        self.trace = trace
        self.violations: list[str] = []
        # Per receiver: (sender id, message) in the order they were queued, not yet handled.
        self._pending: dict[int, deque[tuple[int, object]]] = {}
        self._held: dict[float, list[tuple[Cell, object]]] = {}
        self._labels: dict[int, str] = {}

    def _label(self, cell: Cell) -> str:
        label = self._labels.get(cell.id)
        if label is None:
            label = self._labels[cell.id] = cell.label
        return label

    def _event(
        self,
        kind: TraceKind,
        actor: str,
        peer: str | None = None,
        message: str | None = None,
        detail: str | None = None,
    ) -> None:
        loop = self._loop
        self.trace.add(
            TraceEvent(
                step=loop.steps,
                t=loop.time(),
                kind=kind,
                actor=actor,
                peer=peer,
                message=message,
                detail=detail,
            )
        )

    # -- the Tap protocol ---------------------------------------------------------------

    def on_send(self, sender: Cell | None, target: Cell, item: object) -> bool:
        is_call = type(item) is Call
        message = item.message if is_call else item  # type: ignore[attr-defined]
        sender_label = self._label(sender) if sender is not None else None
        text = describe_message(message)
        self._event("ask" if is_call else "send", self._label(target), sender_label, text)
        decision = self._faults.on_send(
            sender.name if sender is not None else None,
            target.name,
            type(message).__qualname__,
            self._loop.time(),
        )
        action = decision.action
        if action == "deliver":
            self._expect(sender, target, message)
            return True
        if action == "drop":
            self._event("fault", self._label(target), sender_label, text, "drop")
            return False
        if action == "delay":
            self._event(
                "fault", self._label(target), sender_label, text, f"delay {decision.delay:g}s"
            )
            self._loop.call_later(decision.delay, self._redeliver, target, item, "delayed")
            return False
        if action == "duplicate":
            self._event("fault", self._label(target), sender_label, text, "duplicate")
            self._expect(sender, target, message)
            self._expect(sender, target, message)
            target.append(item)
            return True
        # "hold": the target is paused until decision.until.
        self._event(
            "fault", self._label(target), sender_label, text, f"hold until {decision.until:g}s"
        )
        held = self._held.get(decision.until)
        if held is None:
            held = self._held[decision.until] = []
            self._loop.call_at(decision.until, self._release, decision.until)
        held.append((target, item))
        return False

    def on_handle(self, cell: Cell, message: object) -> None:
        kind = type(message).__qualname__
        self._event("handle", self._label(cell), message=describe_message(message))
        self._check_fifo(cell, message)
        nth = self._faults.crash_now(cell.id, cell.name, kind)
        if nth is not None:
            self._event("fault", self._label(cell), message=kind, detail=f"crash at message #{nth}")
            raise InjectedCrash(self._label(cell), kind, nth)

    def on_spawn(self, cell: Cell) -> None:
        parent = self._label(cell.parent) if cell.parent is not None else None
        self._event("spawn", self._label(cell), parent)

    def on_exit(self, cell: Cell, reason: ExitReason) -> None:
        self._event("exit", self._label(cell), detail=format_reason(reason))

    def on_timer(self, target: Cell, message: object) -> None:
        self._event("timer", self._label(target), message=describe_message(message))

    # -- re-delivery ----------------------------------------------------------------------

    def _redeliver(self, target: Cell, item: object, why: str) -> None:
        message = item.message if type(item) is Call else item
        kind: TraceKind = "dead" if target.status is DEAD else "deliver"
        self._event(kind, self._label(target), message=describe_message(message), detail=why)
        target.append(item)

    def _release(self, until: float) -> None:
        for target, item in self._held.pop(until, []):
            self._redeliver(target, item, "released after pause")

    # -- per-pair FIFO ------------------------------------------------------------------

    def _expect(self, sender: Cell | None, target: Cell, message: object) -> None:
        queue = self._pending.get(target.id)
        if queue is None:
            queue = self._pending[target.id] = deque()
        queue.append((sender.id if sender is not None else OUTSIDE, message))

    def _check_fifo(self, cell: Cell, message: object) -> None:
        queue = self._pending.get(cell.id)
        if not queue:
            return
        index = next((i for i, entry in enumerate(queue) if entry[1] is message), -1)
        if index < 0:
            return  # not a tracked send: a signal, a timer, or a delayed/held message
        if index == 0:
            queue.popleft()
            return
        # Entries ahead of this one should be gone from the mailbox (dropped by overflow, or
        # refused by a full one); one still queued from the same sender is a FIFO violation.
        entries = list(queue)
        sender_id = entries[index][0]
        kept = [(s, m) for s, m in entries[:index] if _still_queued(cell, m)]
        for earlier_sender, earlier in kept:
            if earlier_sender == sender_id:
                self.violations.append(
                    f"{self._label(cell)} handled {describe_message(message)} from sender "
                    f"#{sender_id} before the earlier {describe_message(earlier)}"
                )
                break
        queue.clear()
        queue.extend(kept)
        queue.extend(entries[index + 1 :])


def _still_queued(cell: Cell, message: object) -> bool:
    for item in cell.mailbox:
        if item is message or (type(item) is Call and item.message is message):
            return True
    return False
