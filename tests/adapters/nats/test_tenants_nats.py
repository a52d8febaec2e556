"""Tenant count budgets across two nodes (a real nats-server, started here): each node's
`TenantsSync` tells the other its live sessions and runs in flight per tenant, so a
tenant at its budget on one node is refused on the other; a node that stops, or goes
silent, stops counting; a malformed report is dropped and counted. Live sessions are
checked end to end too: two live hubs (the test DSL) on two nodes share one budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import (
    GetTenantsSyncInfo,
    MalformedReport,
    TenantsSync,
    UsageReport,
    connect_cluster,
    decode_report,
    usage_subject,
)
from lightflow_actors.kernel import ActorRef
from lightflow_actors.tenants import Budgets, OverBudget, TenantLedger, TenantsConfig
from lightflow_actors.testing.live import LiveTestError, live_test

from ...live.test_tenant_budgets import VIEWS
from ._servers import NatsServer

CONFIG = TenantsConfig(tenants={"acme": Budgets(live_sessions=3, runs_in_flight=2)})
INTERVAL = 0.05  # seconds between reports: short, so the tests wait little


class Node:
    """One node of the test cluster: a system, its ledger and its sync over NATS."""

    def __init__(
        self, system: ActorSystem, ledger: TenantLedger, sync: ActorRef[GetTenantsSyncInfo]
    ) -> None:
        self.system = system
        self.ledger = ledger
        self.sync = sync


@contextlib.asynccontextmanager
async def node(
    server: NatsServer, name: str, ledger: TenantLedger | None = None
) -> AsyncIterator[Node]:
    client = await connect_cluster(server.url, node=name)
    try:
        async with ActorSystem(name) as system:
            if ledger is None:
                ledger = TenantLedger(CONFIG, clock=system.clock)
            chosen = ledger
            sync = await system.start_actor(
                lambda: TenantsSync(client, name, chosen, interval=INTERVAL)
            )
            yield Node(system, chosen, sync)
    finally:
        await client.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # bounds a hang only (10 s); asserts nothing about speed
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.anyio
async def test_a_tenant_at_its_session_budget_on_one_node_is_refused_on_the_other(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "a") as a, node(nats_server, "b") as b:
        a.ledger.open_session("acme", "a1")
        a.ledger.open_session("acme", "a2")
        b.ledger.open_session("beta", "b0")  # another tenant: unlimited, and known to b
        await until(lambda: b.ledger.peers == ["a"], "b hears a")
        b.ledger.open_session("acme", "b1")  # the third of 3, cluster-wide
        with pytest.raises(OverBudget, match="3 live sessions"):
            b.ledger.open_session("acme", "b2")
        await until(lambda: a.ledger.elsewhere("acme") == (1, 0), "a hears b's session")
        with pytest.raises(OverBudget):
            a.ledger.open_session("acme", "a3")
        # Sessions that end give their places back on the other node too.
        a.ledger.close_session("acme")
        a.ledger.close_session("acme")
        await until(lambda: b.ledger.elsewhere("acme") == (0, 0), "b hears a's sessions end")
        b.ledger.open_session("acme", "b2")
        b.ledger.open_session("acme", "b3")
        info = await b.sync.ask(GetTenantsSyncInfo())  # a uses nothing now: not a peer
        assert info.peers == [] and info.malformed == 0 and info.received > 0


@pytest.mark.anyio
async def test_runs_in_flight_count_across_nodes_and_a_stopped_node_stops_counting(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "b") as b:
        async with node(nats_server, "a") as a:
            a.ledger.start_run("acme", "r1")
            a.ledger.start_run("acme", "r2")
            await until(lambda: "a" in b.ledger.peers, "b hears a")
            with pytest.raises(OverBudget, match="2 runs in flight"):
                b.ledger.reserve_run("acme")
            with pytest.raises(OverBudget):
                b.ledger.start_run("acme", "r3")
        # Node a stopped: its last report (empty) makes b forget it at once.
        await until(lambda: b.ledger.peers == [], "b forgets a")
        b.ledger.start_run("acme", "r3")
        b.ledger.start_run("acme", "r4")


@pytest.mark.anyio
async def test_a_node_gone_silent_stops_counting_after_a_few_intervals(
    nats_server: NatsServer,
) -> None:
    async with node(nats_server, "b") as b:
        silent = await connect_cluster(nats_server.url, node="a")
        try:
            # What a node cut off mid-flight last said: then nothing more.
            report = UsageReport("a", 1, {"acme": (3, 2)})
            await silent.publish(usage_subject("lf"), msgspec.json.encode(report))
            await silent.flush()
            await until(lambda: b.ledger.peers == ["a"], "b hears a")
            with pytest.raises(OverBudget):
                b.ledger.open_session("acme", "b1")
            await until(lambda: b.ledger.peers == [], "b stops counting the silent a")
            b.ledger.open_session("acme", "b1")
        finally:
            await silent.close()


@pytest.mark.anyio
async def test_malformed_reports_are_dropped_and_counted(nats_server: NatsServer) -> None:
    async with node(nats_server, "b") as b:
        raw = await connect_cluster(nats_server.url, node="x")
        try:
            subject = usage_subject("lf")
            for data in (
                b"{",
                b"\xff\xfe",
                b'{"node": "a", "seq": 1, "usage": {"../x": [1, 1]}}',
                b'{"node": "a", "seq": 1, "usage": {"acme": [-1, 0]}}',
                b"[" * 10_000,
                b'{"node": "a", "seq": 1, "usage": {}, "extra": 1}',
            ):
                await raw.publish(subject, data)
            await raw.flush()
            for _ in range(1000):  # bounds a hang only
                info = await b.sync.ask(GetTenantsSyncInfo())
                if info.malformed == 6:
                    break
                await asyncio.sleep(0.01)
            assert info.malformed == 6 and info.peers == []
            b.ledger.open_session("acme", "b1")  # nothing of it reached the ledger
        finally:
            await raw.close()


@pytest.mark.anyio
async def test_two_live_hubs_on_two_nodes_share_one_session_budget(
    nats_server: NatsServer,
) -> None:
    config = TenantsConfig(tenants={"acme": Budgets(live_sessions=2)})
    secret = b"s" * 32
    async with (
        live_test(VIEWS, secret=secret, tenants=config) as one,
        live_test(VIEWS, secret=secret, tenants=config) as two,
        node(nats_server, "one", one.tenants) as a,
        node(nats_server, "two", two.tenants) as b,
    ):
        await one.mount("counter", session={"tenant": "acme"})
        await until(lambda: b.ledger.elsewhere("acme") == (1, 0), "two hears one")
        await two.mount("counter", session={"tenant": "acme"})
        with pytest.raises(LiveTestError, match="over_budget"):
            await two.mount("counter", session={"tenant": "acme"})
        await until(lambda: a.ledger.elsewhere("acme") == (1, 0), "one hears two")
        with pytest.raises(LiveTestError, match="over_budget"):
            await one.mount("counter", session={"tenant": "acme"})
        await one.mount("counter", session={"tenant": "beta"})  # another tenant: no limit


# -- the report decoder, without a server ------------------------------------------------


def test_a_report_decodes_and_names_a_bad_field() -> None:
    report = decode_report(b'{"node": "a-1", "seq": 3, "usage": {"acme": [2, 1]}}')
    assert report == UsageReport("a-1", 3, {"acme": (2, 1)})
    with pytest.raises(MalformedReport, match=r"\$\.usage"):
        decode_report(b'{"node": "a", "seq": 1, "usage": {"acme": [1]}}')
    with pytest.raises(MalformedReport, match="at most"):
        decode_report(b" " * (2 << 20))


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.integers(min_value=1, max_value=3000).map(lambda n: b'{"usage":' + b"[" * n),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=20,
        ).map(msgspec.json.encode),
    )
)
def test_any_bytes_decode_or_are_refused_with_the_typed_error(data: bytes) -> None:
    try:
        report = decode_report(data)
    except MalformedReport:
        return
    assert isinstance(report, UsageReport)
    assert all(s >= 0 and r >= 0 for s, r in report.usage.values())
