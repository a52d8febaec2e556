"""The observer's last ten minutes: samples of the system every few seconds, and the
restarts, kept by the feed so the page can draw them.

``HistoryRecorder`` (mutable, owned by the ``TreeFeed``) takes a ``Sample`` every
``SAMPLE_S`` seconds whether or not anybody watches (one pass over the actors: messages
processed, the ten deepest mailboxes, plus the resident memory) and counts from the
lifecycle events the feed already receives: restarts (each one also kept as a
``RestartMark`` for the supervisors' timelines) and runs that ended (a run actor,
registered as ``<prefix>.run:<id>``, exiting normally). ``History`` is its immutable copy
carried by each snapshot; the series the page draws are derived from it here.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Final

import msgspec

from lightflow_actors.adapters.http import resident_memory
from lightflow_actors.kernel import ActorSystem, LifecycleEvent

SAMPLE_S: Final = 5.0
"""Seconds between samples."""
WINDOW_MS: Final = 600_000
"""The history kept: ten minutes."""
MAX_SAMPLES: Final = int(WINDOW_MS / 1000 / SAMPLE_S) + 1
TOP_MAILBOXES: Final = 10
MAX_RESTARTS: Final = 500
"""Restart marks kept at most (the newest), whatever their age."""


class Mailbox(msgspec.Struct, frozen=True):
    """One of the deepest mailboxes at a sample."""

    id: int
    label: str
    depth: int


class Sample(msgspec.Struct, frozen=True):
    """The system at one instant: counters (totals since start) and the deepest mailboxes."""

    at_ms: int
    messages: int
    restarts: int
    runs_ended: int
    memory: int | None
    mailboxes: tuple[Mailbox, ...]


class RestartMark(msgspec.Struct, frozen=True):
    """One restart: the supervisor that did it, the new child, why the old one exited."""

    at_ms: int
    supervisor: int | None
    actor: int
    label: str
    reason: str | None


class History(msgspec.Struct, frozen=True):
    """Samples and restarts of the last ten minutes, oldest first."""

    samples: tuple[Sample, ...] = ()
    restarts: tuple[RestartMark, ...] = ()

    def rates(self, field: Callable[[Sample], int], per_s: float) -> list[float]:
        """``field``'s change between consecutive samples, per ``per_s`` seconds."""
        out = []
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            seconds = (b.at_ms - a.at_ms) / 1000
            out.append(max(0, field(b) - field(a)) * per_s / seconds if seconds > 0 else 0.0)
        return out

    def messages_per_s(self) -> list[float]:
        return self.rates(lambda s: s.messages, 1.0)

    def restarts_per_min(self) -> list[float]:
        return self.rates(lambda s: s.restarts, 60.0)

    def runs_per_min(self) -> list[float]:
        return self.rates(lambda s: s.runs_ended, 60.0)

    def memory_mb(self) -> list[float]:
        return [s.memory / 1048576 for s in self.samples if s.memory is not None]

    def mailbox_series(self) -> list[tuple[Mailbox, list[float]]]:
        """The deepest mailboxes now, each with its depth at every sample (0 where it was
        not among the ten deepest)."""
        if not self.samples:
            return []
        series = []
        for box in self.samples[-1].mailboxes:
            depths = []
            for sample in self.samples:
                found = [m.depth for m in sample.mailboxes if m.id == box.id]
                depths.append(float(found[0]) if found else 0.0)
            series.append((box, depths))
        return series

    def restarts_by(self, supervisor: int) -> list[RestartMark]:
        return [mark for mark in self.restarts if mark.supervisor == supervisor]


class HistoryRecorder:
    """Takes samples and notes restarts (see the module docstring); not thread-safe: the
    feed's handlers call it one at a time."""

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque(maxlen=MAX_SAMPLES)
        self.restarts: deque[RestartMark] = deque(maxlen=MAX_RESTARTS)
        self.restart_total = 0
        self.runs_ended = 0

    def note(self, event: LifecycleEvent) -> None:
        if event.kind == "restarted":
            self.restart_total += 1
            label = event.name or event.child or event.actor_kind
            self.restarts.append(
                RestartMark(event.at_ms, event.parent, event.actor, label, event.reason)
            )
        elif (
            event.kind == "exited"
            and event.reason == "normal"
            and event.name is not None
            and ".run:" in event.name
        ):
            self.runs_ended += 1

    def sample(self, system: ActorSystem) -> Sample:
        """Sample ``system`` now (one synchronous pass over its actors)."""
        infos = system.actors()
        deepest = heapq.nlargest(TOP_MAILBOXES, infos, key=lambda info: info.mailbox)
        sample = Sample(
            at_ms=system.clock.wall_ms(),
            messages=sum(info.processed for info in infos) + system.messages_processed_by_exited,
            restarts=self.restart_total,
            runs_ended=self.runs_ended,
            memory=resident_memory(),
            mailboxes=tuple(
                Mailbox(info.id, info.name or f"{info.kind} #{info.id}", info.mailbox)
                for info in deepest
                if info.mailbox > 0
            ),
        )
        self.samples.append(sample)
        horizon = sample.at_ms - WINDOW_MS
        while self.restarts and self.restarts[0].at_ms < horizon:
            self.restarts.popleft()
        return sample

    def frozen(self) -> History:
        return History(tuple(self.samples), tuple(self.restarts))
