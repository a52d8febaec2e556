"""`LF_RUN_EVENTS` keeps run events for a bounded age and size (specs/cluster.md §Runs):
the stream is created with the node's retention, a node started with another retention
updates it, and a run whose early events went past the limit is refused as `CorruptRun`
naming the retention (never half installed)."""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import pytest

from lightflow_actors.adapters.cli._serve import _positive_seconds
from lightflow_actors.adapters.nats import (
    RUN_EVENTS_STREAM,
    EventsRetention,
    NatsRuns,
    connect_cluster,
    open_lease_bucket,
    open_runs_bucket,
)
from lightflow_actors.adapters.nats._leases import NatsLeases
from lightflow_actors.adapters.nats._runs import EVENTS_MAX_AGE_S, EVENTS_MAX_BYTES
from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    CorruptRun,
    FlowService,
    RunStore,
    default_assets_root,
)
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.runs import read_new_run

from ._servers import NatsServer

pytestmark = pytest.mark.anyio


class _Clock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000


async def test_the_stream_takes_the_nodes_retention_and_old_events_go(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    client = await connect_cluster(nats_server.url, node="a")
    try:
        async with ActorSystem() as system:
            leases = NatsLeases(await open_lease_bucket(client), "a")
            kv = await open_runs_bucket(client)
            first = NatsRuns(system, client, kv, leases, "a")
            await first.start()
            js = client.jetstream()
            config = (await js.stream_info(RUN_EVENTS_STREAM)).config
            assert (config.max_age, config.max_bytes) == (EVENTS_MAX_AGE_S, EVENTS_MAX_BYTES)
            await first.stop()
            # a node started with another retention updates the stream
            small = EventsRetention(max_age_s=3600.0, max_bytes=1024)
            runs = NatsRuns(system, client, kv, leases, "a", retention=small)
            await runs.start()
            config = (await js.stream_info(RUN_EVENTS_STREAM)).config
            assert (config.max_age, config.max_bytes) == (3600.0, 1024)
            # more events than 1 KiB: the oldest go, and the run whose first events
            # went cannot be copied; the error names the retention
            store = RunStore(tmp_path / "a")
            evaluator = AssetEvaluator()
            service = FlowService(
                AssetCatalog.scan(default_assets_root()),
                store,
                _Clock(),
                random.Random(1),
                evaluator,
            )
            try:
                for n in range(12):
                    service.create("text-plan", b'{"topic": "tea"}', f"r{n}")
                    await runs.created(f"r{n}", read_new_run(store, f"r{n}"), lease=False)
            finally:
                evaluator.close()  # its fork server stops here, not in the GC
            state = (await js.stream_info(RUN_EVENTS_STREAM)).state
            assert state.bytes <= 1024 and state.first_seq > 1
            with pytest.raises(CorruptRun, match="retention"):
                await runs.latest("r0")
            newest = await runs.latest("r11")  # the newest run's events are all there
            assert newest is not None and newest.events == tuple(store.events_raw("r11"))
            await runs.stop()
    finally:
        await client.close()


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "ten", "", "1e999"])
def test_a_bad_max_age_flag_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
        _positive_seconds(text)


def test_a_good_max_age_flag_is_seconds() -> None:
    assert _positive_seconds("86400") == 86400.0
    assert _positive_seconds("0.5") == 0.5
