"""A run's copy in JetStream and its fencing, over a real NATS server (in-process nodes):
a created run is in the cluster once, a live owner's run is refused to others, a down
owner's run is taken over with its whole copy, and the stale owner can then neither
publish nor confirm (`RunFenced`). Hostile copies and records change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NoStreamResponseError

from lightflow_actors.adapters.http import cluster_message_types
from lightflow_actors.adapters.nats import (
    REGISTRY_NAME,
    ClusterUnavailable,
    NatsRuns,
    NodeDown,
    RemoteRegistry,
    connect_cluster,
    open_lease_bucket,
    open_registry_bucket,
    open_runs_bucket,
    run_key,
)
from lightflow_actors.adapters.nats._leases import NatsLeases
from lightflow_actors.adapters.nats._remote import DOWN_AFTER_S
from lightflow_actors.adapters.nats._runs import RunWarden, decode_record, run_of_key
from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    CorruptRun,
    FlowService,
    RunExists,
    RunFenced,
    RunManifest,
    RunStore,
    RunView,
    cancel_run,
    default_assets_root,
)
from lightflow_actors.kernel import Actor, ActorSystem, Refused, handler
from lightflow_actors.kernel._ref import DEFAULT_ASK_TIMEOUT
from lightflow_actors.runs import (
    CancelRun,
    RunCopy,
    RunHostedElsewhere,
    install_copy,
    read_copy,
    read_new_run,
)

from ._servers import NatsServer

pytestmark = pytest.mark.anyio


class _Clock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000


def _create(store: RunStore, run_id: str) -> None:
    with contextlib.closing(AssetEvaluator()) as evaluator:  # its fork server stops here
        service = FlowService(
            AssetCatalog.scan(default_assets_root()), store, _Clock(), random.Random(1), evaluator
        )
        service.create("text-plan", b'{"topic": "tea"}', run_id)


async def node_runs(
    system: ActorSystem, client: Client, node: str, *, down_after_s: float = DOWN_AFTER_S
) -> NatsRuns:
    """Node `node`'s cluster side of its runs, on its own runs and lease buckets."""
    return NatsRuns(
        system,
        client,
        await open_runs_bucket(client),
        NatsLeases(await open_lease_bucket(client), node),
        node,
        down_after_s=down_after_s,
    )


@pytest.fixture
async def system() -> AsyncIterator[ActorSystem]:
    async with ActorSystem() as system:
        yield system


async def test_a_run_moves_only_when_its_owner_is_down_and_the_stale_owner_is_fenced(
    nats_server: NatsServer, system: ActorSystem, tmp_path: Path
) -> None:
    ca = await connect_cluster(nats_server.url, node="a")
    cb = await connect_cluster(nats_server.url, node="b")
    try:
        a = await node_runs(system, ca, "a")
        b = await node_runs(system, cb, "b")
        await a.start()
        await b.start()
        store_a, store_b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
        _create(store_a, "r1")
        await a.created("r1", read_new_run(store_a, "r1"), lease=True)
        with pytest.raises(RunExists):  # one run of an id in the cluster
            await b.created("r1", read_new_run(store_a, "r1"), lease=False)
        # any node reads the run: the whole copy installs into another folder
        latest = await b.latest("r1")
        assert latest is not None
        install_copy(store_b, "r1", latest, force=False)
        assert store_b.manifest("r1") == store_a.manifest("r1")
        assert store_b.events_raw("r1") == store_a.events_raw("r1")
        assert store_b.request("r1") == store_a.request("r1")
        # a is up (heard now): its run is not b's to take
        b.heard["a"] = system.clock.now()
        with pytest.raises(RunHostedElsewhere, match="node a"):
            await b.claim("r1")
        assert await b.route("r1") == "a"
        # a goes silent past the lease period: b takes the lease over, gets the copy
        b.down.add("a")
        assert await b.route("r1") == "b"
        copy = await b.claim("r1")
        assert copy is not None and copy.manifest == latest.manifest
        assert b.taken_over == 1
        # the stale owner wakes up with the answer of a call it made under its lease: the
        # takeover wrote the record (b's claim), so a's compare-and-set fails: fenced
        manifest = msgspec.json.decode(copy.manifest, type=RunManifest)
        seq = manifest.sequence + 1
        next_manifest = msgspec.json.encode(msgspec.structs.replace(manifest, sequence=seq))
        stale = RunCopy(
            manifest=next_manifest,
            events=(b'{"from": "the stale owner"}',),  # in the stream before its record
            events_from=seq,
            outputs={"plan": b'"from the stale owner"'},
        )
        with pytest.raises(RunFenced, match="revision moved"):
            await a.publish("r1", stale)
        with pytest.raises(RunFenced):  # and it may not call a provider again
            await a.confirm("r1")
        assert (await b.latest("r1")) == copy  # nothing of the stale owner's is in the run
        assert (await a.latest("r1")) == copy  # a reader that has read the stale line too
        # the new owner writes on, by compare-and-set on its own revision; its line for the
        # same seq (a later epoch) replaces the stale one for every reader
        await b.confirm("r1")
        new = RunCopy(
            manifest=next_manifest,
            events=(b'{"from": "the new owner"}',),
            events_from=seq,
            outputs={"plan": b'"ok"'},
        )
        await b.publish("r1", new)
        after = await a.latest("r1")
        assert after is not None and after.outputs == {"plan": b'"ok"'}
        assert after.events[-1] == b'{"from": "the new owner"}' and len(after.events) == seq
        assert a.fenced >= 1
        assert "r1" in a.journals  # a run in flight: its journal is kept for the next copy
        settled = msgspec.structs.replace(manifest, sequence=seq, cancelled=True)
        await b.publish(
            "r1", RunCopy(manifest=msgspec.json.encode(settled), outputs={"plan": b'"ok"'})
        )
        final = await a.latest("r1")
        assert final is not None
        assert msgspec.json.decode(final.manifest, type=RunManifest).status == "cancelled"
        assert "r1" not in a.journals  # settled: nothing of it held in memory any more
        await b.release("r1")
        await a.stop()
        await b.stop()
    finally:
        await ca.close()
        await cb.close()


