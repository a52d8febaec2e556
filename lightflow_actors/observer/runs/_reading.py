"""The blocking reads behind the runs page, run on the runs host's worker threads.

``list_rows`` reads every run's manifest, but a finished run whose ``manifest.json`` did
not change since the last read (same inode, mtime and size) is taken from the cache: a
finished run only changes again by a retry, which rewrites its manifest. A
``RunFollower`` follows one run the way ``run watch`` does: it reads the journal
(``events.jsonl``) and the trace from the byte offset it reached, complete lines only,
and the step files (request, answer, output) once each, at most ``MAX_FILE_BYTES`` of
each, and only inside the run's folder or the ``/ctx`` tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import msgspec

from lightflow_actors.flow import (
    ErrorObserved,
    FlowError,
    RequestCommitted,
    ResponseObserved,
    RunEvent,
    RunRetried,
    StepFailed,
    StepSubmitted,
    StepSucceeded,
    TemplateError,
    TraceRecord,
)
from lightflow_actors.isa import JSONValue
from lightflow_actors.runs import RunsOperations, read_complete_lines

from ._layout import layout
from ._model import TERMINAL, FileText, RunDetail, RunRow, StepView

MAX_FILE_BYTES: Final = 64 * 1024
"""Bytes of a request, answer or output file the page reads (the rest is only named)."""

MAX_TRACE: Final = 50
"""Trace records kept per step (the newest)."""

_LINES_PER_READ: Final = 4096

ListCache = dict[str, tuple[tuple[int, int, int], RunRow]]
"""Run id -> (the stat key of its manifest when read, its row)."""

_events = msgspec.json.Decoder(RunEvent)
_trace = msgspec.json.Decoder(TraceRecord)


def list_rows(ops: RunsOperations, cache: ListCache) -> tuple[RunRow, ...]:
    """Every readable run, newest first (a run whose files are broken is left out here;
    ``GET /runs/{id}`` says what is wrong with it).

    One ``scandir`` and one ``stat`` per run (plain strings, no ``Path`` per run: at
    thousands of runs the path objects cost more than the system calls)."""
    store = ops.store
    root = str(store.runs)
    seen: set[str] = set()
    rows: list[RunRow] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        run_id = entry.name
        try:
            st = os.stat(os.path.join(entry.path, "manifest.json"))
        except OSError:
            continue  # not a run folder (staging leftovers, a file), or not complete yet
        seen.add(run_id)
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = cache.get(run_id)
        if cached is not None and cached[0] == key and cached[1].status in TERMINAL:
            rows.append(cached[1])
            continue
        try:
            m = store.manifest(run_id)
        except (FlowError, OSError):
            continue
        done = sum(s.status in TERMINAL for s in m.steps)
        row = RunRow(
            m.run_id, m.workflow, m.status, m.created_at_ms, m.updated_at_ms, done, len(m.steps)
        )
        cache[run_id] = (key, row)
        rows.append(row)
    for gone in cache.keys() - seen:
        del cache[gone]
    rows.sort(key=lambda r: (-r.created_at_ms, r.run_id))
    return tuple(rows)


def read_file(path: Path, roots: tuple[Path, ...]) -> FileText:
    """At most ``MAX_FILE_BYTES`` of ``path`` if it lies under one of ``roots``: its JSON
    value, else its text (invalid UTF-8 replaced), else why not."""
    shown = str(path)
    try:
        real = path.resolve()
        if not any(real.is_relative_to(root) for root in roots):
            return FileText(shown, problem="outside the run folder and the /ctx tree")
        with open(real, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return FileText(shown, problem="no longer there")
    except (OSError, RuntimeError, ValueError) as exc:
        return FileText(shown, problem=f"unreadable: {exc}")
    truncated = len(data) > MAX_FILE_BYTES
    data = data[:MAX_FILE_BYTES]
    if not truncated:
        try:
            value: JSONValue = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            pass
        else:
            return FileText(shown, value=value)
    return FileText(shown, text=data.decode("utf-8", "replace"), truncated=truncated)


class _StepTimes(msgspec.Struct):
    started_ms: int | None = None
    ended_ms: int | None = None


class RunFollower:
    """Follows one run: each ``read(ops)`` gives its detail now, reading only what was
    appended since the last read. Not thread-safe: one read at a time (the feed awaits
    each)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._plan: tuple[str, str, dict[str, JSONValue], dict[str, JSONValue], str | None] | None
        self._plan = None
        self._steps: dict[str, tuple[str, str, tuple[str, ...], str | None]] = {}
        self._layout = layout(())
        self._event_offset = 0
        self._trace_offset = 0
        self._times: dict[str, _StepTimes] = {}
        self._trace: dict[str, list[TraceRecord]] = {}
        self._files: dict[tuple[str, str], FileText] = {}

    def read(self, ops: RunsOperations) -> RunDetail:
        """The run now (raises ``FlowError`` when it cannot be read: ``RunNotFound``...)."""
        store = ops.store
        run_dir = store.run_dir(self.run_id)
        if self._plan is None:
            resolved = store.resolved(self.run_id)
            self._plan = (
                resolved.workflow,
                resolved.title,
                resolved.inputs,
                resolved.input_schema,
                resolved.preset,
            )
            self._steps = {
                s.id: (
                    s.target,
                    s.address,
                    s.depends_on,
                    f"{s.model.provider}/{s.model.name}" if s.model else None,
                )
                for s in resolved.steps
            }
            self._layout = layout([(s.id, s.depends_on) for s in resolved.steps])
        manifest = store.manifest(self.run_id)
        for line in self._lines(run_dir / "events.jsonl", "_event_offset"):
            try:
                self._note_event(_events.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                continue
        for line in self._lines(run_dir / "trace.jsonl", "_trace_offset"):
            try:
                record = _trace.decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                continue
            kept = self._trace.setdefault(record.step, [])
            kept.append(record)
            del kept[:-MAX_TRACE]
        roots = (run_dir.resolve(), ops.layout.root_path.resolve())
        workflow, title, inputs, schema, preset = self._plan
        steps = []
        for state in manifest.steps:
            target, address, depends_on, model = self._steps.get(state.id, ("", "", (), None))
            times = self._times.get(state.id, _StepTimes())
            trace = tuple(self._trace.get(state.id, ()))
            steps.append(
                StepView(
                    id=state.id,
                    status=state.status,
                    attempts=state.attempts,
                    target=target,
                    address=address,
                    depends_on=depends_on,
                    model=model,
                    cached_from=state.cached_from,
                    error=state.error,
                    started_ms=times.started_ms,
                    ended_ms=times.ended_ms,
                    route=_route(trace),
                    trace=trace,
                    request=self._request(ops, state.id, trace, roots),
                    answer=self._answer(trace, roots),
                    output=self._output(run_dir, state.id, state.output, state.attempts, roots),
                )
            )
        return RunDetail(
            run_id=manifest.run_id,
            workflow=workflow,
            title=title,
            status=manifest.status,
            created_at_ms=manifest.created_at_ms,
            updated_at_ms=manifest.updated_at_ms,
            sequence=manifest.sequence,
            inputs=inputs,
            input_schema=schema,
            preset=preset,
            steps=tuple(steps),
            layout=self._layout,
        )

    def _lines(self, path: Path, offset_name: str) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            offset: int = getattr(self, offset_name)
            try:
                more, after = read_complete_lines(path, offset, _LINES_PER_READ)
            except OSError:
                return lines
            setattr(self, offset_name, after)
            lines.extend(more)
            if len(more) < _LINES_PER_READ:
                return lines

    def _note_event(self, event: RunEvent) -> None:
        if isinstance(event, StepSubmitted):
            self._times[event.step] = _StepTimes(started_ms=event.ts_ms)
        elif isinstance(event, StepSucceeded | StepFailed):
            times = self._times.setdefault(event.step, _StepTimes(started_ms=event.ts_ms))
            times.ended_ms = event.ts_ms
        elif isinstance(event, RunRetried):
            for step in event.steps:
                self._times.pop(step, None)

    def _file(self, key: tuple[str, str], path: Path, roots: tuple[Path, ...]) -> FileText:
        known = self._files.get(key)
        if known is None:
            known = self._files[key] = read_file(path, roots)
        return known

    def _request(
        self,
        ops: RunsOperations,
        step: str,
        trace: tuple[TraceRecord, ...],
        roots: tuple[Path, ...],
    ) -> FileText | None:
        committed = [r for r in trace if isinstance(r, RequestCommitted)]
        if not committed:
            return None
        last = committed[-1]
        found = self._file(("request", last.request_id), Path(last.path), roots)
        if found.problem is None:
            return found
        # The substrate may have moved the request on: render it again from the plan and
        # the outputs it depends on (exactly what was committed: the fingerprint says so).
        return self._files.setdefault(
            ("rendered", last.request_id), _render(ops, self.run_id, step)
        )

    def _answer(self, trace: tuple[TraceRecord, ...], roots: tuple[Path, ...]) -> FileText | None:
        for record in reversed(trace):
            if isinstance(record, ResponseObserved):
                return self._file(("answer", record.request_id), Path(record.path), roots)
            if isinstance(record, ErrorObserved):
                return self._file(("error", record.request_id), Path(record.path), roots)
        return None

    def _output(
        self, run_dir: Path, step: str, output: str | None, attempts: int, roots: tuple[Path, ...]
    ) -> FileText | None:
        if output is None:
            return None
        return self._file(("output", f"{step}:{attempts}:{output}"), run_dir / output, roots)


def _route(trace: tuple[TraceRecord, ...]) -> dict[str, JSONValue] | None:
    for record in reversed(trace):
        if isinstance(record, ResponseObserved) and record.route is not None:
            return record.route
    return None


def _render(ops: RunsOperations, run_id: str, step_id: str) -> FileText:
    store = ops.store
    try:
        step = store.resolved(run_id).step(step_id)
        outputs = {dep: store.output(run_id, dep) for dep in step.depends_on}
        return FileText(f"{step_id} (rendered from the plan)", value=step.render(outputs))
    except (FlowError, TemplateError, OSError) as exc:
        return FileText(f"{step_id} (rendered from the plan)", problem=str(exc))
