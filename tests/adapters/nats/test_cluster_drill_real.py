"""The whole-cluster drill with real processes, at the issue's size: three `serve --cluster`
nodes, 50 live sessions and 20 runs in flight together, `kill -9` of one node and a 5 s NATS
outage; every session continues from its last count on another node, every run finishes
with each step answered once (`_cluster_drill.py` says how; `python -m bench.bench_cluster
drill` runs the same drill and reports its figures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cluster_drill import cluster_drill
from ._runs_drill import CHAIN_WORKFLOW, CountingModel
from ._servers import NatsServer

pytestmark = pytest.mark.anyio


@pytest.mark.timeout(400)  # three servers on a shared machine; the bound stops a hang
async def test_sessions_and_runs_survive_a_kill_9_and_a_nats_outage_together(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    assets = tmp_path / "assets"
    (assets / "workflows").mkdir(parents=True)
    (assets / "workflows" / "chain.py").write_text(CHAIN_WORKFLOW)
    with CountingModel(delay_s=0.5) as model:
        report = await cluster_drill(
            tmp_path, nats_server, assets, model, sessions=50, runs=20, outage_s=5.0
        )
    assert len(report.rehydrated_ms) == 50
    assert report.taken_over >= 1
