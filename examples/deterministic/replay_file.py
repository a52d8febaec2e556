"""Replay files: a CI failure reproduced from the artifact alone.

``explore`` writes a replay file for its failure (``replay_dir=``, or the
``LIGHTFLOW_REPLAY_DIR`` environment variable a CI job sets and keeps as an artifact). The
file holds the scenario's reference, the seed, every scheduling choice and the fault plan,
so ``replay(path)`` -- or ``uv run --frozen python -m lightflow_actors.testing replay
path`` -- runs the very same schedule, and says whether the trace is the recorded one.

Run it: ``uv run --frozen python examples/deterministic/replay_file.py``
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lightflow_actors.testing import RunResult, explore, load_scenario, read_replay, replay

LOST_UPDATE = Path(__file__).with_name("lost_update.py")


def find_and_replay(folder: Path) -> tuple[Path, RunResult]:
    """Explore the lost update, then replay its failure from the replay file alone."""
    sc = load_scenario(f"{LOST_UPDATE}:scenario")
    exploration = explore(sc, seeds=500, replay_dir=folder)
    assert exploration.failure is not None and exploration.failure.replay_file is not None
    path = exploration.failure.replay_file
    recorded = read_replay(path)
    print(f"replay file {path.name}: seed {recorded.seed}, {len(recorded.choices)} choices")
    result = replay(path, check=False)
    assert result.sha256() == recorded.trace_sha256, "the replay is the recorded schedule"
    return path, result


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        find_and_replay(Path(folder))


if __name__ == "__main__":
    main()
