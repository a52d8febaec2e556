"""Remote ask through the cluster registry's proxies, beside raw nats-py request/reply.

A `nats-server -js` is started on 127.0.0.1 for the run; two nodes (two `ActorSystem`s
with their own NATS connections) run in this process. Node a registers a counter; node b
resolves it (a proxy `ActorRef`) and asks it `ROUNDS` times, one at a time. The baseline
is nats-py alone: one connection answers a subscription, another sends requests of the
same bytes, one at a time; a local ask is shown for scale.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import nats

from bench._report import percentile
from bench.bench_cluster import _start_nats
from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import (
    MessageTypes,
    Register,
    RemoteRegistry,
    WhereIs,
    connect_cluster,
    open_registry_bucket,
)
from lightflow_actors.kernel import Actor, Ask, handler

ROUNDS = 2_000


class Add(Ask[int], frozen=True):
    by: int


class Counter(Actor[Add]):
    def __init__(self) -> None:
        self.value = 0

    @handler
    def add(self, msg: Add) -> int:
        self.value += msg.by
        return self.value


def report(label: str, samples: list[float], base: list[float] | None, base_label: str) -> None:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    text = f"{label:<40} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
    if base:
        b50 = statistics.median(base)
        text += f"   | {base_label}: p50 {b50:.3f} ms   ratio {p50 / b50:.2f}x"
    print(text, flush=True)


async def raw(url: str) -> list[float]:
    server, client = await nats.connect(url), await nats.connect(url)

    async def answer(msg: nats.aio.msg.Msg) -> None:
        await msg.respond(msgspec.msgpack.encode(1))

    await server.subscribe("bench.raw", cb=answer)
    await server.flush()
    data = msgspec.msgpack.encode({"target": "counter", "type": "Add", "body": {"by": 1}})
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        await client.request("bench.raw", data, timeout=5)
        samples.append((time.perf_counter() - start) * 1000)
    await client.close()
    await server.close()
    return samples


async def remote(url: str) -> tuple[list[float], list[float]]:
    types = MessageTypes(Add)
    ca, cb = await connect_cluster(url, node="a"), await connect_cluster(url, node="b")
    kva, kvb = await open_registry_bucket(ca), await open_registry_bucket(cb)
    async with ActorSystem() as a, ActorSystem() as b:
        ra = await a.start_actor(lambda: RemoteRegistry(ca, kva, "a", types))
        rb = await b.start_actor(lambda: RemoteRegistry(cb, kvb, "b", types))
        counter = a.spawn(Counter)
        await ra.ask(Register("counter", counter))
        proxy = await rb.ask(WhereIs("counter"))
        assert proxy is not None
        local, far = [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            await counter.ask(Add(1))
            local.append((time.perf_counter() - start) * 1000)
        for _ in range(ROUNDS):
            start = time.perf_counter()
            await proxy.ask(Add(1))  # type: ignore[arg-type]
            far.append((time.perf_counter() - start) * 1000)
    await ca.close()
    await cb.close()
    return local, far


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_nats(Path(tmp))
        try:
            base = asyncio.run(raw(url))
            local, far = asyncio.run(remote(url))
        finally:
            proc.terminate()
            proc.wait()
    report("remote ask (proxy on b -> actor on a)", far, base, "raw nats request/reply")
    report("local ask (same node)", local, None, "")


if __name__ == "__main__":
    main()
