"""`RunProgram` on its own: no actor, no files. A hypothesis state machine drives it with
every input a run can meet, in any order (answers, error files, timeouts, wakes at any
time, `run submit`, cancel, and `run retry` of a failed run: a new program remounted from
its manifest), answering its commands the way a host does; the manifest it keeps must be
the one its `Record` commands build, its events numbered without a gap, a retry must
leave every succeeded step as it was, and its trace must replay."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from lightflow_actors.flow import (
    Answer,
    AnswerError,
    AnswerTimeout,
    CacheAnswer,
    CacheEntry,
    CommitRequest,
    Committed,
    Create,
    Invalid,
    LookUpCache,
    Record,
    Refusal,
    ResolvedWorkflow,
    ResumeRun,
    Retry,
    RunEvent,
    RunManifest,
    RunProgram,
    StartRun,
    StepRequest,
    StepState,
    TraceExchange,
    Wake,
    WakeAt,
    apply_transition,
    json_form,
    run_mount,
)
from lightflow_actors.isa import (
    Instruction,
    Mount,
    Patched,
    PureInterpreter,
    Render,
    Replied,
    Shutdown,
    Submit,
    Tracer,
    from_json_value,
    read_trace,
)

VECTOR = Path(__file__).parents[1] / "vectors" / "isa" / "run" / "happy_path_two_steps.json"
WORKFLOW = msgspec.convert(msgspec.json.decode(VECTOR.read_bytes())["workflow"], ResolvedWorkflow)
T0 = 1_767_225_600_000
BODIES = {"count": '{"words": 3, "lines": 1}', "post": '{"text": "posted"}'}

Action = tuple[str, int]
actions = st.lists(
    st.tuples(
        st.sampled_from(
            ["answer", "bad-answer", "error", "timeout", "wake", "request", "cancel", "retry"]
        ),
        st.integers(min_value=0, max_value=3000),
    ),
    max_size=30,
)


class Host:
    """What a host does around the program: a clock, and the inputs its commands give back
    (every commit lands, every cache lookup misses)."""

    def __init__(self, out: io.BytesIO) -> None:
        self.program = RunProgram(WORKFLOW)
        self.tracer = Tracer(out.write)
        self.interpreter = PureInterpreter(self.program, tracer=None)
        self.now = T0
        self.records: list[Record | Create] = []
        self.wake_at: int | None = None
        self.traced = 0  # trace records asked for (the next one is `traced + 1`)
        # Steps that had succeeded when the run was retried, as they were then.
        self.kept: dict[str, StepState] = {}

    def step(self, instruction: Instruction) -> None:
        pending = [instruction]
        while pending:
            current = pending.pop(0)
            self.program.now_ms = self.now
            effects = self.interpreter.step(current)
            self.tracer.record(current, effects, at_ms=self.now)
            for command in self.program.take_commands():
                match command:
                    case Record() | Create():
                        self.records.append(command)
                    case TraceExchange():
                        self.traced += 1
                    case CommitRequest(step=step, request_id=request_id):
                        path = f"/ctx/inbox/{request_id}.req.json"
                        pending.append(_input(step, Committed(request_id=request_id, path=path)))
                    case LookUpCache(fingerprints=fingerprints):
                        entries = tuple(CacheEntry(fingerprint=f) for f in fingerprints)
                        pending.append(_input("r1", CacheAnswer(entries=entries)))
                    case WakeAt(at_ms=at_ms):
                        self.wake_at = at_ms if self.wake_at is None else min(self.wake_at, at_ms)
        if self.interpreter.phase == "live" and self.program.settled:
            self.step(self.program.ending())

    def retry(self) -> None:
        """`run retry`: remount the failed run from its manifest in a new program (its
        actor had stopped), then Submit the retry, as the runs host does."""
        manifest, outputs = self.program.manifest, dict(self.program.outputs)
        assert manifest is not None and manifest.status == "failed"
        event("a failed run was retried")
        self.kept |= {s.id: s for s in manifest.steps if s.status == "succeeded"}
        self.program = RunProgram(WORKFLOW)
        self.interpreter = PureInterpreter(self.program, tracer=None)
        self.wake_at = None
        params = ResumeRun(manifest=manifest, outputs=outputs, trace_seq=self.traced + 1, seed=5)
        self.step(run_mount("r1", WORKFLOW.workflow, params))
        self.step(Render())
        self.step(_input("r1", Retry(seq=manifest.sequence)))
        self.step(_input("r1", Wake()))

    def in_flight(self) -> list[tuple[str, str]]:
        manifest = self.program.manifest
        assert manifest is not None
        return [
            (s.id, s.request_id) for s in manifest.steps if s.request_id and s.status == "submitted"
        ]


def _input(event: str, payload: object) -> Submit:
    return Submit(event=event, payload=json_form(payload))


def _drive(host: Host, script: list[Action]) -> None:
    host.step(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs, seed=11)))
    host.step(Render())
    host.step(_input("r1", Wake()))
    for kind, n in script:
        if host.interpreter.phase == "closed":
            manifest = host.program.manifest
            if manifest is None or manifest.status != "failed":
                break
            if kind == "retry":
                host.retry()
            continue  # a failed run waits for a retry; nothing else reaches it
        host.now += n
        if host.wake_at is not None and host.wake_at <= host.now:
            host.wake_at = None
            host.step(_input("r1", Wake()))
        flying = host.in_flight()
        if kind == "wake":
            host.step(_input("r1", Wake()))
        elif kind == "request":
            host.step(_input(WORKFLOW.steps[n % 2].id, StepRequest()))
        elif kind == "cancel":
            host.step(Shutdown(reason="cancelled", detail="hypothesis"))
        elif kind == "retry":  # a run that has not failed: refused, nothing changes
            before = host.program.manifest
            host.step(_input("r1", Retry(seq=n)))
            assert host.program.manifest == before
        elif flying:
            step, request_id = flying[n % len(flying)]
            path = f"{step}/{request_id}"
            payload: object
            if kind == "answer":
                payload = Answer(request_id=request_id, path=path, body=BODIES[step])
            elif kind == "bad-answer":
                payload = Answer(request_id=request_id, path=path, body="not json")
            elif kind == "error":
                payload = AnswerError(request_id=request_id, path=path, error="io: disk")
            else:
                payload = AnswerTimeout(request_id=request_id, path=path, timeout_s=600)
            host.step(_input(step, payload))


@settings(max_examples=150, deadline=None)
@given(actions)
def test_the_program_keeps_the_manifest_its_records_build(script: list[Action]) -> None:
    out = io.BytesIO()
    host = Host(out)
    _drive(host, script)
    manifest = host.program.manifest
    assert manifest is not None

    # The disk, as a host builds it from the commands, is the program's manifest.
    first = host.records[0]
    assert isinstance(first, Create)
    disk: RunManifest = first.manifest
    for command in host.records[1:]:
        assert isinstance(command, Record)
        disk, _ = apply_transition(disk, command.transition)
    assert disk == manifest

    # Events are numbered 1..n without a gap, each sent to the watchers once.
    lines = list(read_trace(out.getvalue().splitlines()))
    events: list[RunEvent] = [
        msgspec.convert(e.diff, RunEvent)
        for line in lines
        for e in line.effects
        if isinstance(e, Patched)
    ]
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, manifest.sequence + 1))
    for state, step in zip(manifest.steps, WORKFLOW.steps, strict=True):
        # The retry policy counts the attempts since the last retry of the run.
        assert state.attempts - state.retries_from <= step.retry.max_attempts
    for step_id, kept in host.kept.items():
        assert manifest.step(step_id) == kept  # a retry never redoes a succeeded step
    if host.interpreter.phase == "closed":
        assert manifest.status in ("succeeded", "failed", "cancelled")

    # The trace replays: the same instructions at the same times give the same effects
    # (a Mount after the first is a retry's new program, remounted from the manifest).
    replay = RunProgram(WORKFLOW)
    interpreter = PureInterpreter(replay)
    for index, line in enumerate(lines):
        if index and isinstance(line.instruction, Mount):
            replay = RunProgram(WORKFLOW)
            interpreter = PureInterpreter(replay)
        replay.now_ms = line.at_ms
        assert interpreter.step(line.instruction) == line.effects
    assert replay.manifest == manifest


def test_a_mount_of_another_workflow_or_other_inputs_is_a_crash_not_a_guess() -> None:
    other = Mount(id="r1", target="article", params={"mode": "start", "inputs": {}})
    with pytest.raises(Invalid, match="this program runs 'count-then-post'"):
        PureInterpreter(RunProgram(WORKFLOW)).apply(other)
    wrong = run_mount("r1", WORKFLOW.workflow, StartRun(inputs={"text": "other"}))
    with pytest.raises(Invalid, match="resolve the workflow with these inputs first"):
        PureInterpreter(RunProgram(WORKFLOW)).apply(wrong)


def test_a_malformed_input_is_refused_with_the_path_of_the_bad_field() -> None:
    interpreter = PureInterpreter(RunProgram(WORKFLOW))
    interpreter.apply(run_mount("r1", WORKFLOW.workflow, StartRun(inputs=WORKFLOW.inputs)))
    interpreter.apply(Render())
    (effect,) = interpreter.apply(Submit(event="count", payload={"kind": "answer"}, ref="x"))
    assert isinstance(effect, Replied) and effect.ref == "x"
    refused = from_json_value(effect.payload, Refusal)
    assert refused.reason == "invalid" and "request_id" in refused.message
    assert isinstance(refused.as_error(), Invalid)
