"""A run's outputs stay out of its record (specs/cluster.md §Runs): small ones inline,
the others as objects of `lf_run_outputs` named by the record (size, SHA-256), so a run
whose outputs exceed NATS's 1 MiB message limit is published, read on another node,
taken over and installed whole; a missing or altered object is `CorruptRun`."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.adapters.nats import (
    NatsRuns,
    connect_cluster,
    open_lease_bucket,
    open_runs_bucket,
    run_key,
)
from lightflow_actors.adapters.nats._leases import NatsLeases
from lightflow_actors.adapters.nats._runs import (
    INLINE_OUTPUT_MAX,
    RUN_OUTPUTS_BUCKET,
    RunRecord,
    decode_record,
)
from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    CorruptRun,
    FlowService,
    RunManifest,
    RunStore,
    default_assets_root,
)
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.runs import RunCopy, install_copy, read_new_run

from ._servers import NatsServer

pytestmark = pytest.mark.anyio

MIB = 1 << 20


class _Clock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000


class V1RunRecord(msgspec.Struct, frozen=True):
    """The record as a node of the first runs version reads it (outputs inline only)."""

    owner: str
    epoch: int
    sequence: int
    status: str
    manifest: bytes
    outputs: dict[str, bytes] = {}


def _output(n: int, size: int) -> bytes:
    return msgspec.json.encode("x" * size + str(n))


async def test_outputs_past_the_message_limit_cross_nodes_by_reference(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    ca = await connect_cluster(nats_server.url, node="a")
    cb = await connect_cluster(nats_server.url, node="b")
    try:
        async with ActorSystem() as system:
            kv_a, kv_b = await open_runs_bucket(ca), await open_runs_bucket(cb)
            a = NatsRuns(system, ca, kv_a, NatsLeases(await open_lease_bucket(ca), "a"), "a")
            b = NatsRuns(system, cb, kv_b, NatsLeases(await open_lease_bucket(cb), "b"), "b")
            await a.start()
            await b.start()
            store_a, store_b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
            with contextlib.closing(AssetEvaluator()) as evaluator:  # its fork server stops here
                FlowService(
                    AssetCatalog.scan(default_assets_root()),
                    store_a,
                    _Clock(),
                    random.Random(1),
                    evaluator,
                ).create("text-plan", b'{"topic": "tea"}', "big")
            await a.created("big", read_new_run(store_a, "big"), lease=True)
            manifest = msgspec.json.decode(read_new_run(store_a, "big").manifest, type=RunManifest)
            (step,) = [s.id for s in manifest.steps][:1]
            big = {step: _output(1, 700 * 1024)}  # with the next, 1.4 MiB: past the limit
            small = {"note": b'"a small one"'}
            seq = manifest.sequence
            for outputs in (big, small, {"more": _output(2, 700 * 1024)}):
                seq += 1
                nxt = msgspec.structs.replace(manifest, sequence=seq)
                await a.publish(
                    "big",
                    RunCopy(
                        manifest=msgspec.json.encode(nxt),
                        events=(b'{"n": %d}' % seq,),
                        events_from=seq,
                        outputs=outputs,
                    ),
                )
            entry = await kv_a.get(f"{run_key('big')}.m")
            assert entry.value is not None and len(entry.value) < 64 * 1024  # the record
            record = decode_record(entry.value)
            assert record is not None
            assert set(record.refs) == {step, "more"} and record.outputs == small
            assert all(ref.size > INLINE_OUTPUT_MAX for ref in record.refs.values())
            # a node of the first version reads the record: small outputs inline, the
            # field it does not know ignored
            old = msgspec.msgpack.decode(entry.value, type=V1RunRecord)
            assert old.outputs == small and old.sequence == seq
            # node b reads the whole run, outputs from the object store
            copy = await b.latest("big")
            assert copy is not None
            total = sum(len(v) for v in copy.outputs.values())
            assert total > MIB
            assert copy.outputs[step] == big[step] and copy.outputs["note"] == small["note"]
            # a goes down: b takes the run over with its outputs, and writes on
            b.down.add("a")
            claimed = await b.claim("big")
            assert claimed is not None and claimed.outputs == copy.outputs
            install_copy(store_b, "big", claimed)
            on_disk = (store_b.run_dir("big") / "outputs" / f"{step}.json").read_bytes()
            assert on_disk == big[step]
            assert b.published_outputs("big") == frozenset({step, "note", "more"})
            # an object removed behind the record's back: the copy is refused, typed
            objects = await cb.jetstream().object_store(RUN_OUTPUTS_BUCKET)
            await objects.delete(record.refs["more"].name)
            reader = NatsRuns(system, cb, kv_b, NatsLeases(await open_lease_bucket(cb), "c"), "c")
            await reader.start()
            with pytest.raises(CorruptRun, match="not the one its record names"):
                await reader.latest("big")
            await reader.stop()
            await a.stop()
            await b.stop()
    finally:
        await ca.close()
        await cb.close()


def test_a_record_of_the_first_version_reads_with_no_references() -> None:
    old = msgspec.msgpack.encode(V1RunRecord("a", 1, 3, "running", b"{}", {"s": b"1"}))
    record = decode_record(old)
    assert record == RunRecord("a", 1, 3, "running", b"{}", {"s": b"1"}, {})
