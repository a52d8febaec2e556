"""The run actor on the deterministic scheduler (virtual time, seeded schedules): DAG
execution with parallel branches, retries with backoff, caching, cancel, and resuming a
killed run without losing or repeating a step. CortexFS is a scripted fake actor."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.cortex import (
    Commit,
)
from lightflow_actors.flow import (
    AssetCatalog,
    Conflict,
    FlowService,
    NotFound,
    RunStore,
    StepFailed,
    StepSucceeded,
    default_assets_root,
)
from lightflow_actors.flow._run_actor import CancelRun, GetRun, RunActor, SubmitNow
from lightflow_actors.kernel import SHUTDOWN, ActorSystem
from lightflow_actors.testing import RunResult, Scenario, explore, run_schedule

from ._evaluator import SHARED
from ._fakes import Answer, Clock, FakeCortex, fail, ok

CATALOG = AssetCatalog.scan(default_assets_root())


def service(root: Path) -> FlowService:
    return FlowService(CATALOG, RunStore(root), Clock(), random.Random(1), SHARED)


async def run_to_end(
    system: ActorSystem, store: RunStore, run_id: str, answer: Answer, duplicate: bool = False
) -> FakeCortex:
    fake = FakeCortex(answer, duplicate=duplicate)
    cortex = system.spawn(lambda: fake)
    run = await system.start_actor(lambda: RunActor(store, run_id, cortex))
    await system.wait_exit(run)
    return fake


def simulate(fn: Callable[[ActorSystem], object], seed: int = 0) -> RunResult:
    async def body(system: ActorSystem) -> None:
        await fn(system)  # type: ignore[misc]

    result = run_schedule(Scenario(body, allow_threads=True, name=fn.__name__), seed=seed)
    if result.error is not None:
        raise result.error
    return result


def test_article_runs_to_success_with_parallel_branches(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="a1")
    seen: dict[str, FakeCortex] = {}

    async def scenario(system: ActorSystem) -> None:
        seen["fake"] = await run_to_end(system, svc.store, "a1", ok)

    simulate(scenario)
    view = svc.get("a1")
    assert view.status == "succeeded"
    assert all(s.attempts == 1 and s.output == f"outputs/{s.id}.json" for s in view.steps)
    assert seen["fake"].max_in_flight >= 2  # write-draft and plan-size ran together
    assert svc.store.output("a1", "plan-size") == {"words": 3, "lines": 1}
    summary = svc.store.output("a1", "summary")
    assert isinstance(summary, dict) and str(summary["text"]).startswith("text summary-1-")
    names = [type(e).__name__ for e in svc.events("a1")]
    assert names.count("StepSubmitted") == names.count("StepSucceeded") == 6
    trace = svc.trace("a1")
    assert [t.seq for t in trace] == list(range(1, 13))
    kinds = {type(t).__name__ for t in trace}
    assert kinds == {"RequestCommitted", "ResponseObserved"}
    notify = svc.store.runs / "a1" / "outputs" / "notify.json"
    assert msgspec.json.decode(notify.read_bytes()) == {"text": "posted"}


def test_retry_with_backoff_then_success(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="r")

    async def scenario(system: ActorSystem) -> None:
        start = system.clock.now()
        await run_to_end(system, svc.store, "r", lambda c, n: fail(c, n) if n < 3 else ok(c, n))
        assert system.clock.now() - start >= 0.8 + 1.6  # two backoffs (1 s, 2 s, ±20 %)

    simulate(scenario)
    plan = svc.get("r").steps[0]
    assert svc.get("r").status == "succeeded" and plan.attempts == 3
    failures = [e for e in svc.events("r") if isinstance(e, StepFailed)]
    assert [f.attempt for f in failures] == [1, 2]
    assert all(f.retry_at_ms is not None and "HTTP 503" in f.error for f in failures)
    assert [type(t).__name__ for t in svc.trace("r")].count("ErrorObserved") == 2


def test_attempts_run_out_and_the_run_fails(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="f")
    simulate(lambda system: run_to_end(system, svc.store, "f", fail))
    view = svc.get("f")
    assert view.status == "failed" and view.steps[0].attempts == 3
    assert view.steps[0].error == "provider_error: HTTP 503"


def test_second_identical_run_reuses_cached_outputs(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="first")
    svc.create("article", b'{"topic": "owls"}', run_id="second")
    fakes: list[FakeCortex] = []

    async def scenario(system: ActorSystem) -> None:
        fakes.append(await run_to_end(system, svc.store, "first", ok))
        fakes.append(await run_to_end(system, svc.store, "second", ok))

    simulate(scenario)
    assert svc.get("second").status == "succeeded"
    assert len(fakes[0].commits) == 6
    assert [c.split("-")[0] for c in fakes[1].commits] == ["notify"]  # policy "fresh"
    cached = [e for e in svc.events("second") if isinstance(e, StepSucceeded) and e.cached_from]
    assert {e.step for e in cached} == {
        "plan",
        "write-draft",
        "write-review",
        "plan-size",
        "summary",
    }
    assert svc.store.output("second", "plan") == svc.store.output("first", "plan")


def test_killed_run_resumes_without_losing_or_repeating_a_step(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="k")

    async def scenario(system: ActorSystem) -> None:
        silent = FakeCortex(lambda c, n: None)  # commits, never answers (the server dies)
        cortex = system.spawn(lambda: silent)
        run = await system.start_actor(lambda: RunActor(svc.store, "k", cortex))
        view = await run.ask(GetRun())
        while view.steps[0].status != "submitted":
            view = await run.ask(GetRun())
        system.kill(run)
        await system.wait_exit(run)
        # The answer lands while nobody runs; a new actor must pick it up, not re-commit.
        request_id = silent.commits[0]
        commit = Commit("api", "openai.chat", request_id, None)
        silent.answers[request_id] = ok(commit, 1)
        again = await system.start_actor(lambda: RunActor(svc.store, "k", cortex))
        await system.wait_exit(again)
        assert silent.commits == [request_id]

    simulate(scenario)
    view = svc.get("k")
    assert view.status == "succeeded" and view.steps[0].attempts == 1
    assert [e.seq for e in svc.events("k")] == [1, 2, 3]


def test_cancel_stops_the_run_and_late_answers_are_ignored(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="c")

    async def scenario(system: ActorSystem) -> None:
        fake = FakeCortex(ok)
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(lambda: RunActor(svc.store, "c", cortex))
        await run.ask(GetRun())
        view = await run.ask(CancelRun(reason="stop"))
        assert view.status == "cancelled"
        await system.wait_exit(run)

    simulate(scenario)
    assert svc.get("c").status == "cancelled"
    assert type(svc.events("c")[-1]).__name__ == "RunCancelled"


def test_external_cancel_is_noticed_without_a_crash(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="x")

    async def scenario(system: ActorSystem) -> None:
        fake = FakeCortex(ok)
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(lambda: RunActor(svc.store, "x", cortex))
        await run.ask(GetRun())
        svc.cancel("x", reason="from the CLI")  # another process writes the manifest
        reason = await system.wait_exit(run)
        assert reason == "normal"

    simulate(scenario)
    assert svc.get("x").status == "cancelled"


def test_submit_now_refuses_steps_that_are_not_ready(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="s")

    async def scenario(system: ActorSystem) -> None:
        cortex = system.spawn(lambda: FakeCortex(lambda c, n: None))
        run = await system.start_actor(lambda: RunActor(svc.store, "s", cortex))
        with pytest.raises(Conflict, match="waits for") as refused:
            await run.ask(SubmitNow("summary"))
        assert refused.value.reason == "conflict"
        with pytest.raises(NotFound, match="has no step 'nope'") as missing:
            await run.ask(SubmitNow("nope"))
        assert missing.value.reason == "not_found"
        assert run.alive  # saying no is not a crash
        await run.ask(CancelRun())

    simulate(scenario)


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_article_invariants_hold_across_schedules(tmp_path: Path, strategy: str) -> None:
    """Flaky provider, every answer delivered twice, many interleavings: the run still
    succeeds, every commit is one counted attempt, and events stay numbered 1..n."""
    counter = iter(range(10_000))

    async def article_completes(system: ActorSystem) -> None:
        root = tmp_path / f"s{next(counter)}"
        svc = service(root)
        svc.create("article", b'{"topic": "owls"}', run_id="e")
        flaky: Answer = lambda c, n: fail(c, n) if n % 3 == 0 else ok(c, n)  # noqa: E731
        fake = await run_to_end(system, svc.store, "e", flaky, duplicate=True)
        view = svc.get("e")
        assert view.status == "succeeded", view
        assert len(fake.commits) == sum(s.attempts for s in view.steps)
        assert [e.seq for e in svc.events("e")] == list(range(1, len(svc.events("e")) + 1))

    exploration = explore(
        Scenario(article_completes, allow_threads=True), seeds=8, strategy=strategy, out=None
    )
    exploration.raise_if_failed()


TWICE = """
import msgspec
from lightflow_actors.flow import ToolStep, Workflow

