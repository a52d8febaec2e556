"""``python -m lightflow_actors.testing``: explore a scenario, or replay a failure.

::

    python -m lightflow_actors.testing explore examples/deterministic/lost_update.py:scenario \\
        --seeds 1000 --jobs 2 --replay-dir .replays
    python -m lightflow_actors.testing replay .replays/scenario-seed3.replay.json
    python -m lightflow_actors.testing replay examples/deterministic/lost_update.py:scenario \\
        --seed 3 --strategy random

Exit status: 0 when every schedule passed (or the replay passed), 1 when one failed, 2 for
a usage error (an unknown scenario, a bad strategy, an unreadable replay file).
"""

from __future__ import annotations

import argparse
import sys

from ._errors import InvalidReplayFile, InvalidStrategy, ScenarioNotFound, ScheduleFailure
from ._explore import explore, load_scenario, replay


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lightflow_actors.testing",
        description="Explore schedules of a scenario, or replay one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("explore", help="run many seeded schedules; report the first failure")
    ex.add_argument("scenario", help="'package.module:name' or 'path/file.py:name'")
    ex.add_argument("--seeds", type=int, default=100)
    ex.add_argument("--strategy", default="portfolio")
    ex.add_argument("--start-seed", type=int, default=0)
    ex.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ex.add_argument(
        "--check-determinism", action="store_true", help="run each seed twice, diff the traces"
    )
    ex.add_argument("--replay-dir", help="write the failure's replay file here")
    ex.add_argument("--trace-dir", help="write the failure's trace (JSONL) here")
    rp = sub.add_parser("replay", help="run one schedule again: a replay file, or REF --seed N")
    rp.add_argument("target", help="a replay file (.json), or a scenario reference")
    rp.add_argument("--seed", type=int)
    rp.add_argument("--strategy", default="random")
    rp.add_argument("--trace", help="write the trace (JSONL) here")
    args = parser.parse_args(argv)
    try:
        if args.command == "explore":
            exploration = explore(
                load_scenario(args.scenario),
                seeds=args.seeds,
                strategy=args.strategy,
                start_seed=args.start_seed,
                jobs=args.jobs,
                check_determinism=args.check_determinism,
                replay_dir=args.replay_dir,
                trace_dir=args.trace_dir,
            )
            return 0 if exploration.ok else 1
        if not args.target.endswith(".json") and args.seed is None:
            parser.error("replay of a scenario reference needs --seed")
        replay(args.target, seed=args.seed, strategy=args.strategy, trace_path=args.trace)
        return 0
    except ScheduleFailure:
        return 1
    except (ScenarioNotFound, InvalidStrategy, InvalidReplayFile, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
