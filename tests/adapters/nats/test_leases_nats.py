"""Leases fenced by revision over a real NATS server: one holder, takeover only from a down
node, and a stale owner learns at its next confirmation that it must stop."""

from __future__ import annotations

from typing import cast

import nats.errors
import pytest
from nats.js.kv import KeyValue

from lightflow_actors.adapters.nats import connect_cluster
from lightflow_actors.adapters.nats._leases import (
    LeaseHeld,
    LeaseLost,
    NatsLeases,
    open_lease_bucket,
)

from ._servers import NatsServer

pytestmark = pytest.mark.anyio


async def test_one_holder_takeover_from_a_down_node_fences_the_stale_owner(
    nats_server: NatsServer,
) -> None:
    ca = await connect_cluster(nats_server.url, node="a")
    cb = await connect_cluster(nats_server.url, node="b")
    try:
        a = NatsLeases(await open_lease_bucket(ca), "a")
        b = NatsLeases(await open_lease_bucket(cb), "b")
        first = await a.acquire("run.r1", holder_down=lambda node: False)
        assert await a.acquire("run.r1", holder_down=lambda node: False) == first
        assert await a.confirm("run.r1") > first
        with pytest.raises(LeaseHeld, match="'a'"):
            await b.acquire("run.r1", holder_down=lambda node: False)
        # node a is declared down: b takes the lease by compare-and-set
        await b.acquire("run.r1", holder_down=lambda node: node == "a")
        with pytest.raises(LeaseLost):
            await a.confirm("run.r1")  # the stale owner must not commit anything more
        with pytest.raises(LeaseLost):
            await a.confirm("run.r1")  # and stays out
        assert await a.release("run.r1") is False
        await b.confirm("run.r1")
        assert await b.release("run.r1") is True
        # released: anyone may create it again
        await a.acquire("run.r1", holder_down=lambda node: False)
        # a record that does not decode is nobody's: it is taken over
        kv = await open_lease_bucket(ca)
        await kv.put("run.junk", b"\xff\x00 not a lease")
        await b.acquire("run.junk", holder_down=lambda node: False)
        assert "run.junk" in b.held
    finally:
        await ca.close()
        await cb.close()


class FailingDeletes:
    """The bucket, whose next `failures` deletes fail as a connection lost would."""

    def __init__(self, kv: KeyValue, failures: int) -> None:
        self.kv, self.failures = kv, failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.kv, name)

    async def delete(self, key: str, last: int | None = None) -> bool:
        if self.failures:
            self.failures -= 1
            raise nats.errors.TimeoutError
        return await self.kv.delete(key, last=last)


async def test_a_release_that_does_not_reach_nats_keeps_the_lease_held(
    nats_server: NatsServer,
) -> None:
    ca = await connect_cluster(nats_server.url, node="a")
    cb = await connect_cluster(nats_server.url, node="b")
    try:
        kv = await open_lease_bucket(ca)
        a = NatsLeases(cast(KeyValue, FailingDeletes(kv, failures=1)), "a")
        b = NatsLeases(await open_lease_bucket(cb), "b")
        await a.acquire("run.r1", holder_down=lambda node: False)
        with pytest.raises(nats.errors.TimeoutError):
            await a.release("run.r1")
        # Still ours in the bucket, and still known here: confirmed, and not another's.
        assert "run.r1" in a.held
        await a.confirm("run.r1")
        with pytest.raises(LeaseHeld, match="'a'"):
            await b.acquire("run.r1", holder_down=lambda node: False)
        # Released again once NATS answers: forgotten, and free for anyone.
        assert await a.release("run.r1") is True
        assert "run.r1" not in a.held
        await b.acquire("run.r1", holder_down=lambda node: False)
        # A lease taken over meanwhile: the delete is refused, and forgotten here.
        await a.acquire("run.r2", holder_down=lambda node: False)
        await b.acquire("run.r2", holder_down=lambda node: node == "a")
        assert await a.release("run.r2") is False
        assert "run.r2" not in a.held and "run.r2" in b.held
    finally:
        await ca.close()
        await cb.close()
