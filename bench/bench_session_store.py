"""Durable sessions over NATS: what a snapshot costs per event, and what a restore costs.

A `nats-server -js` is started on 127.0.0.1 for the run. The tally view (a counter whose
count lives in the session) runs through the real transport and session actors, with a
`NatsSessionStore` (the `lf_sessions` bucket) or without one (the baseline), in the same
process, one after the other.

1. Snapshot cost per event (the session's critical path): the time the session spends
   interpreting one click (event, render, diff, and with a store the snapshot: encode and
   hand to the writer), p50 and p99, with and without the store; and the snapshot step
   alone. Written after each handled event, coalesced per session by the store's writer
   (at most one write in flight per session); also the write latency (hand-over to the
   bucket's acknowledgement) and what raw `kv.update` costs for the same bytes.
2. Restore on reconnect: the time from a rejoining Mount to the rendered state, for a
   rehydrated session (claim: read + compare-and-set, decode) against a re-mounted one;
   and raw `kv.get` + `kv.update` round trips as the floor any restore pays.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from bench._report import percentile
from bench.bench_cluster import _start_nats
from lightflow_actors import ActorSystem
from lightflow_actors.adapters.nats import NatsSessionStore, connect_cluster, open_session_bucket
from lightflow_actors.adapters.ws import start_transport
from lightflow_actors.live import LiveHub, SessionSnapshot
from lightflow_actors.live._session import LiveSession
from lightflow_actors.live_examples.tally import tally
from lightflow_actors.testing.live import LiveViewHandle, MemorySocket

EVENTS = 3_000
REJOINS = 300
SECRET = b"bench secret of the cluster....."


def timing(samples: list[float], method: str) -> object:
    """Wrap LiveSession.`method` to record its duration (ms) in `samples`."""
    original = getattr(LiveSession, method)

    def timed(self: LiveSession, *args: object) -> object:
        start = time.perf_counter()
        try:
            return original(self, *args)
        finally:
            samples.append((time.perf_counter() - start) * 1000)

    setattr(LiveSession, method, timed)
    return original


async def join(hub: LiveHub, session_id: str, token: str) -> tuple[LiveViewHandle, float]:
    socket = MemorySocket()
    transport = await start_transport(hub, socket)
    handle = LiveViewHandle(hub, transport, socket)
    handle.view = "tally"
    await handle.send_raw(handle.client.hello())
    renders = handle.client.renders
    start = time.perf_counter()
    await handle._join("tally", session_id, token, {})
    await handle.wait_for(lambda: handle.client.renders > renders, "the render")
    return handle, (time.perf_counter() - start) * 1000


def line(
    label: str, samples: list[float], base: list[float] | None = None, base_label: str = ""
) -> None:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    text = f"{label:<52} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
    if base:
        b50 = statistics.median(base)
        text += f"   | {base_label}: p50 {b50:.3f} ms"
    print(text, flush=True)


async def events(store: NatsSessionStore | None) -> tuple[list[float], list[float]]:
    """Per-event interpret time (ms), and the snapshot step alone (ms), for EVENTS clicks."""
    interpret: list[float] = []
    persist: list[float] = []
    originals = {
        "_interpret": timing(interpret, "_interpret"),
        "_persist": timing(persist, "_persist"),
    }
    try:
        async with ActorSystem("bench-store", seed=1) as system:
            hub = LiveHub(system, {"tally": tally}, secret=SECRET, session_store=store)
            await hub.start()
            page = await hub.static_render("tally", {})
            handle, _ = await join(hub, page.session_id, page.token)
            interpret.clear()
            persist.clear()
            for _ in range(EVENTS):
                await handle.push("add", {"by": 1})
            if store is not None:
                await store.flush()
            await hub.stop()
    finally:
        for name, original in originals.items():
            setattr(LiveSession, name, original)
    return interpret, persist


async def write_latency(store: NatsSessionStore) -> list[float]:
    """Hand-over to acknowledged write (ms), one write at a time."""
    await store.claim("bench.latency")
    samples = []
    for n in range(500):
        snapshot = SessionSnapshot(view="tally", state=msgspec.msgpack.encode(n), owner="a")
        start = time.perf_counter()
        store.save("bench.latency", snapshot, lambda e: None)
        await store.flush()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def raw_update(store: NatsSessionStore) -> list[float]:
    kv = store.kv
    revision = await kv.put("bench.raw", b"\x00")
    data = msgspec.msgpack.encode(SessionSnapshot(view="tally", state=b"\x92\x07\x07", owner="a"))
    samples = []
    for _ in range(500):
        start = time.perf_counter()
        revision = await kv.update("bench.raw", data, last=revision)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def raw_get_update(store: NatsSessionStore) -> list[float]:
    kv = store.kv
    await kv.put("bench.raw2", b"\x00")
    samples = []
    for _ in range(REJOINS):
        start = time.perf_counter()
        entry = await kv.get("bench.raw2")
        await kv.update("bench.raw2", entry.value or b"", last=entry.revision)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def rejoins(store: NatsSessionStore | None) -> tuple[list[float], list[float]]:
    """Rejoin-to-render (ms) and the restore step alone (claim + decode, ms)."""
    restore: list[float] = []
    original = LiveSession._rehydrate

    async def timed(self: LiveSession) -> object:
        start = time.perf_counter()
        try:
            return await original(self)
        finally:
            restore.append((time.perf_counter() - start) * 1000)

    LiveSession._rehydrate = timed  # type: ignore[method-assign]
    total: list[float] = []
    rejoined: list[float] = []  # the restores of the rejoins (not of the first joins)
    try:
        async with ActorSystem("bench-rejoin", seed=2) as system:
            hub = LiveHub(system, {"tally": tally}, secret=SECRET, session_store=store)
            await hub.start()
            for _ in range(REJOINS):
                page = await hub.static_render("tally", {})
                handle, _ = await join(hub, page.session_id, page.token)
                await handle.push("add", {"by": 7})
                if store is not None:
                    await store.flush()
                await handle.close()
                before = len(restore)
                again, elapsed = await join(hub, page.session_id, page.token)
                if store is not None:
                    assert "7" in again.html() and len(restore) == before + 1
                    rejoined.append(restore[-1])
                total.append(elapsed)
                await again.close()
            await hub.stop()
    finally:
        LiveSession._rehydrate = original  # type: ignore[method-assign]
    return total, rejoined


async def run(url: str) -> None:
    client = await connect_cluster(url, node="bench")
    try:
        store = NatsSessionStore(await open_session_bucket(client), owner="bench")
        base_interpret, _ = await events(None)
        with_interpret, persist = await events(store)
        print(f"-- snapshot per event: tally view, {EVENTS:,} clicks, one session", flush=True)
        line(
            "event handled, with snapshot to lf_sessions",
            with_interpret,
            base_interpret,
            "without a store",
        )
        line("  of which the snapshot (encode, hand to writer)", persist)
        diff = statistics.median(with_interpret) - statistics.median(base_interpret)
        label = "  snapshot cost per event (p50 difference)"
        print(f"{label:<52} {diff:7.3f} ms   (target <= 0.5 ms)")
        print(f"{'  writes / coalesced':<52} {store.writes:,} / {store.coalesced:,}", flush=True)
        line(
            "write hand-over -> acknowledged by the bucket",
            await write_latency(store),
            await raw_update(store),
            "raw kv.update",
        )
        print(f"-- restore on reconnect: {REJOINS} rejoins", flush=True)
        base_total, _ = await rejoins(None)
        total, restore = await rejoins(store)
        line("rejoin -> rendered, rehydrated", total, base_total, "re-mounted (no store)")
        line(
            "  of which the restore (claim + decode)",
            restore,
            await raw_get_update(store),
            "raw kv.get + kv.update",
        )
        print(f"{'':<52} (target: restore <= 20 ms p50)", flush=True)
    finally:
        await client.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as tmp:
        proc, url = _start_nats(Path(tmp))
        try:
            asyncio.run(run(url))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
