"""Cluster drill bench: seeds per second of the deterministic session-fencing drill.

The drill (tests/testing/test_cluster_drill.py): three simulated nodes running the real
`NatsSessionStore` over a simulated key-value bucket fenced by revision compare-and-set,
a client whose session moves between nodes, and a storm of network faults (partition,
delay, duplicate, loss) drawn from each seed. ``LIGHTFLOW_DRILL_SEEDS`` seeds (default
10 000) of the real protocol must all pass; the rate is printed beside the same drill on
a calm network (no faults) in this run, the baseline. Then the planted bug (the bucket's
revision check switched off) is explored and the seed that finds the split brain is
printed. Rates are in CPU time of this process.
"""

from __future__ import annotations

import logging
import os
import time

from bench._report import row
from lightflow_actors.testing import Scenario, explore
from tests.testing.test_cluster_drill import CALM, PLANTED_SPLIT_BRAIN, SESSION_MOVES

SEEDS = int(os.environ.get("LIGHTFLOW_DRILL_SEEDS", "10000"))


def _rate(scenario: Scenario, seeds: int) -> float:
    start = time.process_time()
    result = explore(scenario, seeds=seeds, out=None)
    spent = time.process_time() - start
    if not result.ok:
        raise SystemExit(result.report())
    return result.runs / spent


def main() -> None:
    # the store's retry warnings, one per faulty seed: expected here
    logging.getLogger("lightflow_actors.adapters.nats._sessions").setLevel(logging.ERROR)
    calm = _rate(CALM, max(100, SEEDS // 10))
    storm = _rate(SESSION_MOVES, SEEDS)
    row(f"drill, {SEEDS:,} seeds with faults, all pass", storm, "seeds/s", calm, "calm network")
    found = explore(PLANTED_SPLIT_BRAIN, seeds=1000, out=None)
    if found.failure is None:
        raise SystemExit("the planted split brain was not found in 1 000 seeds")
    print(f"planted split brain (no revision check): found at seed {found.failure.seed}")
    print(f"  {found.failure.result.describe_error()}")


if __name__ == "__main__":
    main()
