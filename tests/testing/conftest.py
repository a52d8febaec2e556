"""Fixtures of the deterministic-scheduler tests (the plugin itself is registered by the
package's ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lightflow_actors.testing import Scenario, load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "deterministic"

Example = Callable[[str], Scenario]


@pytest.fixture
def example() -> Callable[[str], Scenario]:
    """Load a scenario from examples/deterministic: ``example("lost_update.py:scenario")``."""

    def load(ref: str) -> Scenario:
        return load_scenario(f"{EXAMPLES}/{ref}")

    return load