async def test_a_record_that_does_not_decode_is_refused_not_installed(
    nats_server: NatsServer, system: ActorSystem, tmp_path: Path
) -> None:
    client = await connect_cluster(nats_server.url, node="a")
    try:
        kv = await open_runs_bucket(client)
        runs = NatsRuns(system, client, kv, NatsLeases(await open_lease_bucket(client), "a"), "a")
        await runs.start()
        await kv.put(f"{run_key('junk')}.m", b"\xc1 not a record")
        await kv.put(f"{run_key('junk')}.r", b"\xc1")
        with pytest.raises(CorruptRun):
            await runs.latest("junk")
        assert await runs.latest("nobody") is None
        await runs.stop()
    finally:
        await client.close()


@given(st.text(min_size=1, max_size=300))
def test_run_keys_are_tokens_and_give_the_run_back(run_id: str) -> None:
    token = run_key(run_id)
    assert "." not in token and "*" not in token and ">" not in token and " " not in token
    assert run_of_key(token) == run_id


@given(st.binary(max_size=512))
def test_hostile_record_bytes_decode_to_nothing(data: bytes) -> None:
    record = decode_record(data)
    assert record is None or isinstance(record.manifest, bytes)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    manifest=st.one_of(
        st.binary(max_size=200),
        st.just(b"\xff\xfe invalid utf-8"),
        st.just(b"[" * 5000 + b"]" * 5000),
        st.just(b'{"run_id": "r1"}'),
    ),
    outputs=st.dictionaries(
        st.sampled_from(["../escape", "a/b", "", ".hidden", "ok"]), st.binary(max_size=8)
    ),
)
def test_a_hostile_copy_is_refused_and_writes_nothing(
    tmp_path: Path, manifest: bytes, outputs: dict[str, bytes]
) -> None:
    store = RunStore(tmp_path / "state")
    copy = RunCopy(manifest=manifest, outputs=outputs, request=b"{}", workflow=b"{}")
    with pytest.raises(CorruptRun):
        install_copy(store, "r1", copy)
    assert not (tmp_path / "state" / "runs" / "r1" / "manifest.json").exists()
    assert not (tmp_path / "escape.json").exists()


def test_a_copy_whose_events_do_not_reach_its_manifest_is_refused(tmp_path: Path) -> None:
    source = RunStore(tmp_path / "a")
    _create(source, "r1")
    whole = read_new_run(source, "r1")
    target = RunStore(tmp_path / "b")
    gap = msgspec.structs.replace(whole, events=())
    with pytest.raises(CorruptRun, match="events"):
        install_copy(target, "r1", gap)
    assert not (tmp_path / "b" / "runs" / "r1" / "manifest.json").exists()
    late = msgspec.structs.replace(whole, events_from=3)
    with pytest.raises(CorruptRun, match="gap"):
        install_copy(target, "r1", late)
    install_copy(target, "r1", whole)
    assert target.manifest("r1") == source.manifest("r1")
    # a follower never goes back: an older copy leaves the newer folder as it is
    assert install_copy(target, "r1", whole, force=False) == source.manifest("r1")


