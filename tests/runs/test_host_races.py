"""The runs host racing its run actors, on both loops (the `runtime` fixture): a change
forwarded to a run actor that is finishing meanwhile is answered as the store says (a
conflict once the run settled), never with the actor's exit (503 at the HTTP edge).

The race itself is made deterministic with a stand-in run actor that the host adopts: it
ends its run (as another process's cancel, or its last answer, would) just as the submit
reaches it, and exits without answering, normally or by crashing.

The subtree is built by hand around a scripted CortexFS (`tests/flow/_fakes.py`), so the
deterministic loop drives it; runs are written with an in-process `resolve` (the asset
evaluator's child process is tested in `test_hostile_assets.py`).
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import cast

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.cortex import CtxLayout
from lightflow_actors.flow import (
    AssetCatalog,
    EvaluationLimits,
    FlowError,
    FlowService,
    RunStore,
    RunView,
    SubmitNow,
    cancel_run,
    default_assets_root,
    resolve,
)
from lightflow_actors.kernel import Actor, ActorRef, Refused, handler
from lightflow_actors.runs import (
    AwaitSettled,
    HostMessage,
    HostNames,
    RefreshRun,
    RunActorRestarting,
    RunsHost,
    SubmitStep,
)
from lightflow_actors.supervision import ChildSpec, DynamicSupervisor, Supervisor

from ..conftest import Runtime
from ..flow._fakes import Answer, Clock, FakeCortex, fail, ok

ANSWER_DELAY_S = 0.05


class Settings(msgspec.Struct, frozen=True):
    """A `HostSettings` for a hand-built host."""

    state_dir: Path
    assets: Path
    layout: CtxLayout
    step_timeout_s: float = 600.0
    max_in_flight: int | None = None
    evaluation: EvaluationLimits = EvaluationLimits()
    asset_overlays: tuple[Path, ...] = ()


NAMES = HostNames("races")


async def start_host(system: ActorSystem, root: Path, answer: Answer) -> ActorRef[HostMessage]:
    settings = Settings(root / "state", default_assets_root(), CtxLayout(str(root / "ctx"), "1"))
    names = NAMES
    fake = FakeCortex(answer, ANSWER_DELAY_S)
    children: list[ChildSpec[object]] = [
        ChildSpec(id="cortex", start=lambda: fake, name=names.cortex),
        ChildSpec(
            id="active",
            start=lambda: DynamicSupervisor(intensity=50, period=10.0),
            type="supervisor",
            name=names.active,
        ),
        ChildSpec(
            id="host",
            start=lambda: RunsHost(settings, names, resume=False),
            name=names.host,
        ),
    ]
    await system.start_actor(
        lambda: Supervisor(children, strategy="rest_for_one"),  # type: ignore[arg-type]
        name=names.prefix,
    )
    host = system.whereis(names.host)
    assert host is not None
    return cast(ActorRef[HostMessage], host)


def write_run(root: Path, workflow: str, run_id: str, inputs: bytes = b"{}") -> None:
    catalog = AssetCatalog.scan(default_assets_root())
    service = FlowService(catalog, RunStore(root / "state"), Clock(), random.Random(1))
    service.create_resolved(resolve(catalog, workflow, inputs), run_id)


async def submit_while_it_finishes(
    host: ActorRef[HostMessage], run_id: str, step: str, delay_s: float
) -> RunView | Refused:
    await asyncio.sleep(delay_s)
    try:
        return await host.ask(SubmitStep(run_id, step))
    except Refused as refusal:
        return refusal


@pytest.mark.parametrize("answer", [ok, fail], ids=["succeeds", "fails"])
async def test_a_submit_racing_a_finishing_run_is_a_conflict_never_an_exit(
    runtime: Runtime, tmp_path: Path, answer: Answer
) -> None:
    offsets = [ANSWER_DELAY_S * k / 8 for k in range(24)]  # before, at and after its end
    for n in range(len(offsets)):
        write_run(tmp_path, "text-plan", f"r{n}", b'{"topic": "tea"}')
    async with runtime.system(allow_threads=True) as system:
        host = await start_host(system, tmp_path, answer)
        for n, offset in enumerate(offsets):
            run_id = f"r{n}"
            await host.ask(RefreshRun(run_id))  # driven from here on: it submits "plan"
            outcome = await submit_while_it_finishes(host, run_id, "plan", offset)
            if isinstance(outcome, Refused):
                assert isinstance(outcome, FlowError) and outcome.reason == "conflict", outcome
            settled = await host.ask(AwaitSettled(run_id))
            assert settled.status in ("succeeded", "failed")


class EndsAsTheSubmitArrives(Actor[SubmitNow]):
    """Stands for a run actor whose run ends (here: cancelled on disk, as by another
    process) just as a submit reaches it, and which then exits without answering."""

    def __init__(self, store: RunStore, run_id: str, exit: str) -> None:
        self.store = store
        self.run_id = run_id
        self.exit = exit

    @handler
    def submit_now(self, msg: SubmitNow) -> None:
        self.store.update(self.run_id, lambda m: cancel_run(m, reason="ended", now_ms=2))
        if self.exit == "crash":
            raise RuntimeError("the run actor died as its run ended")
        self.defer(msg)  # never answered: the actor exits first
        self.stop()


@pytest.mark.parametrize("exit", ["normal", "crash"])
async def test_a_run_ending_as_the_submit_reaches_its_actor_is_a_409_conflict(
    runtime: Runtime, tmp_path: Path, exit: str
) -> None:
    write_run(tmp_path, "text-plan", "e1", b'{"topic": "tea"}')
    store = RunStore(tmp_path / "state")
    async with runtime.system(allow_threads=True) as system:
        host = await start_host(system, tmp_path, ok)
        stand_in = EndsAsTheSubmitArrives(store, "e1", exit)
        await system.start_actor(lambda: stand_in, name=NAMES.run("e1"))
        with pytest.raises(FlowError) as refused:
            await host.ask(SubmitStep("e1", "plan"))
        assert refused.value.reason == "conflict"  # 409 at the HTTP edge, not 503
        assert "cancelled before step 'plan' could be submitted" in str(refused.value)
        assert system.whereis(NAMES.host) == host  # the host goes on
    assert store.manifest("e1").status == "cancelled"


class CrashesMidRun(Actor[SubmitNow]):
    @handler
    def submit_now(self, msg: SubmitNow) -> None:
        raise RuntimeError("a bug in the run actor")


async def test_a_run_actor_crashing_mid_run_is_unavailable_with_a_clear_message(
    runtime: Runtime, tmp_path: Path
) -> None:
    write_run(tmp_path, "text-plan", "c1", b'{"topic": "tea"}')
    async with runtime.system(allow_threads=True) as system:
        host = await start_host(system, tmp_path, ok)
        await system.start_actor(CrashesMidRun, name=NAMES.run("c1"))
        with pytest.raises(RunActorRestarting) as refused:
            await host.ask(SubmitStep("c1", "plan"))
        assert refused.value.reason == "unavailable" and "retry" in str(refused.value)
