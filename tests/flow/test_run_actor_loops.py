"""The run actor's core scenarios on both loops (the ``runtime`` fixture): a workflow runs to
``succeeded``, a failed step is retried after its backoff, a cancel stops a run mid-way,
a killed run resumes from its manifest without losing or repeating a step, and the line
between a crash and a refusal: an invariant broken while a notice is handled crashes the
actor (its supervisor resumes the run from the manifest), a bad ask is refused.

CortexFS is an in-memory fake actor. The run store writes under ``tmp_path``; on the
deterministic loop its ``run_blocking`` file I/O runs inline (``allow_threads=True``).
``test_run_actor.py`` explores more schedules of the same actor on the deterministic loop.
"""

from __future__ import annotations

import asyncio
import functools
import random
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.cortex import (
    Commit,
    Observe,
)
from lightflow_actors.flow import (
    AssetCatalog,
    CancelRun,
    Conflict,
    FailTransition,
    FlowService,
    GetRun,
    NotFound,
    RunActor,
    RunInvariantBroken,
    RunMessage,
    RunStore,
    RunView,
    StepFailed,
    StepSubmitted,
    StepTransitionError,
    SubmitNow,
    apply_transition,
    default_assets_root,
)
from lightflow_actors.kernel import ActorRef
from lightflow_actors.supervision import ChildSpec, DynamicSupervisor, start_child

from ..conftest import Runtime
from ._evaluator import SHARED
from ._fakes import Answer, Clock, FakeCortex, fail, never, ok

ANSWER_DELAY_S = 0.05
"""How long the fake takes to answer: real time on the real loop, so kept short."""

LATE_ANSWER_S = 0.3
"""How long the answer takes in the cancel scenario: it must arrive after the cancel."""

PARALLEL_ANSWER_S = 0.4
"""How long answers take where a test checks two branches were in flight together."""

QUICK_BACKOFF_S = 0.05
"""The first backoff of the `quick` policy (20 % jitter), so a retry costs little real time."""


def service(root: Path, catalog: AssetCatalog | None = None) -> FlowService:
    catalog = catalog or AssetCatalog.scan(default_assets_root())
    return FlowService(catalog, RunStore(root / "state"), Clock(), random.Random(1), SHARED)


def quick_catalog(root: Path) -> AssetCatalog:
    """The shipped assets plus `quick-plan`: text-plan with a short retry backoff."""
    assets = root / "assets"
    shutil.copytree(default_assets_root(), assets)
    (assets / "policies" / "quick.py").write_text(
        textwrap.dedent(
            f'''
            """Quick retries for tests."""

            from lightflow_actors.flow import Policy, RetryPolicy

            METADATA = {{
                "id": "quick",
                "title": "Quick retries",
                "kind": "policy",
                "description": "3 attempts, {QUICK_BACKOFF_S} s backoff.",
                "stability": "experimental",
            }}

            DEFINITION = Policy(
                retry=RetryPolicy(max_attempts=3, initial_backoff_s={QUICK_BACKOFF_S}),
                cache=False,
            )
            '''
        )
    )
    text_plan = (assets / "workflows" / "text_plan.py").read_text()
    quick_plan = text_plan.replace('"id": "text-plan"', '"id": "quick-plan"').replace(
        "DEFINITION = Workflow(", 'DEFINITION = Workflow(\n    policy="quick",'
    )
    assert quick_plan.count("quick") == 2, "text_plan.py changed shape; update quick_catalog"
    (assets / "workflows" / "quick_plan.py").write_text(quick_plan)
    return AssetCatalog.scan(assets)


async def run_to_end(
    system: ActorSystem,
    store: RunStore,
    run_id: str,
    answer: Answer,
    delay: float = ANSWER_DELAY_S,
) -> FakeCortex:
    fake = FakeCortex(answer, delay)
    cortex = system.spawn(lambda: fake)
    run = await system.start_actor(lambda: RunActor(store, run_id, cortex))
    await system.wait_exit(run)
    return fake


async def until_a_step_is_submitted(run: ActorRef[GetRun]) -> RunView:
    view = await run.ask(GetRun())
    while not any(s.status == "submitted" for s in view.steps):
        view = await run.ask(GetRun())
    return view


