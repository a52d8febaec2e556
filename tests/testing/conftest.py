"""The deterministic-scheduler tests use the pytest plugin this area ships."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lightflow_actors.testing import Scenario, load_scenario

pytest_plugins = ["lightflow_actors.testing.pytest_plugin"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "deterministic"


@pytest.fixture
def example() -> Callable[[str], Scenario]:
    """Load a scenario from examples/deterministic: ``example("lost_update.py:scenario")``."""

    def load(ref: str) -> Scenario:
        return load_scenario(f"{EXAMPLES}/{ref}")

    return load
