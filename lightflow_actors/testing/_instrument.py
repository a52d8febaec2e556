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
from ._faults import FaultInjector, MessageDecision
from ._liveness import AskLedger, Monitors
from ._loop import DeterministicLoop
from ._network import Network
from ._trace import _LAZY, Trace, TraceKind, describe_message, message_text

OUTSIDE = 0
"""The sender id of messages sent from outside any actor (the scenario itself)."""


class SimulationTap:
    """Implements the kernel's ``Tap`` protocol for one run (one system of it)."""

    def __init__(
        self,
        loop: DeterministicLoop,
        faults: FaultInjector,
        trace: Trace,
        *,
        network: Network | None = None,
        monitors: Monitors | None = None,
        asks: AskLedger | None = None,
    ) -> None:
        self._loop = loop
        self._faults = faults
        self._message_faults = faults.has_message_faults
        self._crashes = faults.has_crashes
        self.network = network
        self.monitors = monitors if monitors else None
        self.asks = asks
        self.trace = trace
        self._events = trace.raw
        self.violations: list[str] = []
        # Per receiver: (sender id, message, its text) in the order they were queued and
        # not yet handled.
        self._pending: dict[int, deque[tuple[int, object, object]]] = {}
        self._held: dict[float, list[tuple[Cell, object]]] = {}
        self._labels: dict[int, str] = {}
        self.cells: dict[int, Cell] = {}
        """The live cells of this system, by id (what hang detection looks at)."""
        self._install_fast_paths()

    def _install_fast_paths(self) -> None:
        """Shadow ``on_send`` / ``on_handle`` with closures for the common case.

        The kernel calls these twice per message. A closure reads its cell variables
        faster than a method reads attributes, so the plain case (a ``tell`` with no
        network or message fault in play, a handled message at the head of its sender's
        queue) runs here; anything else falls through to the full methods.
        """
        events_extend = self._events.extend
        loop = self._loop
        pending = self._pending
        lazy = _LAZY.get
        network = self.network
        message_faults = self._message_faults
        full_send = self.on_send
        full_handle = self.on_handle
        no_extras = self.monitors is None and not self._crashes

        def on_send(sender: Cell | None, target: Cell, item: object) -> bool:
            if (
                message_faults
                or type(item) is Call
                or (network is not None and network.active and sender is not None)
            ):
                return full_send(sender, target, item)
            text = item if lazy(type(item)) else message_text(item)
            events_extend((loop.steps, loop._now, "send", target, sender, text, None))
            queue = pending.get(target.id)
            if queue is None:
                queue = pending[target.id] = deque()
            queue.append((sender.id if sender is not None else OUTSIDE, item, text))
            return True

        def on_handle(cell: Cell, message: object) -> None:
            queue = pending.get(cell.id)
            if no_extras and queue and queue[0][1] is message:
                events_extend(
                    (loop.steps, loop._now, "handle", cell, None, queue.popleft()[2], None)
                )
                return
            full_handle(cell, message)

        self.on_send = on_send  # type: ignore[method-assign]
        self.on_handle = on_handle  # type: ignore[method-assign]

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
        message: object = None,
        detail: str | None = None,
    ) -> None:
        loop = self._loop
        self._events.extend((loop.steps, loop._now, kind, actor, peer, message, detail))

    # -- the Tap protocol ---------------------------------------------------------------

    def on_send(self, sender: Cell | None, target: Cell, item: object) -> bool:
        # The hot path of a run: one tuple into the trace (cells and frozen messages are
        # turned into text only when the trace is read) and one into the FIFO ledger.
        if type(item) is Call:
            message = item.message
            kind: TraceKind = "ask"
            if sender is not None and self.asks is not None:
                self.asks.add(sender, target, item)
        else:
            message = item
            kind = "send"
        text = message if _LAZY.get(type(message)) else message_text(message)
        loop = self._loop
        self._events.extend((loop.steps, loop._now, kind, target, sender, text, None))
        decision: MessageDecision | None = None
        network = self.network
        if network is not None and network.active:
            decision = network.decide(sender, target, loop._now)
        if decision is None:
            if not self._message_faults:
                queue = self._pending.get(target.id)
                if queue is None:
                    queue = self._pending[target.id] = deque()
                queue.append((sender.id if sender is not None else OUTSIDE, message, text))
                return True
            decision = self._faults.on_send(
                sender.name if sender is not None else None,
                target.name,
                type(message).__qualname__,
                loop._now,
            )
        return self._apply(decision, sender, target, item, message, text)

    def _apply(
        self,
        decision: MessageDecision,
        sender: Cell | None,
        target: Cell,
        item: object,
        message: object,
        text: object,
    ) -> bool:
        action = decision.action
        if action == "deliver":
            self._expect(sender, target, message, text)
            return True
        sender_label = self._label(sender) if sender is not None else None
        why = f" ({decision.why})" if decision.why else ""
        if action == "drop":
            self._event("fault", self._label(target), sender_label, text, "drop" + why)
            return False
        if action == "delay":
            twice = ", duplicate" if decision.copies > 1 else ""
            self._event(
                "fault",
                self._label(target),
                sender_label,
                text,
                f"delay {decision.delay:g}s{twice}{why}",
            )
            for _ in range(decision.copies):
                self._loop.call_later(decision.delay, self._redeliver, target, item, "delayed")
            return False
        if action == "duplicate":
            self._event("fault", self._label(target), sender_label, text, "duplicate" + why)
            self._expect(sender, target, message, text)
            self._expect(sender, target, message, text)
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
        queue = self._pending.get(cell.id)
        if queue and queue[0][1] is message:
            text = queue.popleft()[2]
        else:
            text = self._check_fifo(cell, message)
            if text is None:
                text = message_text(message)
        loop = self._loop
        self._events.extend((loop.steps, loop._now, "handle", cell, None, text, None))
        if self.monitors is not None:
            self.monitors.on_message(cell.name, message)
        if self._crashes:
            kind = type(message).__qualname__
            nth = self._faults.crash_now(cell.id, cell.name, kind)
            if nth is not None:
                self._event(
                    "fault", self._label(cell), message=kind, detail=f"crash at message #{nth}"
                )
                raise InjectedCrash(self._label(cell), kind, nth)

    def on_spawn(self, cell: Cell) -> None:
        self.cells[cell.id] = cell
        if self.network is not None:
            self.network.on_spawn(cell)
        parent = self._label(cell.parent) if cell.parent is not None else None
        self._event("spawn", self._label(cell), parent)

    def on_exit(self, cell: Cell, reason: ExitReason) -> None:
        self.cells.pop(cell.id, None)
        self._event("exit", self._label(cell), detail=format_reason(reason))

    def on_timer(self, target: Cell, message: object) -> None:
        self._event("timer", self._label(target), message=message_text(message))

    # -- re-delivery ----------------------------------------------------------------------

    def _redeliver(self, target: Cell, item: object, why: str) -> None:
        message = item.message if type(item) is Call else item
        kind: TraceKind = "dead" if target.status is DEAD else "deliver"
        self._event(kind, self._label(target), message=message_text(message), detail=why)
        target.append(item)

    def _release(self, until: float) -> None:
        for target, item in self._held.pop(until, []):
            self._redeliver(target, item, "released after pause")

    # -- per-pair FIFO ------------------------------------------------------------------

    def _expect(self, sender: Cell | None, target: Cell, message: object, text: object) -> None:
        queue = self._pending.get(target.id)
        if queue is None:
            queue = self._pending[target.id] = deque()
        queue.append((sender.id if sender is not None else OUTSIDE, message, text))

    def _check_fifo(self, cell: Cell, message: object) -> object:
        """Check per-pair FIFO for a handled message; return its text if it was tracked."""
        queue = self._pending.get(cell.id)
        if not queue:
            return None
        head = queue[0]
        if head[1] is message:
            queue.popleft()
            return head[2]
        index = next((i for i, entry in enumerate(queue) if entry[1] is message), -1)
        if index < 0:
            return None  # not a tracked send: a signal, a timer, or a delayed/held message
        # Entries ahead of this one should be gone from the mailbox (dropped by overflow, or
        # refused by a full one); one still queued from the same sender is a FIFO violation.
        entries = list(queue)
        sender_id = entries[index][0]
        kept = [entry for entry in entries[:index] if _still_queued(cell, entry[1])]
        for earlier_sender, earlier, _ in kept:
            if earlier_sender == sender_id:
                self.violations.append(
                    f"{self._label(cell)} handled {describe_message(message)} from sender "
                    f"#{sender_id} before the earlier {describe_message(earlier)}"
                )
                break
        queue.clear()
        queue.extend(kept)
        queue.extend(entries[index + 1 :])
        return entries[index][2]


def _still_queued(cell: Cell, message: object) -> bool:
    if not cell.queued():
        return False
    for item in cell.mailbox:
        if item is message or (type(item) is Call and item.message is message):
            return True
    return False