async def test_a_workflow_runs_to_succeeded_with_parallel_branches(
    runtime: Runtime, tmp_path: Path
) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="a1")
    async with runtime.system(allow_threads=True) as system:
        # Long enough that the second branch is committed before the first answers even
        # on a loaded machine (real time on the real loop; virtual on the deterministic).
        fake = await run_to_end(system, svc.store, "a1", ok, delay=PARALLEL_ANSWER_S)
    view = svc.get("a1")
    assert view.status == "succeeded"
    assert all(s.attempts == 1 and s.output == f"outputs/{s.id}.json" for s in view.steps)
    assert fake.max_in_flight >= 2  # write-draft and plan-size ran together
    assert svc.store.output("a1", "plan-size") == {"words": 3, "lines": 1}
    names = [type(e).__name__ for e in svc.events("a1")]
    assert names.count("StepSubmitted") == names.count("StepSucceeded") == 6
    assert [e.seq for e in svc.events("a1")] == list(range(1, len(names) + 1))


async def test_a_failed_step_is_retried_after_its_backoff(runtime: Runtime, tmp_path: Path) -> None:
    svc = service(tmp_path, quick_catalog(tmp_path))
    svc.create("quick-plan", b'{"topic": "tea"}', run_id="r")
    async with runtime.system(allow_threads=True) as system:
        start = system.clock.now()
        fake = await run_to_end(
            system, svc.store, "r", lambda c, n: fail(c, n) if n == 1 else ok(c, n)
        )
        took = system.clock.now() - start
    view = svc.get("r")
    assert view.status == "succeeded" and view.steps[0].attempts == 2
    assert len(fake.commits) == 2
    (failure,) = [e for e in svc.events("r") if isinstance(e, StepFailed)]
    assert failure.attempt == 1 and "HTTP 503" in failure.error
    assert failure.retry_at_ms is not None
    assert failure.retry_at_ms - failure.ts_ms >= QUICK_BACKOFF_S * 0.8 * 1000
    assert took >= QUICK_BACKOFF_S * 0.8  # the second attempt waited for the backoff


async def test_cancel_mid_run_stops_it_and_the_late_answer_is_ignored(
    runtime: Runtime, tmp_path: Path
) -> None:
    svc = service(tmp_path)
    svc.create("article", b'{"topic": "owls"}', run_id="c")
    async with runtime.system(allow_threads=True) as system:
        # Slow answers: on the real loop the cancel must come first even under load.
        fake = FakeCortex(ok, delay=LATE_ANSWER_S)
        cortex = system.spawn(lambda: fake)
        run = await system.start_actor(lambda: RunActor(svc.store, "c", cortex))
        await until_a_step_is_submitted(run)
        view = await run.ask(CancelRun(reason="stop"))
        assert view.status == "cancelled"
        await system.wait_exit(run)
        assert fake.in_flight  # its answer is still on the way...
        await asyncio.sleep(2 * LATE_ANSWER_S)
        assert not fake.in_flight
    assert svc.get("c").status == "cancelled"  # ...and changed nothing when it came
    events = svc.events("c")
    assert type(events[-1]).__name__ == "RunCancelled"
    assert not any(type(e).__name__ == "StepSucceeded" for e in events)


async def test_a_killed_run_resumes_from_its_manifest_without_repeating_a_step(
    runtime: Runtime, tmp_path: Path
) -> None:
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="k")
    async with runtime.system(allow_threads=True) as system:
        silent = FakeCortex(never, ANSWER_DELAY_S)
        cortex = system.spawn(lambda: silent)
        run = await system.start_actor(lambda: RunActor(svc.store, "k", cortex))
        await until_a_step_is_submitted(run)
        system.kill(run)
        await system.wait_exit(run)
        # The answer lands while nobody runs; a new actor must pick it up, not re-commit.
        (request_id,) = silent.commits
        silent.answers[request_id] = ok(Commit("api", "openai.chat", request_id, None), 1)
        # spawn, not start_actor: the resumed run can end before start_actor's caller
        # resumes, and start_actor then reports StartFailed("normal") (a kernel race).
        again = system.spawn(lambda: RunActor(svc.store, "k", cortex))
        assert await system.wait_exit(again) == "normal"
        assert silent.commits == [request_id]
    view = svc.get("k")
    assert view.status == "succeeded" and view.steps[0].attempts == 1
    assert [e.seq for e in svc.events("k")] == [1, 2, 3]


