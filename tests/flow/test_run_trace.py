"""A run traced by the ISA tracer, read back and replayed: the JSONL trace of a `RunActor`
holds every instruction it interpreted (mailbox messages decoded, inputs its commands gave
back) with the effects, and a `PureInterpreter(RunProgram(...))` fed the same instructions
at the same `at_ms` gives the same effects. Runs on the deterministic scheduler against a
store in a temp folder and a fake CortexFS."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import msgspec

from lightflow_actors.cortex import (
    Commit,
    CommitFailed,
    CortexOutcome,
    ErrorObserved,
    ErrorRecord,
    Observe,
    RequestCommitted,
    ResponseObserved,
)
from lightflow_actors.flow import (
    AssetCatalog,
    FlowService,
    GetRun,
    ResumeRun,
    RunActor,
    RunInput,
    RunMountParams,
    RunProgram,
    RunStore,
    StepSucceeded,
    default_assets_root,
)
from lightflow_actors.isa import (
    Mount,
    Patched,
    PureInterpreter,
    Render,
    Shutdown,
    Submit,
    Tracer,
    TraceRecord,
    from_json_value,
    read_trace,
)
from lightflow_actors.kernel import Actor, ActorSystem, handler
from lightflow_actors.testing import Scenario, run_schedule

from ._evaluator import SHARED
from ._fakes import Clock, body_for

CATALOG = AssetCatalog.scan(default_assets_root())


class FlakyCortex(Actor[Commit | Observe]):
    """Answers every commit after 0.5 s (the first attempt of `plan` and `summary` with an
    error file; every answer twice, so the run sees stale answers too), unless `silent`."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.commits: list[str] = []
        self.answers: dict[str, CortexOutcome] = {}

    @handler
    def commit(self, msg: Commit) -> RequestCommitted | CommitFailed:
        if msg.id in self.commits:
            return CommitFailed(msg.kind, msg.name, msg.id, "committed", "conflict")
        self.commits.append(msg.id)
        outcome: CortexOutcome
        if not self.silent and msg.id.startswith(("plan-1-", "summary-1-")):
            record = ErrorRecord(id=msg.id, kind="provider_error", message="HTTP 503")
            outcome = ErrorObserved(msg.kind, msg.name, msg.id, record)
        else:
            outcome = ResponseObserved(msg.kind, msg.name, msg.id, body_for(msg), None, None)
        self.answers[msg.id] = outcome
        if msg.notify is not None and not self.silent:
            delay = 0.5 + 0.001 * len(self.commits)
            self.send_after(delay, msg.notify, outcome)
            self.send_after(delay + 0.0005, msg.notify, outcome)
        return RequestCommitted(msg.kind, msg.name, msg.id, f"/ctx/inbox/{msg.id}.req.json")

    @handler
    def observe(self, msg: Observe) -> None:
        if msg.id in self.answers:
            msg.notify.tell(self.answers[msg.id])


def simulate(fn: Callable[[ActorSystem], object]) -> None:
    async def body(system: ActorSystem) -> None:
        await fn(system)  # type: ignore[misc]

    result = run_schedule(Scenario(body, allow_threads=True, name=fn.__name__), seed=3)
    if result.error is not None:
        raise result.error


def kind_of(instruction: Submit) -> str:
    """The `kind` of a run input (its tag)."""
    payload: RunInput = from_json_value(instruction.payload, RunInput)  # type: ignore[arg-type]
    tag = payload.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def replay(store: RunStore, run_id: str, records: list[TraceRecord]) -> None:
    """Feed the traced instructions to a fresh pure program at their `at_ms`."""
    program = RunProgram(store.resolved(run_id))
    interpreter = PureInterpreter(program)
    for index, record in enumerate(records):
        program.now_ms = record.at_ms
        assert interpreter.step(record.instruction) == record.effects, f"line {index + 1}"


def test_a_traced_run_reads_back_and_replays(tmp_path: Path) -> None:
    service = FlowService(CATALOG, RunStore(tmp_path), Clock(), random.Random(1), SHARED)
    service.create("article", b'{"topic": "owls"}', run_id="first")
    service.create("article", b'{"topic": "owls"}', run_id="second")
    traces = {"first": io.BytesIO(), "second": io.BytesIO()}

    async def scenario(system: ActorSystem) -> None:
        cortex = system.spawn(FlakyCortex)
        for run_id, out in traces.items():
            tracer = Tracer(out.write)
            run = await system.start_actor(
                lambda: RunActor(service.store, run_id, cortex, tracer=tracer)  # noqa: B023
            )
            await system.wait_exit(run)

    simulate(scenario)
    for run_id, out in traces.items():
        assert service.get(run_id).status == "succeeded"
        records = list(read_trace(out.getvalue().splitlines()))
        first, second, last = records[0].instruction, records[1].instruction, records[-1]
        assert isinstance(first, Mount) and first.id == run_id
        params: RunMountParams = from_json_value(first.params, RunMountParams)  # type: ignore[arg-type]
        assert isinstance(params, ResumeRun)
        assert isinstance(second, Render)
        assert last.instruction == Shutdown(reason="normal", detail="run succeeded")
        assert all(isinstance(r.instruction, Submit) for r in records[2:-1])
        # The events the program sent its watchers are the lines of events.jsonl.
        patched = [e.diff for r in records for e in r.effects if isinstance(e, Patched)]
        events = msgspec.json.decode(msgspec.json.encode(service.events(run_id)[1:]))
        assert patched == events
        replay(service.store, run_id, records)
    kinds = {
        kind_of(r.instruction)
        for r in read_trace(traces["first"].getvalue().splitlines())
        if isinstance(r.instruction, Submit)
    }
    assert kinds == {"wake", "cache", "committed", "answer", "error"}
    reused = [e for e in service.events("second") if isinstance(e, StepSucceeded) and e.cached_from]
    assert reused  # the second run's trace carries cache hits (with their values) too


def test_each_incarnation_of_a_killed_run_traces_a_replayable_stream(tmp_path: Path) -> None:
    service = FlowService(CATALOG, RunStore(tmp_path), Clock(), random.Random(1), SHARED)
    service.create("text-plan", b'{"topic": "tea"}', run_id="k")
    before, after = io.BytesIO(), io.BytesIO()

    async def scenario(system: ActorSystem) -> None:
        silent = FlakyCortex(silent=True)  # commits, never answers (the server dies)
        cortex = system.spawn(lambda: silent)
        run = await system.start_actor(
            lambda: RunActor(service.store, "k", cortex, tracer=Tracer(before.write))
        )
        view = await run.ask(GetRun())
        while view.steps[0].status != "submitted":
            view = await run.ask(GetRun())
        system.kill(run)
        await system.wait_exit(run)
        # Spawned, not started: with the answer already there it may settle (and exit)
        # before a start handshake would report.
        again = system.spawn(
            lambda: RunActor(service.store, "k", cortex, tracer=Tracer(after.write))
        )
        await system.wait_exit(again)

    simulate(scenario)
    assert service.get("k").status == "succeeded"
    for out in (before, after):
        replay(service.store, "k", list(read_trace(out.getvalue().splitlines())))
    resumed = list(read_trace(after.getvalue().splitlines()))
    kinds = [kind_of(r.instruction) for r in resumed if isinstance(r.instruction, Submit)]
    assert kinds[0] == "commit_failed"  # committed before the kill: observe it
    assert "answer" in kinds
