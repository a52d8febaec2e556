"""Kernel benchmarks (#2, #17): tell, ask, spawn rate and idle memory, against raw asyncio
and pykka.

Every figure is printed beside its baseline measured in this same run, with the ratio.
Idle memory is measured twice, each in a fresh subprocess: traced (``tracemalloc``: the
bytes Python allocated per actor and still holds, independent of the allocator's arenas)
and RSS (what the OS sees, allocator slack included). The idle actor is spawned under the
root supervisor (``lightflow_actors.ActorSystem()``), so its link to the root is counted.
Erlang's figure is a stated constant (an idle process's initial size on 64-bit OTP:
338 words, 2 704 bytes, per the Erlang efficiency guide), not a measurement.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import threading
import time
import tracemalloc

import msgspec
import pykka

from bench._report import best_of, interleaved, row
from lightflow_actors import Actor, ActorSystem, Ask, handler

N_TELL = 300_000
N_ASK = 50_000
N_SPAWN = 100_000
N_MEM = 100_000
N_PYKKA_TELL = 50_000
N_PYKKA_ASK = 5_000
N_PYKKA_MEM = 1_000
ERLANG_PROCESS_BYTES = 2_704  # 338 words on 64-bit OTP (Erlang efficiency guide)
IDLE_ACTOR_TARGET = 1_350  # issue 17: half an Erlang process


class Inc(msgspec.Struct, frozen=True):
    by: int = 1


class Get(Ask[int], frozen=True):
    pass


class AGet(Ask[int], frozen=True):
    pass


class AWait(Ask[int], frozen=True):
    pass


class Counter(Actor[Inc | Get | AGet | AWait]):
    def __init__(self) -> None:
        self.value = 0

    @handler
    def inc(self, msg: Inc) -> None:
        self.value += msg.by

    @handler
    def get(self, msg: Get) -> int:
        return self.value

    @handler
    async def aget(self, msg: AGet) -> int:
        return self.value

    @handler
    async def await_(self, msg: AWait) -> int:
        await asyncio.sleep(0)  # suspends: the rest of the handler runs in a task
        return self.value


class AsyncCounter(Actor[Inc | Get]):
    def __init__(self) -> None:
        self.value = 0

    @handler
    async def inc(self, msg: Inc) -> None:
        self.value += msg.by

    @handler
    def get(self, msg: Get) -> int:
        return self.value


class Idle(Actor[Inc]):
    @handler
    def inc(self, msg: Inc) -> None:
        pass


# -- raw asyncio baselines -------------------------------------------------------------------


async def raw_queue_one_way(n: int) -> float:
    queue: asyncio.Queue[object] = asyncio.Queue()
    done = asyncio.Event()
    msg = Inc()

    async def consumer() -> None:
        for _ in range(n):
            await queue.get()
        done.set()

    task = asyncio.create_task(consumer())
    start = time.perf_counter()
    for _ in range(n):
        queue.put_nowait(msg)
    await done.wait()
    elapsed = time.perf_counter() - start
    await task
    return n / elapsed


async def raw_ping_pong(n: int) -> float:
    ping: asyncio.Queue[object] = asyncio.Queue()
    pong: asyncio.Queue[object] = asyncio.Queue()

    async def echo() -> None:
        while True:
            item = await ping.get()
            if item is None:
                return
            pong.put_nowait(item)

    task = asyncio.create_task(echo())
    start = time.perf_counter()
    for i in range(n):
        ping.put_nowait(i)
        await pong.get()
    elapsed = time.perf_counter() - start
    ping.put_nowait(None)
    await task
    return n / elapsed


async def raw_spawn(n: int) -> float:
    async def idle(queue: asyncio.Queue[object]) -> None:
        await queue.get()

    start = time.perf_counter()
    queues = []
    tasks = []
    for _ in range(n):
        q: asyncio.Queue[object] = asyncio.Queue()
        queues.append(q)
        tasks.append(asyncio.create_task(idle(q)))
    await asyncio.sleep(0)  # let every task start and park on its queue
    elapsed = time.perf_counter() - start
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    return n / elapsed


# -- kernel ----------------------------------------------------------------------------------


async def kernel_tell(
    n: int,
    factory: type[Counter] | type[AsyncCounter] = Counter,
    long_handler: float | None = None,
) -> float:
    async with ActorSystem(long_handler=long_handler) as system:
        ref = system.spawn(factory)
        msg = Inc()
        start = time.perf_counter()
        tell = ref.tell
        for _ in range(n):
            tell(msg)
        value = await ref.ask(Get(), timeout=None)
        elapsed = time.perf_counter() - start
        assert value == n, value
    return n / elapsed


async def kernel_ask(
    n: int, message: Get | AGet | AWait, long_handler: float | None = None
) -> float:
    async with ActorSystem(long_handler=long_handler) as system:
        ref = system.spawn(Counter)
        start = time.perf_counter()
        for _ in range(n):
            await ref.ask(message)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def kernel_spawn(n: int) -> float:
    async with ActorSystem() as system:
        start = time.perf_counter()
        spawn = system.spawn
        for _ in range(n):
            spawn(Idle)
        await asyncio.sleep(0)
        elapsed = time.perf_counter() - start
    return n / elapsed


# -- pykka -----------------------------------------------------------------------------------


class PykkaCounter(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0

    def on_receive(self, message: object) -> object:
        if message == "get":
            return self.value
        self.value += 1
        return None


def pykka_tell(n: int) -> float:
    ref = PykkaCounter.start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            ref.tell("inc")
        ref.ask("get")
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


def pykka_ask(n: int) -> float:
    ref = PykkaCounter.start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            ref.ask("get")
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


# -- memory (each in a fresh subprocess, so freed memory from other benches cannot hide cost) --


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _mem_child(kind: str, method: str) -> None:
    """Print the bytes per idle actor of ``kind``, by ``method`` (``rss`` or ``traced``)."""
    logging.disable(logging.CRITICAL)

    async def kernel(n: int) -> list[object]:
        return [system.spawn(Idle) for _ in range(n)]

    async def raw(n: int) -> list[object]:
        async def idle(queue: asyncio.Queue[object]) -> None:
            await queue.get()

        held: list[object] = []
        for _ in range(n):
            q: asyncio.Queue[object] = asyncio.Queue()
            held.append(asyncio.create_task(idle(q)))  # the task's frame holds the queue
        await asyncio.sleep(0)
        return held

    def size() -> int:
        return tracemalloc.get_traced_memory()[0] if method == "traced" else _rss_bytes()

    system = ActorSystem()  # the supervised system: actors spawn linked to the root

    async def run() -> None:
        n = N_PYKKA_MEM if kind == "pykka" else N_MEM
        if kind == "kernel":
            await system.start()
        gc.collect()
        if method == "traced":
            tracemalloc.start()
        before = size()
        if kind == "kernel":
            held: list[object] = await kernel(n)
        elif kind == "raw":
            held = await raw(n)
        else:
            held = [PykkaCounter.start() for _ in range(n)]
        await asyncio.sleep(0)
        gc.collect()
        after = size()
        print((after - before) / n)
        if kind == "pykka":
            pykka.ActorRegistry.stop_all()
        del held

    asyncio.run(run())


def memory_per_actor(kind: str, method: str = "rss") -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_kernel", "--mem", kind, method],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    logging.disable(logging.CRITICAL)
    runs = 3
    # Each figure alternates with its baselines (``interleaved``): the same load for both.
    raw_q, k_tell, k_tell_async = interleaved(
        runs,
        lambda: asyncio.run(raw_queue_one_way(N_TELL)),
        lambda: asyncio.run(kernel_tell(N_TELL)),
        lambda: asyncio.run(kernel_tell(N_TELL, AsyncCounter)),
    )
    p_tell = best_of(runs, lambda: pykka_tell(N_PYKKA_TELL))
    row("raw asyncio.Queue one-way", raw_q, "msg/s")
    row("tell -> sync handler", k_tell, "msg/s", raw_q, "raw queue")
    row("tell -> sync handler vs pykka", k_tell, "msg/s", p_tell, "pykka tell")
    row("tell -> async handler", k_tell_async, "msg/s", raw_q, "raw queue")
    row("tell -> async handler vs sync", k_tell_async, "msg/s", k_tell, "sync handler")

    raw_pp, k_ask, k_ask_async, k_ask_parked = interleaved(
        runs,
        lambda: asyncio.run(raw_ping_pong(N_ASK)),
        lambda: asyncio.run(kernel_ask(N_ASK, Get())),
        lambda: asyncio.run(kernel_ask(N_ASK, AGet())),
        lambda: asyncio.run(kernel_ask(N_ASK // 5, AWait())),
    )
    p_ask = best_of(runs, lambda: pykka_ask(N_PYKKA_ASK))
    row("raw task ping-pong", raw_pp, "rt/s")
    row("ask -> sync handler", k_ask, "rt/s", raw_pp, "raw ping-pong")
    row("ask -> sync handler vs pykka", k_ask, "rt/s", p_ask, "pykka ask")
    row("ask -> async handler", k_ask_async, "rt/s", raw_pp, "raw ping-pong")
    row("ask -> async handler that suspends", k_ask_parked, "rt/s", raw_pp, "raw ping-pong")

    # The slow-handler watchdog (ActorSystem(long_handler=0.1)) against the same path off,
    # measured in alternation so that both see the same load on a shared machine.
    tells: dict[bool, list[float]] = {False: [], True: []}
    asks: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs + 2):
        for on in (False, True):
            limit = 0.1 if on else None
            tells[on].append(asyncio.run(kernel_tell(N_TELL, long_handler=limit)))
            asks[on].append(asyncio.run(kernel_ask(N_ASK, Get(), long_handler=limit)))
    row("tell -> sync handler, watchdog on", max(tells[True]), "msg/s", max(tells[False]), "off")
    row("ask -> sync handler, watchdog on", max(asks[True]), "rt/s", max(asks[False]), "off")

    raw_sp, k_sp = interleaved(
        runs,
        lambda: asyncio.run(raw_spawn(N_SPAWN)),
        lambda: asyncio.run(kernel_spawn(N_SPAWN)),
    )
    row("raw create_task+queue spawn", raw_sp, "spawn/s")
    row("spawn (idle actor)", k_sp, "spawn/s", raw_sp, "raw task+queue")

    raw_traced = memory_per_actor("raw", "traced")
    k_traced = memory_per_actor("kernel", "traced")
    row("raw idle task+queue, traced", raw_traced, "B/actor")
    row("idle actor, traced (100k, root-linked)", k_traced, "B/actor", raw_traced,
        "raw task+queue")  # fmt: skip
    row("idle actor, traced vs Erlang process", k_traced, "B/actor", ERLANG_PROCESS_BYTES,
        "Erlang (constant)")  # fmt: skip
    print(f"{'  target: idle actor, traced <=':<44} {IDLE_ACTOR_TARGET:>14,} B/actor"
          f"   ({'met' if k_traced <= IDLE_ACTOR_TARGET else 'missed'})")  # fmt: skip
    raw_mem = memory_per_actor("raw")
    k_mem = memory_per_actor("kernel")
    p_mem = memory_per_actor("pykka")
    row("raw idle task+queue RSS", raw_mem, "B/actor")
    row("idle actor RSS (100k actors)", k_mem, "B/actor", raw_mem, "raw task+queue")
    row("idle actor RSS vs pykka", k_mem, "B/actor", p_mem, "pykka actor")
    print(f"threads alive: {threading.active_count()}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--mem":
        _mem_child(sys.argv[2], sys.argv[3])
    else:
        main()
