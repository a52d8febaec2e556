"""What the runs page shows, as immutable structs: a list row per run, a run's detail.

These are built on the runs host's worker threads (``_reading.py``) from the run's own
files (manifest, journal, trace, outputs) and published by the feed; a session only
keeps the newest one and renders it.
"""

from __future__ import annotations

from typing import Final

import msgspec

from lightflow_actors.flow import RunStatus, StepStatus, TraceRecord
from lightflow_actors.isa import JSONValue

from ._layout import DagLayout

TERMINAL: Final[frozenset[str]] = frozenset({"succeeded", "failed", "cancelled"})


class RunRow(msgspec.Struct, frozen=True):
    """One run in the list. ``done`` counts finished steps (succeeded, failed, cancelled)."""

    run_id: str
    workflow: str
    status: RunStatus
    created_at_ms: int
    updated_at_ms: int
    done: int
    total: int

    @property
    def duration_ms(self) -> int:
        """From creation to the last change (for a running run: so far)."""
        return max(0, self.updated_at_ms - self.created_at_ms)


class RunsListing(msgspec.Struct, frozen=True):
    """Every run, newest first, as the feed read them (``version`` grows per listing)."""

    version: int
    rows: tuple[RunRow, ...]

    def workflows(self) -> tuple[str, ...]:
        return tuple(sorted({row.workflow for row in self.rows}))


class FileText(msgspec.Struct, frozen=True):
    """A file the page shows (a request, an answer, an output): its JSON value when it
    decodes, else its text; ``truncated`` when only its first bytes were read."""

    path: str
    value: JSONValue = None
    text: str | None = None
    truncated: bool = False
    problem: str | None = None


class StepView(msgspec.Struct, frozen=True):
    """One step of a run, as the page draws and details it.

    ``started_ms``/``ended_ms``: the last attempt's submission and its end (journal
    times); ``route`` is what the substrate reported answering it (provider, model).
    """

    id: str
    status: StepStatus
    attempts: int
    target: str
    address: str
    depends_on: tuple[str, ...]
    model: str | None = None
    cached_from: str | None = None
    error: str | None = None
    started_ms: int | None = None
    ended_ms: int | None = None
    route: dict[str, JSONValue] | None = None
    trace: tuple[TraceRecord, ...] = ()
    request: FileText | None = None
    answer: FileText | None = None
    output: FileText | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.started_ms is None or self.ended_ms is None:
            return None
        return max(0, self.ended_ms - self.started_ms)

    @property
    def cache_hit(self) -> bool:
        return self.cached_from is not None


class RunDetail(msgspec.Struct, frozen=True):
    """One run: its plan (laid out), its inputs and schema, and every step's state."""

    run_id: str
    workflow: str
    title: str
    status: RunStatus
    created_at_ms: int
    updated_at_ms: int
    sequence: int
    inputs: dict[str, JSONValue]
    input_schema: dict[str, JSONValue]
    preset: str | None
    steps: tuple[StepView, ...]
    layout: DagLayout

    def step(self, step_id: str | None) -> StepView | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    @property
    def done(self) -> int:
        return sum(step.status in TERMINAL for step in self.steps)


class RunMissing(msgspec.Struct, frozen=True):
    """The run a page follows cannot be read (no such run, or its files are broken)."""

    run_id: str
    message: str
