"""The messages/s sliding window and the RSS reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.adapters.http._metrics import RateWindow, resident_memory


def test_rate_over_the_window() -> None:
    window = RateWindow(10.0)
    assert window.observe(0.0, 0, fallback=-1.0) == -1.0  # no earlier sample yet
    assert window.observe(2.0, 100, fallback=-1.0) == 50.0
    assert window.observe(4.0, 300, fallback=-1.0) == 75.0  # (300 - 0) / 4
    # At t=13 the window starts at 3: the base is the newest sample at or before it (t=2).
    assert window.observe(13.0, 1200, fallback=-1.0) == pytest.approx(1100 / 11)
    # At t=30 only the t=13 sample remains as the base.
    assert window.observe(30.0, 1200, fallback=-1.0) == 0.0


def test_same_instant_and_counter_reset_use_the_fallback() -> None:
    window = RateWindow(5.0)
    window.observe(1.0, 10, fallback=0.0)
    assert window.observe(1.0, 20, fallback=3.0) == 3.0
    assert window.observe(2.0, 5, fallback=4.0) == 4.0


@given(st.lists(st.tuples(st.floats(0, 1e3), st.integers(0, 10**9)), min_size=1, max_size=50))
def test_rate_is_never_negative_for_growing_counters(steps: list[tuple[float, int]]) -> None:
    window = RateWindow(10.0, max_samples=16)
    now, total = 0.0, 0
    for dt, more in steps:
        now += dt
        total += more
        assert window.observe(now, total, fallback=0.0) >= 0.0


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window"):
        RateWindow(0.0)


def test_resident_memory(tmp_path: Path) -> None:
    rss = resident_memory()
    assert rss is None or rss > 1024 * 1024
    fake = tmp_path / "statm"
    fake.write_text("100 25 3 4 0 5 0\n")
    assert resident_memory(str(fake)) is not None
    fake.write_text("garbage")
    assert resident_memory(str(fake)) is None
    assert resident_memory(str(tmp_path / "missing")) is None
