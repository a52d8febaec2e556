"""Live sessions benchmark (#7): wire bytes per update, event->patch latency, idle memory.

1. Bytes on the wire per update (every byte the transport writes: the patch frame
   with its envelope and sequence number, and the ack of the event) for the counter
   and the 1 000-row table, against re-sending the view's full HTML. Measured through
   the real transport and session actors (an in-memory socket).
2. Event -> patch latency over loopback with 1 000 concurrent sessions: a Hypercorn
   server in a subprocess (the other core), 1 000 WebSocket clients (wsproto) here.
   Idle: one session at a time sends while all 1 000 stay connected. Loaded: all
   1 000 send 5 events each at once. Baseline: a bare Starlette WebSocket echo on
   the same server, through the same client code, with a frame of the same size.
   The machine is shared and noisy, so figure and baseline alternate: idle, one live
   event then one echo, ``IDLE_EVENTS`` times; loaded, live and echo bursts in turn,
   ``BURSTS`` times. Frames the idle sessions received meanwhile (pings, lazy acks)
   are read and answered before each timed event, as a browser would have. The
   client's own share (decoding the patch and merging it into its copy of the
   view, which a browser does too) is printed beside. Measured 2026-12-07 (ADR 0099),
   loaded machine: idle p50 634 µs (echo 339 µs, 1.87x; the client's share 60 µs),
   p99 6.3 ms (5.7 ms); 1 000 sending at once p50 1.76 s (0.58 s, 3.03x). Before
   interleaving, live then echo each in a block, the same code read 2.4 ms against
   0.27 ms (9x): the echo block ran on a quieter machine, and the frames idle
   sessions had received (pings, lazy acks) were read inside the timed event.
   Beside the burst, the CPU each side spent per event (the server process from
   /proc, this client process): wall-clock percentiles on a shared machine mix in
   the client's own work and other processes'. Profiled 2026-12-07 (ADR 0108, load
   average 10-12 on 2 cores): the server spent 176-270 µs CPU per live event against
   84 µs per echo (2.1-3.2x: ISA decode, the transport and session steps, diff and
   encode), the client 150-170 µs against 56-60 µs (decoding and merging the patch,
   acking); a burst's wall time was 3-10x its server CPU, so the wall-clock p99 is
   mostly the loaded machine and the client. What the server adds to the tail beyond
   its per-event work is the collector: one full (generation 2) collection during a
   burst took 0.28-0.33 s CPU, all sessions paused, over ~330 000 tracked objects
   (1 000 sessions and 1 000 echo sockets; 37 000 at startup, so gc.freeze() after
   startup would spare only ~11 % of it); fewer objects per session make it cheaper.
3. Memory per idle session over 10 000 sessions, server side (tracemalloc): the
   transport actor, the session actor, their supervisor records, the wire connection
   state, the diff state and the view state of a joined, acknowledged counter.
   Baseline: a bare kernel actor.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec

from bench._live_server import free_port, serve
from bench._report import percentile, row
from lightflow_actors import Actor, ActorSystem, handler
from lightflow_actors.adapters.ws import Receive, client_script, start_transport
from lightflow_actors.live import LiveConfig, LiveHub, WebSocketClient
from lightflow_actors.live_examples import TICKER, start_examples
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.live_examples.table import Advance, Ticker
from lightflow_actors.testing.live import LiveTest, WebSocketView, live_test

ROOT = Path(__file__).resolve().parents[1]
SESSIONS = 1_000
IDLE_EVENTS = 2_000
BURSTS = 2
IDLE_SESSIONS = 10_000
T = TypeVar("T")


# -- 1. bytes per update -------------------------------------------------------------


async def bytes_per_update() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        sizes = []
        for _ in range(50):
            before = view.socket.bytes_sent
            await view.click("inc")
            sizes.append(view.socket.bytes_sent - before)
        _bytes_rows("counter", sum(sizes) / len(sizes), len(view.html().encode()))
    async with ActorSystem("bench-table", seed=5) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        view = await LiveTest(system, routes.hub).mount("table")
        ticker = system.lookup(TICKER, Ticker)
        sizes = []
        for _ in range(20):
            before = view.socket.bytes_sent
            tick = await ticker.ask(Advance())
            await view.wait_for(lambda v=tick.version: f'id="version">{v}<' in view.html(), "tick")
            sizes.append(view.socket.bytes_sent - before)
        _bytes_rows("table 1000 rows, 5 change", sum(sizes) / len(sizes), len(view.html().encode()))
        await routes.hub.stop()


def _bytes_rows(label: str, update: float, full: int) -> None:
    row(f"{label}: bytes/update", update, "B", full, "full HTML")
    print(f"{'':<44} = {100 * update / full:.2f} % of re-sending the HTML", flush=True)


# -- 2. latency over loopback -------------------------------------------------------


async def latency() -> None:
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_live_sessions",
        "--serve",
        str(port),
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        if (await server.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the bench server did not start")
        base = f"http://127.0.0.1:{port}/live"

        http = httpx.AsyncClient(limits=httpx.Limits(max_connections=50))

        def opener(i: int) -> Callable[[], Awaitable[WebSocketView]]:
            return lambda: WebSocketView.open(base, "counter", {"count": str(i)}, http=http)

        def echo_opener() -> Awaitable[WebSocketClient]:
            return WebSocketClient.connect("127.0.0.1", port, "/echo")

        views = await _limited([opener(i) for i in range(SESSIONS)], 50)
        await http.aclose()
        echoes = await _limited([echo_opener for _ in range(SESSIONS)], 50)
        # A frame of the size an event has (seq numbers may skip: only increase matters).
        frame = views[0].client.submit("inc", {"by": 1})[0].decode()

        client_time = [0.0]

        async def event(view: WebSocketView) -> float:
            start = time.perf_counter()
            data, ref = view.client.submit("inc", {"by": 1})
            await view.send_frame(data)
            while ref not in view.client.answered:
                text = await view.ws.receive_text()
                if text is None:
                    raise RuntimeError(f"a live socket closed: {view.ws.close_code}")
                fed = time.perf_counter()
                replies = view.client.feed(text.encode("utf-8"))
                client_time[0] += time.perf_counter() - fed
                for reply in replies:
                    await view.send_frame(reply)
            return time.perf_counter() - start

        async def echo(ws: WebSocketClient) -> float:
            start = time.perf_counter()
            await ws.send_text(frame)
            await ws.receive_text()
            return time.perf_counter() - start

        idle: list[float] = []
        idle_echo: list[float] = []
        for i in range(IDLE_EVENTS):
            view = views[i % SESSIONS]
            await _drain(view)
            idle.append(await event(view))
            idle_echo.append(await echo(echoes[i % SESSIONS]))
        idle_client = client_time[0] / IDLE_EVENTS
        _latency_rows(f"idle, {SESSIONS} open", idle, idle_echo)
        row("  of which the client's decode+merge (idle)", idle_client * 1e6, "µs")
        loaded: list[float] = []
        loaded_echo: list[float] = []
        cpu = {"live": [0.0, 0.0], "echo": [0.0, 0.0]}  # server, client CPU seconds
        for _ in range(BURSTS):
            await asyncio.gather(*(_drain(view) for view in views))
            for name, fn, targets, into in (
                ("live", event, views, loaded),
                ("echo", echo, echoes, loaded_echo),
            ):
                server_cpu, client_cpu = _cpu(server.pid), time.process_time()
                into += await _burst(fn, targets)  # type: ignore[arg-type]
                cpu[name][0] += _cpu(server.pid) - server_cpu
                cpu[name][1] += time.process_time() - client_cpu
        _latency_rows(f"{SESSIONS} sending at once", loaded, loaded_echo)
        events = BURSTS * SESSIONS * 5
        for i, side in ((0, "server"), (1, "client")):
            row(
                f"  {side} CPU per event (all sending)",
                cpu["live"][i] / events * 1e6,
                "µs",
                cpu["echo"][i] / events * 1e6,
                "ws echo",
            )
        for ws in [v.ws for v in views] + echoes:
            await ws.close()
    finally:
        server.terminate()
        await server.wait()


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drain(view: WebSocketView) -> None:
    """Read and answer what the session sent while idle (pings, lazy acks): what came
    within a millisecond (cancelling a read loses nothing: bytes stay in the reader)."""
    while True:
        try:
            text = await asyncio.wait_for(view.ws.receive_text(), 0.001)
        except TimeoutError:
            return
        if text is None:
            return
        for reply in view.client.feed(text.encode("utf-8")):
            await view.send_frame(reply)


async def _burst(fn: Callable[[T], Awaitable[float]], items: list[T]) -> list[float]:
    async def five(item: T) -> list[float]:
        return [await fn(item) for _ in range(5)]

    return [t for ts in await asyncio.gather(*(five(x) for x in items)) for t in ts]


def _latency_rows(label: str, live: list[float], echo: list[float]) -> None:
    for p in (50, 99):
        row(
            f"event->patch p{p} ({label})",
            percentile(live, p) * 1e6,
            "µs",
            percentile(echo, p) * 1e6,
            "ws echo",
        )


async def _limited(factories: list[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await factory()

    return list(await asyncio.gather(*(one(f) for f in factories)))


# -- 3. memory per idle session ------------------------------------------------------


class Idle(Actor[int]):
    @handler
    def any(self, msg: int) -> None:
        return None


class NullSocket:
    """A socket that only counts what the transport writes (the server side alone)."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames = 0

    def send(self, data: bytes) -> bool:
        self.frames += 1
        return True

    def close(self, code: int, reason: str) -> None:
        return None

    def abort(self, code: int, reason: str) -> None:
        return None

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def join_idle(hub: LiveHub, n: int) -> NullSocket:
    """One browser joins the counter and acknowledges its render, as the client script does."""
    session_id = f"{n:016x}"
    sock = NullSocket()
    transport = await start_transport(hub, sock)
    mount = {
        "op": "mount",
        "id": session_id,
        "target": "counter",
        "params": {"token": hub.token(session_id), "params": {}},
    }
    frames = [
        {"kind": "hello", "v": 1, "seq": 1, "versions": [1]},
        {"kind": "instruction", "v": 1, "seq": 2, "instruction": mount},
        {"kind": "instruction", "v": 1, "seq": 3, "instruction": {"op": "render"}},
    ]
    for frame in frames:
        await transport.ask(Receive(msgspec.json.encode(frame)))
    # The render arrives a few loop turns later. Polling keeps NullSocket bare (no Event
    # per socket), so the harness adds nothing to the memory being measured.
    while sock.frames < 2:  # welcome, the render (acks to the browser are lazy)  # noqa: ASYNC110
        await asyncio.sleep(0)
    ack = {"kind": "ack", "v": 1, "seq": 4, "upto": sock.frames}
    await transport.ask(Receive(msgspec.json.encode(ack)))
    return sock


