"""Session snapshots in a JetStream key-value bucket (a real nats-server, started here):
claims, fenced writes of a stale owner, coalescing, bad bytes in the bucket, a server
without JetStream, and a tally that continues on another node's hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import (
    NatsSessionStore,
    cluster_secret,
    connect_cluster,
    open_session_bucket,
)
from lightflow_actors.live import (
    LiveHub,
    SessionSnapshot,
    SessionStoreUnavailable,
    StaleSessionOwner,
    snapshot_key,
)
from lightflow_actors.live_examples.tally import TallyState, tally

from ...live.test_session_snapshots import browser, count_of
from ._servers import NatsServer

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def client(server: NatsServer, node: str) -> AsyncIterator[Client]:
    connected = await connect_cluster(server.url, node=node)
    try:
        yield connected
    finally:
        await connected.close()


def snap(state: bytes, owner: str) -> SessionSnapshot:
    return SessionSnapshot(view="tally", state=state, owner=owner)


async def test_a_claim_fences_the_previous_owner(nats_server: NatsServer) -> None:
    async with client(nats_server, "a") as ca, client(nats_server, "b") as cb:
        a = NatsSessionStore(await open_session_bucket(ca), owner="a")
        b = NatsSessionStore(await open_session_bucket(cb), owner="b")
        refused: list[StaleSessionOwner] = []
        assert await a.claim("s1.tally") is None
        a.save("s1.tally", snap(b"\x01", "a"), refused.append)
        await a.flush()
        written = await a.kv.get("s1.tally")
        claimed = await b.claim("s1.tally")
        assert claimed == snap(b"\x01", "a")
        a.save("s1.tally", snap(b"\x02", "a"), refused.append)  # a woke up after a partition
        await a.flush()
        [error] = refused
        assert (error.key, error.owner, error.expected) == ("s1.tally", "a", written.revision)
        assert error.found is not None and error.found > written.revision
        now = msgspec.msgpack.decode((await b.kv.get("s1.tally")).value, type=SessionSnapshot)
        assert (now.state, now.owner) == (b"\x01", "b")  # the stale write did not land
        a.save("s1.tally", snap(b"\x03", "a"), refused.append)  # and a writes nothing more
        await a.flush()
        assert len(refused) == 1 and a.fenced == 1
        b.save("s1.tally", snap(b"\x04", "b"), refused.append)
        await b.flush()
        now = msgspec.msgpack.decode((await b.kv.get("s1.tally")).value, type=SessionSnapshot)
        assert now.state == b"\x04"


async def test_concurrent_claims_leave_one_owner(nats_server: NatsServer) -> None:
    async with client(nats_server, "a") as ca, client(nats_server, "b") as cb:
        a = NatsSessionStore(await open_session_bucket(ca), owner="a")
        b = NatsSessionStore(await open_session_bucket(cb), owner="b")
        await a.claim("s2.tally")
        a.save("s2.tally", snap(b"\x01", "a"), lambda e: None)
        await a.flush()
        refused: list[str] = []
        for round_ in range(5):
            await asyncio.gather(a.claim("s2.tally"), b.claim("s2.tally"))
            a.save("s2.tally", snap(b"\x05", "a"), lambda e: refused.append("a"))
            b.save("s2.tally", snap(b"\x06", "b"), lambda e: refused.append("b"))
            await asyncio.gather(a.flush(), b.flush())
            assert len(refused) == round_ + 1  # exactly one of them was fenced
            # the fenced one claims again for the next round


async def test_saves_coalesce_and_the_last_one_wins(nats_server: NatsServer) -> None:
    async with client(nats_server, "a") as ca:
        a = NatsSessionStore(await open_session_bucket(ca), owner="a")
        await a.claim("s3.tally")
        for n in range(200):
            a.save("s3.tally", snap(n.to_bytes(2, "big"), "a"), lambda e: None)
        await a.flush()
        assert a.writes + a.coalesced == 200 and a.writes < 200
        last = msgspec.msgpack.decode((await a.kv.get("s3.tally")).value, type=SessionSnapshot)
        assert last.state == (199).to_bytes(2, "big")


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"\x92\x01\x02", b"not msgpack \xff\xfe"])
async def test_bad_bytes_in_the_bucket_are_taken_over(
    nats_server: NatsServer, garbage: bytes
) -> None:
    async with client(nats_server, "a") as ca:
        a = NatsSessionStore(await open_session_bucket(ca), owner="a")
        await a.kv.put("s4.tally", garbage)
        assert await a.claim("s4.tally") is None
        refused: list[StaleSessionOwner] = []
        a.save("s4.tally", snap(b"\x01", "a"), refused.append)
        await a.flush()
        assert refused == []
        got = msgspec.msgpack.decode((await a.kv.get("s4.tally")).value, type=SessionSnapshot)
        assert got.owner == "a"


async def test_a_server_without_jetstream_is_refused_with_the_fix(tmp_path: object) -> None:
    from pathlib import Path

    server = NatsServer(Path(str(tmp_path)) / "plain", jetstream=False).start()
    try:
        async with client(server, "a") as ca:
            with pytest.raises(SessionStoreUnavailable, match="-js"):
                await open_session_bucket(ca)
            with pytest.raises(SessionStoreUnavailable, match="-js"):
                await cluster_secret(ca)
    finally:
        server.stop()


async def test_the_token_key_is_one_for_the_cluster(nats_server: NatsServer) -> None:
    async with client(nats_server, "a") as ca, client(nats_server, "b") as cb:
        keys = await asyncio.gather(cluster_secret(ca), cluster_secret(cb), cluster_secret(ca))
        assert len(set(keys)) == 1 and len(keys[0]) == 32


async def test_a_tally_continues_on_another_node(nats_server: NatsServer) -> None:
    async with (
        client(nats_server, "a") as ca,
        client(nats_server, "b") as cb,
        ActorSystem("a") as system_a,
        ActorSystem("b") as system_b,
    ):
        stores = {
            "a": NatsSessionStore(await open_session_bucket(ca), owner="a"),
            "b": NatsSessionStore(await open_session_bucket(cb), owner="b"),
        }
        key = await cluster_secret(ca)
        hub_a = LiveHub(system_a, {"tally": tally}, secret=key, session_store=stores["a"])
        hub_b = LiveHub(system_b, {"tally": tally}, secret=key, session_store=stores["b"])
        await hub_a.start()
        await hub_b.start()
        page = await hub_a.static_render("tally", {})
        on_a = await browser(hub_a, "tally", page.session_id, page.token)
        for _ in range(7):
            await on_a.click("add", id="add")
        await on_a.wait_for(lambda: count_of(on_a) == "7", "7 on node a")
        await stores["a"].flush()
        await hub_a.stop()
        on_b = await browser(hub_b, "tally", page.session_id, page.token)
        assert count_of(on_b) == "7"
        await on_b.click("add", id="add")
        await on_b.wait_for(lambda: count_of(on_b) == "8", "8 on node b")
        await stores["b"].flush()
        entry = await stores["b"].kv.get(snapshot_key(page.session_id, "tally"))
        saved = msgspec.msgpack.decode(entry.value, type=SessionSnapshot)
        assert saved.owner == "b"
        assert msgspec.msgpack.decode(saved.state, type=TallyState) == TallyState(8, 8)
        await hub_b.stop()


async def test_writes_made_while_nats_is_down_land_when_it_is_back(
    nats_server: NatsServer,
) -> None:
    async with client(nats_server, "a") as ca:
        a = NatsSessionStore(await open_session_bucket(ca), owner="a")
        await a.claim("s5.tally")
        a.save("s5.tally", snap(b"\x01", "a"), lambda e: None)
        await a.flush()
        nats_server.stop()
        refused: list[StaleSessionOwner] = []
        for n in range(2, 6):  # the session goes on; its snapshots wait (the last one wins)
            a.save("s5.tally", snap(bytes([n]), "a"), refused.append)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(nats_server.start)
        await asyncio.wait_for(a.flush(), 60)  # bounds a hang; measures nothing
        assert refused == [] and a.failures >= 1
        got = msgspec.msgpack.decode((await a.kv.get("s5.tally")).value, type=SessionSnapshot)
        assert got.state == b"\x05"
