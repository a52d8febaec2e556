"""`lightflow serve` turns the slow-handler watchdog on: 100 ms by default, or
`LIGHTFLOW_LONG_HANDLER_MS` (a number of milliseconds, or `off`); anything else is a typed
config error naming the variable, which the CLI reports as a usage error."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import ServeOptions, ServerPart
from lightflow_actors.host import (
    LONG_HANDLER_ENV,
    PARTS,
    WatchdogConfigError,
    long_handler_threshold,
    loop_watchdog,
)
from lightflow_actors.runs import RunsConfigError


def test_the_default_is_100_ms_and_off_turns_it_off() -> None:
    assert long_handler_threshold({}) == 0.1
    assert long_handler_threshold({LONG_HANDLER_ENV: ""}) == 0.1
    assert long_handler_threshold({LONG_HANDLER_ENV: "250"}) == 0.25
    assert long_handler_threshold({LONG_HANDLER_ENV: " OFF "}) is None


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "inf", "100ms", "1e400", "\udcff", "1_0x"])
def test_a_bad_value_is_a_config_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(WatchdogConfigError, match=LONG_HANDLER_ENV) as caught:
        long_handler_threshold({LONG_HANDLER_ENV: raw})
    assert isinstance(caught.value, RunsConfigError)  # what `lightflow serve` reports as usage


@given(raw=st.text(max_size=60))
def test_any_value_is_a_threshold_off_or_a_typed_error(raw: str) -> None:
    try:
        threshold = long_handler_threshold({LONG_HANDLER_ENV: raw})
    except WatchdogConfigError:
        return
    assert threshold is None or (math.isfinite(threshold) and threshold > 0)


@pytest.mark.anyio
async def test_the_serve_part_sets_the_threshold_on_the_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert loop_watchdog in PARTS
    monkeypatch.setenv(LONG_HANDLER_ENV, "40")
    part = loop_watchdog(ServeOptions())
    assert isinstance(part, ServerPart) and part.on_startup is not None
    async with ActorSystem() as system:
        assert system.long_handler is None
        await part.on_startup(system)
        assert system.long_handler == pytest.approx(0.04)
