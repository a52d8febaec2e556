"""The portfolio strategy: a different search per seed, each run naming its own.

``explore`` defaults to ``portfolio``, which rotates ``random``, PCT of depth 2, 3 and 5 and
FairPCT (PCT, then a fair random suffix) across seeds, as Coyote's portfolio runs several
strategies side by side: random finds shallow races quickly, PCT finds bugs that need a
few precise preemptions, and the fair variant keeps liveness monitors honest (no operation
starves). A failure names the strategy of its own seed, so the replay line needs no
portfolio.

Run it: ``uv run --frozen python examples/deterministic/portfolio.py``
"""

from __future__ import annotations

from pathlib import Path

from lightflow_actors.testing import PORTFOLIO, explore, load_scenario, make_strategy

LOST_UPDATE = Path(__file__).with_name("lost_update.py")


def members(steps: int = 40) -> list[str]:
    """The strategy each of the first five seeds uses."""
    return [make_strategy(f"portfolio:steps={steps}", seed).spec for seed in range(len(PORTFOLIO))]


def main() -> None:
    for seed, spec in enumerate(members()):
        print(f"seed {seed}: {spec}")
    explore(load_scenario(f"{LOST_UPDATE}:scenario"), seeds=500)


if __name__ == "__main__":
    main()
