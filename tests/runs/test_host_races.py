"""The runs host racing its run actors, on both loops (the `runtime` fixture): a change
forwarded to a run actor that is finishing meanwhile is answered as the store says (a
conflict once the run settled), never with the actor's exit (503 at the HTTP edge).

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
    default_assets_root,
    resolve,
)
from lightflow_actors.kernel import ActorRef, Refused
from lightflow_actors.runs import (
    AwaitSettled,
    HostMessage,
    HostNames,
    RefreshRun,
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


async def start_host(system: ActorSystem, root: Path, answer: Answer) -> ActorRef[HostMessage]:
    settings = Settings(root / "state", default_assets_root(), CtxLayout(str(root / "ctx"), "1"))
    names = HostNames("races")
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
