"""Group commit of run writes (ADR 0066, ADR 0118): step transitions per second with 100
runs active at once, beside the naive rewrite+append baseline measured in the same run.

Each round measures, one after the other on the same file system (so the machine's load
hits all of them alike):
- the group-committing store: 100 threads, one per run, each with one transition in
  flight (as 100 run actors each waiting for their write), for one second;
- the naive baseline: one run's manifest read, changed, rewritten and an event line
  appended, no fsync, no lock, no rename (`bench_flow._naive_update_rate`);
- the direct store (each transition durable on its own, the CLI's path).
Medians over the rounds; the load average is printed beside the figures.

Where the leaders' time goes (summed over the measured group-commit rounds, per
transition): CPU time and wall time in each of a group's two stages (ADR 0124: `_stage`
prepares and writes the frame, `_finish` syncs, applies and answers; the gap between CPU
and wall is waiting: for the journal's `fdatasync`, for the GIL or a core on a shared
machine), transitions per group, journal syncs and manifest writes per transition (the
flusher coalesces them), and the collector's pauses and checkpoints per round (to explain
a slow round).
"""

from __future__ import annotations

import gc
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._report import row
from bench.bench_flow import _group_update_rate, _naive_update_rate, _store_update_rate
from lightflow_actors.flow import _journal, _store

ROUNDS = 5


class _Leader:
    def __init__(self) -> None:
        self.groups = 0
        self.batches = 0
        self.cpu_s = {"stage": 0.0, "finish": 0.0}
        self.wall_s = {"stage": 0.0, "finish": 0.0}
        self.manifests = 0
        self.checkpoints = 0
        self.gc_s = 0.0


@contextmanager
def _watched() -> Iterator[_Leader]:
    """Count the leader's groups, time and manifest writes while inside."""
    seen = _Leader()
    group_commit = _store._GroupCommit
    stage, finish = group_commit._stage, group_commit._finish
    apply_op, finish_segment = _store.apply_op, _journal.WriteAheadLog.finish

    def timed(name: str, real: Any) -> Any:
        def run(self: Any, group: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return real(self, group)
            finally:
                seen.cpu_s[name] += time.thread_time() - cpu
                seen.wall_s[name] += time.perf_counter() - wall

        return run

    def staged(self: Any, group: list[Any]) -> Any:
        seen.groups += 1
        seen.batches += len(group)
        return timed_stage(self, group)

    def counted(target: Any, op: _journal.WalOp, *, replaying: bool) -> bool:
        seen.manifests += isinstance(op, _journal.PutManifest)
        return apply_op(target, op, replaying=replaying)

    def checkpoint(self: Any, *args: Any) -> None:
        seen.checkpoints += 1
        finish_segment(self, *args)

    started = [0.0]

    def collecting(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            seen.gc_s += time.perf_counter() - started[0]

    timed_stage = timed("stage", stage)
    group_commit._stage = staged  # type: ignore[method-assign]
    group_commit._finish = timed("finish", finish)  # type: ignore[method-assign]
    _store.apply_op = counted
    _journal.WriteAheadLog.finish = checkpoint  # type: ignore[method-assign]
    gc.callbacks.append(collecting)
    try:
        yield seen
    finally:
        gc.callbacks.remove(collecting)
        group_commit._stage = stage  # type: ignore[method-assign]
        group_commit._finish = finish  # type: ignore[method-assign]
        _store.apply_op = apply_op
        _journal.WriteAheadLog.finish = finish_segment  # type: ignore[method-assign]


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-group-commit-"))
    group: list[float] = []
    syncs: list[float] = []
    naive: list[float] = []
    direct: list[float] = []
    try:
        print(f"file system under test: {root}; load average before: {_load()}", flush=True)
        per_round: list[str] = []
        with _watched() as leader:
            for _ in range(ROUNDS):
                before = (leader.gc_s, leader.checkpoints, leader.groups, leader.batches)
                rate, per_transition = _group_update_rate(root)
                group.append(rate)
                syncs.append(per_transition)
                gc_ms = (leader.gc_s - before[0]) * 1e3
                size = (leader.batches - before[3]) / max(1, leader.groups - before[2])
                per_round.append(
                    f"{rate:,.0f}/s: gc {gc_ms:.0f} ms, "
                    f"{leader.checkpoints - before[1]} checkpoints, {size:.0f} per group"
                )
                naive.append(_naive_update_rate(root))
                direct.append(_store_update_rate(root))
        rate, base = statistics.median(group), statistics.median(naive)
        label = "step transitions/s, group commit, 100 runs"
        row(label, rate, "ops/s", base, "naive rewrite+append")
        row("  the same", rate, "ops/s", statistics.median(direct), "direct store, one run")
        print(f"{'  rounds (group commit, ops/s)':<44} {', '.join(f'{r:,.0f}' for r in group)}")
        print(f"{'  rounds (naive, ops/s)':<44} {', '.join(f'{r:,.0f}' for r in naive)}")
        ratios = sorted(g / n for g, n in zip(group, naive, strict=True))
        print(f"{'  ratio per round, lowest-highest':<44} {ratios[0]:.2f}x-{ratios[-1]:.2f}x")
        for line in per_round:
            print(f"{'  a round':<44} {line}")
        n = max(1, leader.batches)
        print("where the leaders' time goes (per transition, all rounds):")
        for name, what in (
            ("stage", "stage 1 (prepare, write)"),
            ("finish", "stage 2 (sync, apply)"),
        ):
            print(f"  {what + ' CPU':<42} {leader.cpu_s[name] / n * 1e6:>10.1f} µs")
            print(f"  {what + ' wall':<42} {leader.wall_s[name] / n * 1e6:>10.1f} µs")
        print(f"  {'transitions per group':<42} {leader.batches / max(1, leader.groups):>10.1f}")
        print(f"  {'journal syncs per transition':<42} {statistics.median(syncs):>10.3f}")
        print(f"  {'manifest writes per transition':<42} {leader.manifests / n:>10.3f}")
        print(f"load average after: {_load()}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
