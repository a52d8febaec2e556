"""Run vectors (`tests/vectors/isa/run/`): the same instruction stream gives the same effects
and commands in `PureInterpreter(RunProgram(...))` and in the real `RunActor`.

The actor is driven the way a vector says: the steps a vector marks `"by": "host"` (the
Render after a Mount, wakes, the outcomes of commits and cache lookups, the closing
Shutdown) the actor makes itself; the test sends it the others at their `at_ms` on the
deterministic scheduler's virtual clock, against a store in a temp folder and a fake
CortexFS that records commits and answers none. The actor's trace must be the vector;
what its commands did (events, trace records, outputs, cache, commits) must be what the
vector's commands say.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec
import pytest

from lightflow_actors.cortex import Commit, CommitFailed, Observe, RequestCommitted
from lightflow_actors.flow import (
    CommitRequest,
    Create,
    ObserveAnswer,
    Record,
    RememberOutput,
    ResolvedWorkflow,
    ResumeRun,
    Retry,
    RunActor,
    RunCommand,
    RunMountParams,
    RunProgram,
    RunRequest,
    RunStore,
    TraceExchange,
    WriteOutput,
)
from lightflow_actors.isa import (
    Effect,
    Instruction,
    Mount,
    Patched,
    Phase,
    PureInterpreter,
    Rejected,
    Shutdown,
    Submit,
    Tracer,
    from_json_value,
    read_trace,
)
from lightflow_actors.kernel import Actor, ActorSystem, handler
from lightflow_actors.testing import Scenario, run_schedule

VECTORS = Path(__file__).parents[1] / "vectors" / "isa" / "run"


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    at_ms: int
    instruction: Instruction
    effects: list[Effect]
    commands: list[RunCommand]
    phase: Phase
    by: Literal["world", "host"] = "world"


class Vector(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str
    program: Literal["run"]
    run_id: str
    workflow: ResolvedWorkflow
    steps: list[Step]


ALL = [msgspec.json.decode(p.read_bytes(), type=Vector) for p in sorted(VECTORS.glob("*.json"))]


def _accepted(step: Step) -> bool:
    return not any(isinstance(e, Rejected) for e in step.effects)


def _until_closed(vector: Vector) -> list[Step]:
    """The steps up to the first accepted Shutdown: the actor exits right after it."""
    for index, step in enumerate(vector.steps):
        if isinstance(step.instruction, Shutdown) and _accepted(step):
            return vector.steps[: index + 1]
    return vector.steps


def test_the_vectors_cover_what_runs_must_show() -> None:
    assert {v.name for v in ALL} >= {
        "happy_path_two_steps",
        "submit_before_mount",
        "cancel_mid_run",
        "resume_from_manifest",
        "error_then_retry",
        "retry_failed_run",
    }
    assert all(v.name == p.stem for v, p in zip(ALL, sorted(VECTORS.glob("*.json")), strict=True))
    ops = {type(s.instruction).__name__ for v in ALL for s in v.steps}
    assert ops >= {"Mount", "Render", "Subscribe", "Submit", "Shutdown"}
    assert all(len(v.workflow.steps) == 2 for v in ALL)
    # Every vector ends closed; after a Shutdown nothing more is accepted.
    assert all(v.steps[-1].phase == "closed" for v in ALL)


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_pure_interpreter_matches_vector(vector: Vector) -> None:
    program = RunProgram(vector.workflow)
    interpreter = PureInterpreter(program)
    for index, step in enumerate(vector.steps):
        program.now_ms = step.at_ms
        assert interpreter.step(step.instruction) == step.effects, f"step {index}"
        assert program.take_commands() == step.commands, f"step {index}"
        assert interpreter.phase == step.phase, f"step {index}"


class RecordingCortex(Actor[Commit | Observe]):
    """Accepts every commit (refuses ids in `conflicts`, as the real client refuses an id
    committed before a restart) and answers nothing: the vector's world does."""

    def __init__(self, conflicts: set[str]) -> None:
        self.conflicts = conflicts
        self.commits: list[Commit] = []
        self.observed: list[str] = []

    @handler
    def commit(self, msg: Commit) -> RequestCommitted | CommitFailed:
        if msg.id in self.conflicts:
            return CommitFailed(
                msg.kind, msg.name, msg.id, "FileExistsError: committed", "conflict"
            )
        self.commits.append(msg)
        return RequestCommitted(msg.kind, msg.name, msg.id, f"/ctx/inbox/{msg.id}.req.json")

    @handler
    def observe(self, msg: Observe) -> None:
        self.observed.append(msg.id)