METADATA = {"id": "twice", "title": "Twice", "kind": "workflow",
            "description": "the same count twice", "stability": "stable"}

class Inputs(msgspec.Struct, frozen=True):
    text: str

class Text(msgspec.Struct, frozen=True):
    text: str

class Count(msgspec.Struct, frozen=True):
    words: int
    lines: int

def count(step_id, after):
    return ToolStep(id=step_id, tool="wordcount", input=Text, output=Count,
                    request={"text": "{inputs.text}"}, depends_on=after)

DEFINITION = Workflow(inputs=Inputs, steps=[count("a", []), count("b", ["a"])])
"""


def test_a_step_reuses_an_output_its_own_run_cached_moments_before(tmp_path: Path) -> None:
    """`b` asks the cache while `a`'s output and cache entry may still be buffered for the
    run's next commit (ADR 0100): it finds them there, and nothing is sent twice."""
    assets = tmp_path / "assets"
    (assets / "workflows").mkdir(parents=True)
    (assets / "workflows" / "twice.py").write_text(TWICE)
    catalog = AssetCatalog.scan(assets)
    svc = FlowService(catalog, RunStore(tmp_path / "state"), Clock(), random.Random(1), SHARED)
    svc.create("twice", b'{"text": "one two three"}', run_id="t")
    fakes: list[FakeCortex] = []

    async def scenario(system: ActorSystem) -> None:
        fakes.append(await run_to_end(system, svc.store, "t", ok))

    simulate(scenario)
    assert svc.get("t").status == "succeeded"
    assert [c.split("-")[0] for c in fakes[0].commits] == ["a"]
    (cached,) = [e for e in svc.events("t") if isinstance(e, StepSucceeded) and e.cached_from]
    assert cached.step == "b" and cached.cached_from is not None
    assert svc.store.output("t", "b") == svc.store.output("t", "a") == {"words": 3, "lines": 1}


