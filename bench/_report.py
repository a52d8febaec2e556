"""Shared printing for benches: a figure, its baseline, and the ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """The best (highest) of ``runs`` rates: the least disturbed by a noisy shared machine."""
    return max(fn() for _ in range(runs))


def interleaved(runs: int, *fns: Callable[[], float]) -> list[float]:
    """The best (highest) rate of each of ``fns``, run in turn ``runs`` times.

    A figure and its baseline measured in alternation see the same load: on a shared,
    noisy machine, measuring all of one and then all of the other skews their ratio.
    """
    best = [float("-inf")] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            best[i] = max(best[i], fn())
    return best


def row(
    label: str, value: float, unit: str, baseline: float | None = None, base_label: str = ""
) -> None:
    line = f"{label:<44} {value:>14,.0f} {unit}"
    if baseline:
        line += f"   | {base_label}: {baseline:,.0f} {unit}   ratio {value / baseline:.2f}x"
    print(line, flush=True)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sync_rate(fn: Callable[[], object], seconds: float = 0.5, batch: int = 500) -> float:
    """Calls of `fn` per second, in batches of `batch`, over at least `seconds`."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            fn()
        done += batch
    return done / elapsed


async def async_rate(
    fn: Callable[[], Awaitable[object]], seconds: float = 0.5, batch: int = 20
) -> float:
    """Awaited calls of `fn` per second, in batches of `batch`, over at least `seconds`."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(batch):
            await fn()
        done += batch
    return done / elapsed