def _mount_params(vector: Vector) -> RunMountParams:
    for step in vector.steps:
        if isinstance(step.instruction, Mount) and _accepted(step):
            params: RunMountParams = from_json_value(step.instruction.params, RunMountParams)  # type: ignore[arg-type]
            return params
    raise AssertionError(f"vector {vector.name} mounts nothing")


def _prepare(store: RunStore, vector: Vector) -> set[str]:
    """The run folder as a resumed vector's Mount describes it (a started one has none);
    returns the request ids already committed before the "restart"."""
    params = _mount_params(vector)
    if not isinstance(params, ResumeRun):
        return set()
    manifest, workflow = params.manifest, vector.workflow
    request = RunRequest(
        run_id=manifest.run_id,
        workflow=workflow.workflow,
        inputs=workflow.inputs,
        created_at_ms=manifest.created_at_ms,
    )
    store.create(request, workflow, manifest)
    for step_id, value in params.outputs.items():
        store.write_output(manifest.run_id, step_id, value)
    return {s.request_id for s in manifest.steps if s.status == "submitted" and s.request_id}


def _retry(vector: Vector) -> Submit | None:
    """The retry the actor submits itself after the Mount (`RunActor(start_with=...)`), if
    the vector has one (a host step: `run retry` starts the actor with it)."""
    for step in vector.steps:
        instruction = step.instruction
        if step.by == "host" and isinstance(instruction, Submit):
            payload = instruction.payload
            if isinstance(payload, dict) and payload.get("kind") == "retry":
                from_json_value(payload, Retry)  # a well-formed retry
                return instruction
    return None


def _simulate(fn: Callable[[ActorSystem], object]) -> None:
    async def body(system: ActorSystem) -> None:
        await fn(system)  # type: ignore[misc]

    result = run_schedule(Scenario(body, allow_threads=True, name=fn.__name__), seed=0)
    if result.error is not None:
        raise result.error


@pytest.mark.parametrize("vector", ALL, ids=lambda v: v.name)
def test_run_actor_matches_vector(tmp_path: Path, vector: Vector) -> None:
    store = RunStore(tmp_path / "state")
    conflicts = _prepare(store, vector)
    resumed = isinstance(_mount_params(vector), ResumeRun)
    events_before = len(store.events(vector.run_id)) if resumed else 0
    steps = _until_closed(vector)
    out = io.BytesIO()
    fake = RecordingCortex(conflicts)

    async def drive(system: ActorSystem) -> None:
        assert system.clock.wall_ms() <= vector.steps[0].at_ms
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(
            lambda: RunActor(
                store,
                vector.run_id,
                cortex,
                tracer=Tracer(out.write),
                workflow=vector.workflow,
                resume=False,
                start_with=_retry(vector),
            )
        )
        for step in steps:
            if step.by == "host":
                continue
            await asyncio.sleep(max(0, step.at_ms - system.clock.wall_ms()) / 1000)
            run.tell(step.instruction)
        await system.wait_exit(run)

    _simulate(drive)

    records = list(read_trace(out.getvalue().splitlines()))
    assert [(r.at_ms, r.instruction) for r in records] == [(s.at_ms, s.instruction) for s in steps]
    for index, (record, step) in enumerate(zip(records, steps, strict=True)):
        assert record.effects == step.effects, f"step {index}"

    commands = [c for s in steps for c in s.commands]
    run_id = vector.run_id
    patched = [e.diff for s in steps for e in s.effects if isinstance(e, Patched)]
    events = [msgspec.to_builtins(e) for e in store.events(run_id)[events_before:]]
    assert msgspec.json.decode(msgspec.json.encode(events)) == patched
    recorded = [c for c in commands if isinstance(c, Record | Create)]
    assert len(recorded) == len(patched)
    assert store.trace(run_id) == [c.record for c in commands if isinstance(c, TraceExchange)]
    assert [(c.id, c.body) for c in fake.commits] == [
        (c.request_id, c.body)
        for c in commands
        if isinstance(c, CommitRequest) and c.request_id not in conflicts
    ]
    assert fake.observed == [c.request_id for c in commands if isinstance(c, ObserveAnswer)]
    for c in commands:
        if isinstance(c, WriteOutput):
            assert store.output(run_id, c.step) == c.value
        if isinstance(c, RememberOutput):
            assert store.cached_output(c.cached.fingerprint) == c.cached

    # The manifest on disk is the one the pure program ends with.
    program = RunProgram(vector.workflow)
    interpreter = PureInterpreter(program)
    for step in vector.steps:
        program.now_ms = step.at_ms
        interpreter.step(step.instruction)
    assert store.manifest(run_id) == program.manifest