async def supervised_run(
    system: ActorSystem, store: RunStore, run_id: str, cortex: ActorRef[Commit | Observe]
) -> ActorRef[RunMessage]:
    """The run actor as the runs host starts it: a `transient` child of a dynamic
    supervisor, registered under a name that every incarnation takes over."""
    runs = await system.start_actor(lambda: DynamicSupervisor())
    spec = ChildSpec(
        id=f"run:{run_id}",
        start=lambda: RunActor(store, run_id, cortex),
        restart="transient",
        name=f"run:{run_id}",
    )
    return await start_child(runs, spec)


async def until(done: Callable[[], bool], what: str) -> None:
    for _ in range(1_000):  # 10 s at most on the real loop; no wall time on the other
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


async def test_an_invariant_broken_by_a_notice_crashes_the_run_and_it_resumes(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The manifest on disk moves under the actor (the step goes back to planned), then
    the answer to the old attempt arrives as a notice (a `tell`): its transition is
    refused by the store. That must crash the actor, not be dropped as a refusal with no
    asker, so that its supervisor restarts it from the manifest and the run goes on."""
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="i")
    async with runtime.system(allow_threads=True) as system:
        fake = FakeCortex(lambda c, n: None if n == 1 else ok(c, n), ANSWER_DELAY_S)
        cortex = system.spawn(lambda: fake)
        run = await supervised_run(system, svc.store, "i", cortex)
        await until_a_step_is_submitted(run)
        (first,) = fake.commits
        now = system.clock.wall_ms()
        reset = FailTransition(step="plan", error="reset by hand", now_ms=now, retry_at_ms=now)
        svc.store.update("i", functools.partial(apply_transition, transition=reset))
        run.tell(ok(Commit("api", "openai.chat", first, None), 1))
        # A refusal dropped at debug level would leave the actor running: no exit at all.
        reason = await asyncio.wait_for(system.wait_exit(run), timeout=10)
        assert isinstance(reason, RunInvariantBroken), reason
        assert isinstance(reason.__cause__, StepTransitionError)
        # The next incarnation resumes from the manifest: attempt 2, answered this time.
        await until(lambda: svc.get("i").status == "succeeded", "the run succeeded")
    assert len(fake.commits) == 2 and fake.commits[0] == first
    view = svc.get("i")
    assert view.steps[0].attempts == 2
    submitted = [e for e in svc.events("i") if isinstance(e, StepSubmitted)]
    assert [e.attempt for e in submitted] == [1, 2]
    (failure,) = [e for e in svc.events("i") if isinstance(e, StepFailed)]
    assert failure.error == "reset by hand"
    assert [e.seq for e in svc.events("i")] == list(range(1, len(svc.events("i")) + 1))


async def test_a_bad_ask_is_refused_and_the_run_goes_on(runtime: Runtime, tmp_path: Path) -> None:
    """`SubmitNow` of an unknown step, or of a step already submitted: the asker gets the
    typed refusal with its reason; the actor neither crashes nor restarts."""
    svc = service(tmp_path)
    svc.create("text-plan", b'{"topic": "tea"}', run_id="b")
    async with runtime.system(allow_threads=True) as system:
        fake = FakeCortex(ok, delay=LATE_ANSWER_S)
        cortex = system.spawn(lambda: fake)
        run = await supervised_run(system, svc.store, "b", cortex)
        await until_a_step_is_submitted(run)
        with pytest.raises(NotFound, match="has no step 'nope'") as missing:
            await run.ask(SubmitNow("nope"))
        assert missing.value.reason == "not_found"
        with pytest.raises(Conflict, match="is submitted") as busy:
            await run.ask(SubmitNow("plan"))
        assert busy.value.reason == "conflict"
        assert run.alive and system.whereis("run:b") == run  # the same incarnation
        assert await system.wait_exit(run) == "normal"
    assert svc.get("b").status == "succeeded" and len(fake.commits) == 1