def test_a_commits_trace_record_waits_at_most_the_trace_flush_then_is_written(
    tmp_path: Path,
) -> None:
    """A commit's `cortex.request.committed` rides with the run's next commit; with no
    answer coming it is written by the trace timer, and one left buffered when the actor
    is stopped is written on its way out (ADR 0100)."""
    from lightflow_actors.flow._run_actor import TRACE_FLUSH_S

    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="t1")
    svc.create("text-plan", b'{"topic": "tea"}', run_id="t2")
    traced: dict[str, list[str]] = {}

    async def scenario(system: ActorSystem) -> None:
        silent = FakeCortex(lambda c, n: None)  # commits, never answers
        cortex = system.spawn(lambda: silent)
        run = await system.start_actor(lambda: RunActor(svc.store, "t1", cortex))
        view = await run.ask(GetRun())
        while view.steps[0].status != "submitted":
            view = await run.ask(GetRun())
        traced["before"] = [type(t).__name__ for t in svc.trace("t1")]
        await asyncio.sleep(TRACE_FLUSH_S * 2)
        traced["after"] = [type(t).__name__ for t in svc.trace("t1")]
        system.exit(run, SHUTDOWN)
        await system.wait_exit(run)
        # Stopped at once after its commit: the record is written by `on_stop`.
        second = await system.start_actor(lambda: RunActor(svc.store, "t2", cortex))
        view = await second.ask(GetRun())
        while view.steps[0].status != "submitted":
            view = await second.ask(GetRun())
        system.exit(second, SHUTDOWN)
        await system.wait_exit(second)
        traced["stopped"] = [type(t).__name__ for t in svc.trace("t2")]

    simulate(scenario)
    assert traced["before"] == []
    assert traced["after"] == ["RequestCommitted"]
    assert traced["stopped"] == ["RequestCommitted"]