async def memory() -> None:
    config = LiveConfig(heartbeat_interval=3600.0, heartbeat_timeout=7200.0)
    async with ActorSystem("bench-memory", seed=2) as system:
        hub = LiveHub(system, {"counter": counter}, config=config)
        await hub.start()
        await join_idle(hub, 0)  # warm up: classes, templates, caches
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        sockets = [await join_idle(hub, n) for n in range(1, IDLE_SESSIONS + 1)]
        await asyncio.sleep(0)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert len(await hub.sessions()) == IDLE_SESSIONS + 1
        del sockets
        await hub.stop()
    async with ActorSystem("bench-actor") as system:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        refs = [system.spawn(Idle) for _ in range(IDLE_SESSIONS)]
        used_actor = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del refs
    row(
        f"memory per idle session ({IDLE_SESSIONS:,})",
        used / IDLE_SESSIONS,
        "B",
        used_actor / IDLE_SESSIONS,
        "bare actor",
    )
    print(f"{'':<44} (target <= 20 KB = 20,480 B per session)", flush=True)


def main() -> None:
    script = client_script()
    row("client JS (raw)", len(script), "B")
    row("client JS (gzip -9)", len(gzip.compress(script, 9)), "B")
    asyncio.run(bytes_per_update())
    asyncio.run(memory())
    asyncio.run(latency())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
