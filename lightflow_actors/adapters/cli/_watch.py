"""Follow a run live from the terminal: ``run watch``, ``run create|retry --follow``.

The run's journal (``events.jsonl``) is the truth, whoever drives the run (this process,
a server, another CLI): the watcher reads its complete lines from a byte offset, folds
each event into a ``Board`` (one row per step: status, attempt, duration of the last
attempt, cache hit), and shows every change. On a terminal that is a ``rich`` live table;
with ``--json``, or when stdout is not a terminal, one JSON line per step change
(``{"type": "step", ...}``) and a last line ``{"type": "run", "status", "exit_code"}``.
It ends once the events say the run settled: exit 0 succeeded, 1 failed, 130 cancelled.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable
from typing import Final, Protocol, TextIO

import msgspec
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lightflow_actors.flow import (
    RunCancelled,
    RunCreated,
    RunEvent,
    RunRetried,
    RunStatus,
    RunStore,
    StepFailed,
    StepStatus,
    StepSubmitted,
    StepSucceeded,
    derive_status,
)
from lightflow_actors.runs import read_complete_lines

__all__ = ["EXIT_CODES", "Board", "JsonLines", "LiveTable", "Sink", "StepRow", "follow", "sink_for"]

EXIT_CODES: Final[dict[RunStatus, int]] = {"succeeded": 0, "failed": 1, "cancelled": 130}
"""The exit code of a watch that saw the run settle in this status."""

_SETTLED: Final = frozenset(EXIT_CODES)
_LINES_PER_READ = 1000
_event = msgspec.json.Decoder(RunEvent)


class StepRow(msgspec.Struct):
    """One step as the watcher last saw it. `duration_ms` is the last attempt's, from its
    `step.submitted` to its outcome (0 for a cache hit, None while it runs)."""

    step: str
    status: StepStatus = "planned"
    attempt: int = 0
    duration_ms: int | None = None
    cached: bool = False
    error: str | None = None
    started_ms: int | None = None


class Board:
    """The run folded from its events, in order; `apply` says which steps changed."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.workflow = ""
        self.rows: dict[str, StepRow] = {}
        self.cancelled = False
        self.seq = 0  # the last event applied

    @property
    def status(self) -> RunStatus:
        return derive_status(self.cancelled, (row.status for row in self.rows.values()))

    @property
    def settled(self) -> bool:
        return self.seq > 0 and self.status in _SETTLED

    def apply(self, event: RunEvent) -> list[str]:
        """Fold `event` (events at or before `seq` are ignored); the steps it changed."""
        if event.seq <= self.seq:
            return []
        self.seq = event.seq
        match event:
            case RunCreated(workflow=workflow, steps=steps):
                self.workflow = workflow
                self.rows = {step: StepRow(step) for step in steps}
                return list(steps)
            case StepSubmitted(step=step, attempt=attempt, ts_ms=ts):
                row = self._row(step)
                row.status, row.attempt, row.started_ms = "submitted", attempt, ts
                row.duration_ms, row.cached, row.error = None, False, None
            case StepSucceeded(step=step, attempt=attempt, ts_ms=ts, cached_from=cached):
                row = self._row(step)
                row.status, row.attempt, row.cached = "succeeded", attempt, cached is not None
                row.duration_ms = 0 if row.cached else _since(row.started_ms, ts)
            case StepFailed(step=step, attempt=attempt, ts_ms=ts, error=error):
                row = self._row(step)
                row.status = "planned" if event.retry_at_ms is not None else "failed"
                row.attempt, row.error = attempt, error
                row.duration_ms = _since(row.started_ms, ts)
            case RunCancelled(steps=steps):
                self.cancelled = True
                for step in steps:
                    self._row(step).status = "cancelled"
                return list(steps)
            case RunRetried(steps=steps):
                for step in steps:
                    row = self._row(step)
                    row.status, row.duration_ms = "planned", None
                return list(steps)
        return [step]

    def _row(self, step: str) -> StepRow:
        return self.rows.setdefault(step, StepRow(step))


def _since(start: int | None, end: int) -> int | None:
    return None if start is None else max(0, end - start)


class Sink(Protocol):
    """Where a watch shows what changed."""

    def changed(self, board: Board, steps: list[str]) -> None:
        """`steps` changed with the event `board.seq`."""

    def flush(self, board: Board) -> None:
        """Every event read so far was applied: show the board now."""

    def end(self, board: Board) -> None:
        """The run settled (after a last `flush`)."""

    def close(self) -> None:
        """The watch stops, settled or not (Ctrl-C): leave the terminal as it was."""


