"""Durable runs against a durable-workflow peer: the same 10-step chain in DBOS and here.

The workload: a chain of 10 trivial Python steps, each fed the previous one's output.
- DBOS 3 (`dbos`, a dev dependency) on SQLite in a temp folder, no server: `@DBOS.workflow`
  calling 10 `@DBOS.step`s; each step's result is checkpointed in SQLite before the next.
- lightflow: `RunsHosting` as `lightflow serve` builds it (group-committed store, embedded
  directory substrate, an instant Python provider), `CreateRun` then `AwaitSettled`; and
  the same with the store writing each file durably on its own (before ADR 0066).

Figures (medians; the ratio is lightflow / DBOS, so > 1 means slower):
- end-to-end latency of one chain, sequential runs; the same per step;
- runs completed per second with 20 chains in flight at once;
- where a lightflow step's time goes (one sequential chain, summed over its steps): time
  inside fsync, inside rename/create (metadata), inside the store's commits otherwise, and
  the rest (the exchange through `/ctx`: the watcher noticing, the substrate, actor and
  thread hops), with fsyncs counted per step.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._report import row
from bench.bench_runs import _config, _seed
from lightflow_actors import ActorSystem
from lightflow_actors.flow import RunStore
from lightflow_actors.host import RunsHosting
from lightflow_actors.runs import AwaitSettled, CreateRun, _operations

SEQUENTIAL = 8
CONCURRENT = 20
ROUNDS = 3


# -- DBOS ---------------------------------------------------------------------------------


def _dbos(folder: Path) -> tuple[float, float]:
    """(median seconds per chain, chains/s with CONCURRENT in flight) in DBOS on SQLite."""
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "bench-durable",
        "system_database_url": f"sqlite:///{folder / 'dbos.sqlite'}",
        "run_admin_server": False,
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    def step(n: int, text: str) -> str:
        return f"{n} {text}"

    @DBOS.workflow()
    def chain(seed: str) -> str:
        text = seed
        for n in range(1, 11):
            text = step(n, text)
        return text

    DBOS.launch()
    try:
        chain("warm-up")
        samples = []
        for _ in range(SEQUENTIAL):
            start = time.perf_counter()
            chain("x")
            samples.append(time.perf_counter() - start)
        start = time.perf_counter()
        handles = [DBOS.start_workflow(chain, f"c{n}") for n in range(CONCURRENT)]
        for handle in handles:
            handle.get_result()
        rate = CONCURRENT / (time.perf_counter() - start)
    finally:
        DBOS.destroy()
    return statistics.median(samples), rate


# -- lightflow ----------------------------------------------------------------------------


class _Split:
    """Time spent inside fsync and inside rename/create, and fsyncs counted, while on."""

    def __init__(self) -> None:
        self.on = False
        self.fsync_s = 0.0
        self.meta_s = 0.0
        self.commit_s = 0.0
        self.fsyncs = 0
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self.on:
                    took = time.perf_counter() - start
                    with self._lock:
                        if kind == "fsync":
                            self.fsync_s += took
                            self.fsyncs += 1
                        elif kind == "meta":
                            self.meta_s += took
                        else:
                            self.commit_s += took

        return timed


class _DirectStore(RunStore):
    """The host's store with group commit refused: every file durable on its own (the
    store as it was before ADR 0066)."""

    def __init__(self, root: Path | None = None, **_: object) -> None:
        super().__init__(root)


async def _lightflow(root: Path, group: bool = True) -> tuple[float, float, dict[str, float]]:
    hosting = RunsHosting(_config(root), environ={}, mcp=False, resume=False)
    split = _Split()
    saved = (os.fsync, os.replace, os.rename, RunStore.commit)
    saved_store = _operations.RunStore
    if not group:
        _operations.RunStore = _DirectStore  # type: ignore[misc]
    os.fsync = split.wrap(os.fsync, "fsync")  # type: ignore[assignment]
    os.replace = split.wrap(os.replace, "meta")  # type: ignore[assignment]
    os.rename = split.wrap(os.rename, "meta")  # type: ignore[assignment]
    RunStore.commit = split.wrap(RunStore.commit, "commit")  # type: ignore[method-assign]
    try:
        async with ActorSystem("bench-durable") as system:
            await hosting.start(system)
            await hosting.call(CreateRun("chain", _seed("warm-up"), "warm-up"))
            await hosting.call(AwaitSettled("warm-up"))
            samples = []
            splits = []
            for n in range(SEQUENTIAL):
                split.fsync_s = split.meta_s = split.commit_s = 0.0
                split.fsyncs = 0
                split.on = True
                start = time.perf_counter()
                await hosting.call(CreateRun("chain", _seed(f"s{n}"), f"s{n}"))
                view = await hosting.call(AwaitSettled(f"s{n}"))
                took = time.perf_counter() - start
                split.on = False
                assert view.status == "succeeded", view
                samples.append(took)
                splits.append(
                    {
                        "total": took,
                        "fsync": split.fsync_s,
                        "meta": split.meta_s,
                        "commit": split.commit_s,
                        "fsyncs": float(split.fsyncs),
                    }
                )
            start = time.perf_counter()
            for n in range(CONCURRENT):
                await hosting.call(CreateRun("chain", _seed(f"c{n}"), f"c{n}"))
            views = await asyncio.gather(
                *(hosting.call(AwaitSettled(f"c{n}")) for n in range(CONCURRENT))
            )
            rate = CONCURRENT / (time.perf_counter() - start)
            assert all(v.status == "succeeded" for v in views)
            await hosting.stop()
    finally:
        _operations.RunStore = saved_store  # type: ignore[misc]
        os.fsync, os.replace, os.rename, RunStore.commit = saved  # type: ignore[assignment,method-assign]
    median_split = {key: statistics.median(s[key] for s in splits) for key in splits[0]}
    return statistics.median(samples), rate, median_split


def _middle(
    results: list[tuple[float, float, dict[str, float]]],
) -> tuple[float, float, dict[str, float]]:
    """The round with the median chain latency (its rate and split with it)."""
    ordered = sorted(results, key=lambda r: r[0])
    chain, _, split = ordered[len(ordered) // 2]
    return chain, statistics.median(r[1] for r in results), split


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-durable-") as tmp:
        dbos_chain, dbos_rate = _dbos(Path(tmp))
    # Interleaved rounds, medians: other processes' load hits both sides alike.
    rounds: dict[bool, list[tuple[float, float, dict[str, float]]]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for group in (True, False):
            with tempfile.TemporaryDirectory(prefix="bench-durable-") as tmp:
                rounds[group].append(asyncio.run(_lightflow(Path(tmp), group=group)))
    chain, rate, split = _middle(rounds[True])
    direct_chain, direct_rate, direct_split = _middle(rounds[False])
    row("10-step chain, end to end (median)", chain * 1e3, "ms", dbos_chain * 1e3, "DBOS/SQLite")
    row("  the same, store without group commit", direct_chain * 1e3, "ms", chain * 1e3, "group")
    row("  per step", chain * 1e3 / 10, "ms", dbos_chain * 1e3 / 10, "DBOS/SQLite")
    print(
        f"{'  per step, precise':<44} {chain * 100:>14.2f} ms   | DBOS: {dbos_chain * 100:.2f} ms"
    )
    row(f"chains/s, {CONCURRENT} in flight", rate, "runs/s", dbos_rate, "DBOS/SQLite")
    row("  the same, store without group commit", direct_rate, "runs/s", rate, "group")
    print(f"{'  ratio lightflow/DBOS (chain latency)':<44} {chain / dbos_chain:>14.2f}x")
    print("where a lightflow step's time goes (median chain, per step):")
    per = {key: value / 10 for key, value in split.items()}
    commit_rest = max(0.0, per["commit"] - per["fsync"] - per["meta"])
    rest = per["total"] - per["fsync"] - per["meta"] - commit_rest
    for label, value in (
        ("inside fsync (store, /ctx commit, answers)", per["fsync"]),
        ("inside rename/replace (metadata)", per["meta"]),
        ("store commits, the rest of them", commit_rest),
        ("exchange: watcher, substrate, actor hops", rest),
        ("total", per["total"]),
    ):
        print(f"  {label:<42} {value * 1e3:>10.2f} ms")
    print(f"  {'fsyncs per step (all of them)':<42} {per['fsyncs']:>10.1f}")
    print(f"  {'  without group commit':<42} {direct_split['fsyncs'] / 10:>10.1f}")


if __name__ == "__main__":
    main()