class _Host(Actor[CancelRun]):
    """A runs host that knows no run: every cancel is refused `not_found`; the cancel of
    run `slow` takes longer than the kernel's default ask bound first (a loaded node
    resolving a create's workflow)."""

    @handler
    async def cancel(self, msg: CancelRun) -> RunView:
        assert msg.placed  # forwarded changes arrive placed (never forwarded again)
        if msg.run_id == "slow":
            await asyncio.sleep(DEFAULT_ASK_TIMEOUT + 0.5)  # stands for the slow work
        raise Refused(f"no run {msg.run_id!r} here", "not_found")


async def test_a_forwarded_change_crosses_with_its_refusal_and_a_dead_node_is_node_down(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """A refusal crosses with its reason (HTTP answers the owner's status); a node that
    died within the lease period (its process gone: no responder, no answer) is `NodeDown`
    (503, retry), not an untyped remote failure."""
    async with contextlib.AsyncExitStack() as stack:
        nodes: dict[str, tuple[ActorSystem, Client, NatsRuns]] = {}
        for name in ("a", "b"):
            client = await connect_cluster(nats_server.url, node=name)
            stack.push_async_callback(client.close)
            system = await stack.enter_async_context(ActorSystem())
            registry = await open_registry_bucket(client)
            await system.start_actor(
                lambda c=client, r=registry, n=name: RemoteRegistry(  # type: ignore[misc]
                    c, r, n, cluster_message_types(), heartbeat_s=0.1, down_after_s=30.0
                ),
                name=REGISTRY_NAME,
            )
            runs = await node_runs(system, client, name)
            await runs.start()
            stack.push_async_callback(runs.stop)
            nodes[name] = (system, client, runs)
        b_system, b_client, b_runs = nodes["b"]
        b_runs.hosting(b_system.spawn(_Host))  # type: ignore[arg-type]
        a_runs = nodes["a"][2]

        async def forward() -> RunView:
            return await a_runs.forward("b", CancelRun("r1", placed=True))

        for _ in range(200):  # until b's registration is seen
            try:
                await forward()
            except NodeDown:
                await asyncio.sleep(0.05)
            except Refused as refused:
                assert refused.reason == "not_found" and "no run 'r1' here" in refused.message
                break
        else:
            raise AssertionError("b's runs host never answered")
        assert a_runs.forwarded >= 1
        # a change that takes b longer than the kernel's default ask bound is waited for
        # (bounded by its caller, as the same change done here is), not answered 503
        with pytest.raises(Refused, match="no run 'slow' here"):
            await a_runs.forward("b", CancelRun("slow", placed=True))
        # b's process vanishes (kill -9: no goodbye); its name is still registered, and
        # the lease period (30 s here) has not passed: the ask finds nobody there
        await b_client.close()
        with pytest.raises(NodeDown, match="node 'b'") as down:
            await forward()
        assert down.value.reason == "unavailable"


async def test_a_create_that_fails_midway_frees_its_id_and_nats_errors_are_typed(
    nats_server: NatsServer, system: ActorSystem, tmp_path: Path
) -> None:
    """The lease of a new run is held by a live node: the create fails, and the id is free
    again (origin deleted, events purged), so the same id can be created later. With the
    link gone, the runs host's questions fail `ClusterUnavailable` (503), not NATS's own
    errors (which would crash the host)."""
    ca = await connect_cluster(nats_server.url, node="a")
    try:
        leases = NatsLeases(await open_lease_bucket(ca), "a")
        kv = await open_runs_bucket(ca)
        runs = NatsRuns(system, ca, kv, leases, "a")
        await runs.start()
        other = NatsLeases(await open_lease_bucket(ca), "z")
        await other.acquire(f"run.{run_key('r9')}", holder_down=lambda node: False)
        store = RunStore(tmp_path / "a")
        _create(store, "r9")
        with pytest.raises(RunHostedElsewhere, match="node z"):
            await runs.created("r9", read_new_run(store, "r9"), lease=True)
        assert await runs.latest("r9") is None
        with pytest.raises(KeyNotFoundError):
            await kv.get(f"{run_key('r9')}.r")
        await other.release(f"run.{run_key('r9')}")
        await runs.created("r9", read_new_run(store, "r9"), lease=True)  # free again
        latest = await runs.latest("r9")
        assert latest is not None and latest.events == tuple(store.events_raw("r9"))
        await runs.release("r9")
        await runs.stop()
        await ca.close()
        for ask in (runs.latest("r9"), runs.claim("r9"), runs.route("r9")):
            with pytest.raises(ClusterUnavailable, match="NATS did not answer") as failed:
                await ask
            assert failed.value.reason == "unavailable"
    finally:
        await ca.close()


class _NoStreamOnce:
    """`target` (a JetStream context or a bucket) whose `method` first raises what nats-py
    raises when a JetStream publish finds no responders (`NoStreamResponseError`: the
    server stopping, its JetStream gone before its connections), then works."""

    def __init__(self, target: object, method: str) -> None:
        self.target, self.method, self.raised = target, method, 0

    def __getattr__(self, name: str) -> object:
        found = getattr(self.target, name)
        if name != self.method or self.raised:
            return found

        async def once(*args: object, **kwargs: object) -> object:
            self.raised += 1
            raise NoStreamResponseError

        return once


async def test_a_publish_or_confirm_that_finds_no_jetstream_waits_for_it(
    nats_server: NatsServer, system: ActorSystem, tmp_path: Path
) -> None:
    """The drill's stuck run began here: NATS stopping under a run's publish, nats-py
    raised `NoStreamResponseError`, which the owner's writes did not take for an outage;
    the run actor crashed with its last batch unpublished. Now it is waited through like
    any outage, and the write lands once JetStream answers."""
    ca = await connect_cluster(nats_server.url, node="a")
    try:
        runs = await node_runs(system, ca, "a")
        await runs.start()
        store = RunStore(tmp_path / "a")
        _create(store, "r5")
        await runs.created("r5", read_new_run(store, "r5"), lease=True)
        manifest = msgspec.json.decode(read_new_run(store, "r5").manifest, type=RunManifest)
        seq = manifest.sequence + 1
        ended = msgspec.structs.replace(manifest, sequence=seq, cancelled=True)
        js = runs.js = _NoStreamOnce(runs.js, "publish")  # type: ignore[assignment]
        await runs.publish(
            "r5",
            RunCopy(
                manifest=msgspec.json.encode(ended),
                events=(b'{"event": "run.cancelled"}',),
                events_from=seq,
            ),
        )
        assert js.raised == 1
        latest = await runs.latest("r5")
        assert latest is not None and latest.events[-1] == b'{"event": "run.cancelled"}'
        assert msgspec.json.decode(latest.manifest, type=RunManifest).status == "cancelled"
        leases = runs.leases.kv = _NoStreamOnce(runs.leases.kv, "update")  # type: ignore[assignment]
        await runs.confirm("r5")
        assert leases.raised == 1 and runs.holds("r5")
        await runs.release("r5")
        await runs.stop()
    finally:
        await ca.close()


async def test_a_copy_the_warden_could_not_install_is_installed_again_without_a_new_change(
    nats_server: NatsServer, system: ActorSystem, tmp_path: Path
) -> None:
    """A follower's warden installs each change of a run another node drives. When the
    install of a run's last change fails (NATS away, a read timed out), no later change
    comes to retry it: the follower must try again by itself, or it shows the run
    unfinished for good (the drill's other way to read a finished run as `running`)."""
    ca = await connect_cluster(nats_server.url, node="a")
    cb = await connect_cluster(nats_server.url, node="b")
    try:
        a = await node_runs(system, ca, "a")
        # no heartbeats here: b must not judge a down (and try to take its run) meanwhile
        b = await node_runs(system, cb, "b", down_after_s=600.0)
        await a.start()
        await b.start()
        store_a, store_b = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
        _create(store_a, "r6")
        await a.created("r6", read_new_run(store_a, "r6"), lease=True)
        warden = await system.start_actor(lambda: RunWarden(b, store_b, "no.host", tick_s=0.1))

        async def until(check: Callable[[], bool]) -> None:
            for _ in range(3_000):  # the bound stops a hang; it measures nothing
                if check():
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the follower never installed the run's copy")

        def status_on_b() -> str | None:
            try:
                return store_b.manifest("r6").status
            except Exception:  # not installed yet
                return None

        await until(lambda: status_on_b() is not None)  # the created run, followed
        latest, failed = b.latest, []

        async def flaky(run_id: str) -> RunCopy | None:
            if not failed:
                failed.append(run_id)
                raise ClusterUnavailable(f"run {run_id!r}: NATS did not answer (timeout)")
            return await latest(run_id)

        b.latest = flaky  # type: ignore[method-assign]
        store_a.update("r6", lambda m: cancel_run(m, reason="by the test", now_ms=1))
        ended = read_copy(store_a, "r6", a.published_seq("r6"), a.published_outputs("r6"))
        await a.publish("r6", ended)  # the run's last change
        await until(lambda: status_on_b() == "cancelled")
        assert failed == ["r6"]  # its first install did fail
        await warden.stop()
        await a.release("r6")
        await a.stop()
        await b.stop()
    finally:
        await ca.close()
        await cb.close()
