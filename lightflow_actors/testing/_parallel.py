"""``explore(..., jobs=N)``: seeds spread over worker processes, reported in seed order.

Seeds go out in contiguous chunks, a few per worker at a time. Each worker runs its chunk
exactly as ``explore`` would in one process (a seed's schedule does not depend on the
process: same seed, same trace) and sends back how many schedules ran, their fingerprints
and its first failing seed. Chunks are taken back in seed order, so the failure reported is
the first failing seed in seed order, whatever finished first; chunks after it are
cancelled. The parent then runs that seed once more itself to get the full result (trace,
error, replay file).

Workers are forked where the platform can (they inherit the scenario object, so closures
and pytest-built scenarios work); elsewhere they are spawned and load the scenario by its
reference, which it must then have.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

from ._errors import ScenarioNotFound
from ._runner import Scenario

# The scenario of the exploration under way, inherited by forked workers.
_scenario: Scenario | None = None

ChunkResult = tuple[int, list[bytes], int | None]
"""(schedules run, their fingerprints, the first failing seed or None)."""


def _run_chunk(ref: str | None, seeds: range, spec: str, check: bool) -> ChunkResult:
    from ._explore import load_scenario, run_one

    sc = _scenario if _scenario is not None and ref is None else None
    if sc is None:
        if ref is None:
            raise ScenarioNotFound("<unnamed>", "a spawned worker needs a scenario reference")
        sc = load_scenario(ref)
    fingerprints: list[bytes] = []
    for seed in seeds:
        result = run_one(sc, seed, spec, check)
        fingerprints.append(result.fingerprint())
        if not result.ok:
            return len(fingerprints), fingerprints, seed
    return len(fingerprints), fingerprints, None


def _chunks(seeds: range, jobs: int) -> list[range]:
    size = max(1, min(64, len(seeds) // (jobs * 4) or 1))
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


def explore_parallel(
    sc: Scenario, exploration: object, seeds: range, spec: str, jobs: int, check: bool
) -> int | None:
    """Run ``seeds`` on ``jobs`` processes; record into ``exploration``; the first failing
    seed in seed order, or None."""
    from ._explore import Exploration, derive_ref

    assert isinstance(exploration, Exploration)
    global _scenario
    methods = multiprocessing.get_all_start_methods()
    fork = "fork" in methods and os.name == "posix"
    ref = None if fork else (sc.ref or derive_ref(sc))
    if not fork and ref is None:
        raise ScenarioNotFound(
            sc.name, "explore(jobs=N) on this platform needs a module-level scenario"
        )
    context = multiprocessing.get_context("fork" if fork else "spawn")
    chunks = deque(_chunks(seeds, jobs))
    in_flight: deque[Future[ChunkResult]] = deque()
    _scenario = sc
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            while chunks and len(in_flight) < jobs * 2:
                in_flight.append(pool.submit(_run_chunk, ref, chunks.popleft(), spec, check))
            while in_flight:
                runs, fingerprints, failing = in_flight.popleft().result()
                exploration.runs += runs
                exploration.digests.update(fingerprints)
                if failing is not None:
                    for future in in_flight:
                        future.cancel()
                    return failing
                if chunks:
                    in_flight.append(pool.submit(_run_chunk, ref, chunks.popleft(), spec, check))
    finally:
        _scenario = None
    return None
