"""Parallel exploration: seeds spread over processes, the same report as one process.

``explore(..., jobs=2)`` (``--jobs 2`` on the command line) runs chunks of seeds in worker
processes. A seed's schedule does not depend on the process, and chunks are taken back in
seed order, so the failure reported is the first failing seed, exactly as ``jobs=1`` finds.

Run it: ``uv run --frozen python examples/deterministic/parallel_explore.py``
"""

from __future__ import annotations

from pathlib import Path

from lightflow_actors.testing import Exploration, explore, load_scenario

LOST_UPDATE = Path(__file__).with_name("lost_update.py")


def both(seeds: int = 300, strategy: str = "pct") -> tuple[Exploration, Exploration]:
    """The lost update explored in one process and in two: the same first failing seed."""
    sc = load_scenario(f"{LOST_UPDATE}:scenario")
    serial = explore(sc, seeds=seeds, strategy=strategy, start_seed=1)
    parallel = explore(sc, seeds=seeds, strategy=strategy, start_seed=1, jobs=2)
    assert serial.failure is not None and parallel.failure is not None
    assert serial.failure.seed == parallel.failure.seed
    assert serial.failure.result.sha256() == parallel.failure.result.sha256()
    return serial, parallel


def main() -> None:
    both()


if __name__ == "__main__":
    main()