class StepLine(msgspec.Struct, frozen=True, tag="step", tag_field="type"):
    """A JSON line of a watch: one step changed."""

    run_id: str
    seq: int
    step: str
    status: StepStatus
    attempt: int
    duration_ms: int | None
    cached: bool
    error: str | None


class RunLine(msgspec.Struct, frozen=True, tag="run", tag_field="type"):
    """The last JSON line of a watch: the run settled."""

    run_id: str
    seq: int
    status: RunStatus
    exit_code: int


class JsonLines:
    """``--json`` (or stdout is not a terminal): one JSON line per change."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._encoder = msgspec.json.Encoder()

    def changed(self, board: Board, steps: list[str]) -> None:
        for step in steps:
            row = board.rows[step]
            self._write(
                StepLine(
                    board.run_id,
                    board.seq,
                    step,
                    row.status,
                    row.attempt,
                    row.duration_ms,
                    row.cached,
                    row.error,
                )
            )

    def flush(self, board: Board) -> None:
        pass  # every change was written as it came

    def close(self) -> None:
        pass

    def end(self, board: Board) -> None:
        status = board.status
        self._write(RunLine(board.run_id, board.seq, status, EXIT_CODES.get(status, 1)))

    def _write(self, line: StepLine | RunLine) -> None:
        self._out.write(self._encoder.encode(line).decode() + "\n")
        self._out.flush()


_STYLE: Final[dict[str, str]] = {
    "planned": "dim",
    "submitted": "yellow",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}


class LiveTable:
    """A terminal: a ``rich`` live table of the steps, redrawn at each change, and the
    run's final status below it once it settles."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live: Live | None = None
        self._dirty = False

    def changed(self, board: Board, steps: list[str]) -> None:
        self._dirty = True

    def flush(self, board: Board) -> None:
        """Redraw once per batch of events read, not once per event."""
        if not self._dirty:
            return
        self._dirty = False
        if self._live is None:
            self._live = Live(
                _render(board), console=self._console, auto_refresh=False, transient=False
            )
            self._live.start()
        else:
            self._live.update(_render(board), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # shows the cursor again; stopping twice is harmless
            self._live = None

    def end(self, board: Board) -> None:
        self.close()
        status = board.status
        code = EXIT_CODES.get(status, 1)
        line = Text.assemble(
            f"run {board.run_id} ", (status, _STYLE.get(status, "")), f" (exit {code})"
        )
        self._console.print(line)


def _render(board: Board) -> Group:
    status = board.status
    title = Text.assemble(f"{board.run_id} · {board.workflow} · ", (status, _STYLE.get(status, "")))
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("step", "status", "attempt", "duration", "cache", "error"):
        table.add_column(column)
    for row in board.rows.values():
        table.add_row(
            row.step,
            Text(row.status, style=_STYLE.get(row.status, "")),
            str(row.attempt) if row.attempt else "",
            _duration(row.duration_ms),
            "hit" if row.cached else "",
            (row.error or "")[:60],
        )
    return Group(table)


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def sink_for(json_mode: bool, out: TextIO | None = None) -> Sink:
    """JSON lines when asked or when `out` (stdout) is not a terminal; else a live table."""
    stream = sys.stdout if out is None else out
    if json_mode or not stream.isatty():
        return JsonLines(stream)
    return LiveTable(Console(file=stream))


async def follow(
    store: RunStore,
    run_id: str,
    sink: Sink,
    *,
    poll_s: float = 0.1,
    idle: Callable[[Board], None] | None = None,
) -> Board:
    """Show run `run_id`'s events as they are appended until they say it settled.

    `idle` is called once if the run is still `planned` after its journal was read (it
    may be that nothing drives it). Raises `RunNotFound` for an unknown run (read before
    anything is shown)."""
    await asyncio.to_thread(store.manifest, run_id)  # not_found first
    path = store.run_dir(run_id) / "events.jsonl"
    board, offset = Board(run_id), 0
    try:
        while True:
            lines, offset = await asyncio.to_thread(
                read_complete_lines, path, offset, _LINES_PER_READ
            )
            for event in _decoded(lines):
                steps = board.apply(event)
                if steps:
                    sink.changed(board, steps)
            sink.flush(board)
            if len(lines) == _LINES_PER_READ:
                continue  # more is written already: a settled status may be followed
            if board.settled:
                sink.end(board)
                return board
            if idle is not None and board.status == "planned":
                idle(board)
                idle = None
            await asyncio.sleep(poll_s)
    finally:
        sink.close()


def _decoded(lines: Iterable[bytes]) -> Iterable[RunEvent]:
    for line in lines:
        try:
            yield _event.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # not written by the store; nothing to show
