"""Supervision benchmarks (#3): restart latency, a 10 k-child dynamic supervisor, tree snapshot.

Each figure is printed beside a baseline measured in the same run, in alternation with
it (``ROUNDS`` rounds: latencies pooled, phases best of), with the ratio:
- restart latency (crash -> the restarted child has replied to its next message), median
  and p99, against a hand-written kernel restarter (a trap_exit actor whose sync ``Exit``
  handler spawns the replacement: the least the kernel can do) and against raw asyncio
  (a task per worker, restarted from a done-callback);
- a 10 k-child DynamicSupervisor (start all with ``start_child``, crash 1 k and wait for
  their restarts, stop the supervisor) against raw kernel spawn / respawn / terminate;
  ``start_child`` is an ask to the supervisor, so it is also set beside the least an ask
  that starts a child can cost: an ask to a kernel actor whose sync handler spawns it;
- ``system_tree`` over 10 k actors against ``system.actors()`` alone.
Crash logging is silenced (logger level) so the figures measure restarts, not formatting.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast

import msgspec

from bench._report import median, percentile, row
from lightflow_actors import (
    SHUTDOWN,
    Actor,
    ActorRef,
    ActorSystem,
    AnyRef,
    Ask,
    Exit,
    LifecycleEvent,
    handler,
)
from lightflow_actors.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    start_child,
    system_tree,
    which_children,
)

N_LATENCY = 1_000  # per round
ROUNDS = 3  # figures and baselines alternate, round by round (best time / pooled samples)
N_DYNAMIC = 10_000
N_CRASH = 1_000
FOREVER = 10**9  # restart intensity that never trips


class Crash(msgspec.Struct, frozen=True):
    pass


class Ping(Ask[int], frozen=True):
    pass


class Worker(Actor[Crash | Ping]):
    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("bench crash")

    @handler
    def ping(self, msg: Ping) -> int:
        return 1


class SpawnWorker(Ask[AnyRef], frozen=True):
    pass


class KernelSpawner(Actor[SpawnWorker]):
    """Baseline: start a linked child when asked, from a sync handler, no bookkeeping."""

    @handler
    def spawn_worker(self, msg: SpawnWorker) -> AnyRef:
        return self.spawn(Worker, link=True)


class KernelRestarter(Actor[Exit]):
    """Baseline: restart each linked child from a sync Exit handler, no bookkeeping."""

    trap_exit = True

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def on_start(self) -> None:
        if self.name is not None:
            self.spawn(Worker, name=self.name, link=True)

    @handler
    def exit_signal(self, msg: Exit) -> None:
        if isinstance(msg.reason, Exception):
            self.spawn(Worker, name=self.name, link=True)


# -- restart latency ---------------------------------------------------------------------------


async def _latency(system: ActorSystem, name: str) -> list[float]:
    """Crash the actor registered as ``name``; time until its successor answers a Ping."""
    respawned = asyncio.Event()

    def on_event(event: LifecycleEvent) -> None:
        if event.kind == "spawned" and event.name == name:
            respawned.set()

    system.subscribe(on_event)
    samples = []
    for _ in range(N_LATENCY):
        old = cast(ActorRef[Crash | Ping], system.whereis(name))
        respawned.clear()
        start = time.perf_counter()
        old.tell(Crash())
        await respawned.wait()
        new = cast(ActorRef[Ping], system.whereis(name))
        await new.ask(Ping())
        samples.append(time.perf_counter() - start)
    return samples


async def supervisor_latency() -> list[float]:
    async with ActorSystem(root=False) as system:  # supervision measured alone
        spec = ChildSpec(id="w", start=Worker, name="w")
        await system.start_actor(lambda: Supervisor([spec], intensity=FOREVER, period=1.0))
        return await _latency(system, "w")


async def kernel_latency() -> list[float]:
    async with ActorSystem(root=False) as system:  # supervision measured alone
        await system.start_actor(lambda: KernelRestarter("w"))
        return await _latency(system, "w")


async def asyncio_latency() -> list[float]:
    """Raw asyncio: a worker task per incarnation, restarted by a done-callback."""
    current: dict[str, asyncio.Queue[tuple[str, asyncio.Future[int] | None]]] = {}

    async def worker(inbox: asyncio.Queue[tuple[str, asyncio.Future[int] | None]]) -> None:
        while True:
            kind, reply = await inbox.get()
            if kind == "crash":
                raise RuntimeError("bench crash")
            assert reply is not None
            reply.set_result(1)

    respawned = asyncio.Event()

    def launch() -> None:
        inbox: asyncio.Queue[tuple[str, asyncio.Future[int] | None]] = asyncio.Queue()
        current["w"] = inbox
        respawned.set()
        asyncio.get_running_loop().create_task(worker(inbox)).add_done_callback(restart)

    def restart(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            launch()

    launch()
    loop = asyncio.get_running_loop()
    samples = []
    for _ in range(N_LATENCY):
        respawned.clear()
        start = time.perf_counter()
        current["w"].put_nowait(("crash", None))
        await respawned.wait()
        reply: asyncio.Future[int] = loop.create_future()
        current["w"].put_nowait(("ping", reply))
        await reply
        samples.append(time.perf_counter() - start)
    return samples


# -- 10 k dynamic children -----------------------------------------------------------------------


async def _phase(fn: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def _crash_all(system: ActorSystem, refs: list[AnyRef]) -> None:
    for ref in refs:
        cast(ActorRef[Crash], ref).tell(Crash())
    for ref in refs:
        await system.wait_exit(ref)


async def dynamic_supervisor() -> tuple[float, float, float]:
    async with ActorSystem(root=False) as system:  # supervision measured alone
        sup = await system.start_actor(lambda: DynamicSupervisor(intensity=FOREVER, period=1.0))
        spec = ChildSpec(id="w", start=Worker, shutdown="brutal_kill")
        refs: list[AnyRef] = []

        async def spawn_all() -> None:
            for _ in range(N_DYNAMIC):
                refs.append(await start_child(sup, spec))

        async def crash_some() -> None:
            await _crash_all(system, refs[:N_CRASH])
            await asyncio.sleep(0)
            rows = await which_children(sup)  # answered after the queued restarts
            assert sum(r.restarts for r in rows) == N_CRASH

        spawn = await _phase(spawn_all)
        crash = await _phase(crash_some)
        stop = await _phase(lambda: system.terminate(sup, SHUTDOWN, None))
        assert system.actor_count() == 0
        return spawn, crash, stop


async def raw_kernel() -> tuple[float, float, float]:
    async with ActorSystem(root=False) as system:  # supervision measured alone
        holder = await system.start_actor(KernelRestarter)
        refs: list[AnyRef] = []

        async def spawn_all() -> None:
            for _ in range(N_DYNAMIC):
                refs.append(await system.start_actor(Worker, parent=holder, link=True))

        async def crash_some() -> None:
            await _crash_all(system, refs[:N_CRASH])
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        async def stop_all() -> None:
            for actor_id in reversed(system.info(holder).children):
                ref = system.get(actor_id)
                if ref is not None:
                    system.kill(ref)
                    await system.wait_exit(ref)
            await system.terminate(holder, SHUTDOWN, None)

        spawn = await _phase(spawn_all)
        crash = await _phase(crash_some)
        stop = await _phase(stop_all)
        return spawn, crash, stop


async def kernel_ask_spawn() -> float:
    """``N_DYNAMIC`` asks to a kernel actor that spawns a linked child in its handler."""
    async with ActorSystem(root=False) as system:  # supervision measured alone
        spawner = await system.start_actor(KernelSpawner)

        async def spawn_all() -> None:
            for _ in range(N_DYNAMIC):
                await spawner.ask(SpawnWorker(), timeout=None)

        return await _phase(spawn_all)


# -- tree snapshot ---------------------------------------------------------------------------------


async def tree_snapshot() -> tuple[float, float]:
    async with ActorSystem(root=False) as system:  # supervision measured alone
        sup = await system.start_actor(DynamicSupervisor)
        for _ in range(N_DYNAMIC):
            await start_child(sup, ChildSpec(id="w", start=Worker))
        tree_runs, actor_runs = [], []
        for _ in range(5):  # best of 5: a full GC pass can land in any single run
            gc.collect()
            start = time.perf_counter()
            tree = system_tree(system)
            tree_runs.append(time.perf_counter() - start)
            gc.collect()
            start = time.perf_counter()
            system.actors()
            actor_runs.append(time.perf_counter() - start)
        assert tree.actors == N_DYNAMIC + 1
        return min(tree_runs), min(actor_runs)


def main() -> None:
    logging.getLogger("lightflow_actors").setLevel(logging.CRITICAL)
    try:
        # Each figure alternates with its baselines, round by round: the same load for all.
        sup: list[float] = []
        kern: list[float] = []
        raw: list[float] = []
        for _ in range(ROUNDS):
            sup += asyncio.run(supervisor_latency())
            kern += asyncio.run(kernel_latency())
            raw += asyncio.run(asyncio_latency())
        us = 1e6
        restarts = ROUNDS * N_LATENCY
        print(f"restart latency: crash -> restarted child replied, {restarts} restarts (µs)")
        row("  Supervisor restart, median", median(sup) * us, "µs", median(kern) * us, "kernel")
        row("  Supervisor restart, p99", percentile(sup, 99) * us, "µs",
            percentile(kern, 99) * us, "kernel")  # fmt: skip
        row("  Supervisor restart, median", median(sup) * us, "µs", median(raw) * us, "asyncio")
        row("  Supervisor restart, p99", percentile(sup, 99) * us, "µs",
            percentile(raw, 99) * us, "asyncio")  # fmt: skip

        ms = 1e3
        rounds = [
            (asyncio.run(dynamic_supervisor()), asyncio.run(raw_kernel()),
             asyncio.run(kernel_ask_spawn()))
            for _ in range(ROUNDS)
        ]  # fmt: skip
        spawn, crash, stop = (min(r[0][i] for r in rounds) for i in range(3))
        b_spawn, b_crash, b_stop = (min(r[1][i] for r in rounds) for i in range(3))
        b_ask_spawn = min(r[2] for r in rounds)
        print(f"DynamicSupervisor, {N_DYNAMIC} children, {N_CRASH} crashed (ms)")
        row(f"  start_child x{N_DYNAMIC}", spawn * ms, "ms", b_spawn * ms, "kernel start_actor")
        row(f"  start_child x{N_DYNAMIC}", spawn * ms, "ms", b_ask_spawn * ms,
            "kernel ask->spawn")  # fmt: skip
        row(f"  crash {N_CRASH} + restarts", crash * ms, "ms", b_crash * ms, "kernel respawn")
        row("  stop the supervisor (all children)", stop * ms, "ms", b_stop * ms, "kernel kill")

        tree_s, actors_s = asyncio.run(tree_snapshot())
        row(f"system_tree of {N_DYNAMIC + 1} actors", tree_s * ms, "ms", actors_s * ms,
            "system.actors()")  # fmt: skip
    finally:
        logging.getLogger("lightflow_actors").setLevel(logging.NOTSET)


if __name__ == "__main__":
    main()
