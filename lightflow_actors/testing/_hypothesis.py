"""Hypothesis-driven exploration: every scheduling choice is drawn from Hypothesis data.

A failing schedule then shrinks like any Hypothesis example. The data encodes the schedule
as deviations from FIFO order (see ``HypothesisStrategy``), so the reported schedule
deviates from plain asyncio order at as few steps as the bug needs. The shrunk schedule is
replayed with a ``script:`` strategy.

Hypothesis is a development dependency: it is imported only when this is used.
"""

from __future__ import annotations

import contextlib

from ._errors import SimulationError
from ._explore import Exploration, Printer
from ._runner import RunResult, Scenario, ScenarioFn, as_scenario, run_schedule
from ._strategies import HypothesisStrategy


class _ScheduleFailed(Exception):
    """Raised inside the Hypothesis test so it sees one failure type per distinct error."""


def explore_hypothesis(
    target: Scenario | ScenarioFn,
    *,
    max_examples: int = 200,
    seed: int = 0,
    out: Printer = print,
) -> Exploration:
    """Search schedules with Hypothesis; on failure, report the *shrunk* schedule.

    The search is derandomized (same scenario, same result) and keeps no example database.
    ``seed`` seeds ``system.random`` and the fault RNG of every run.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisException

    sc = as_scenario(target)
    exploration = Exploration(sc, "hypothesis")
    # Deviations can only land on decisions the run makes: measure them on the FIFO
    # schedule, with room for schedules that make more.
    probe = run_schedule(sc, seed=seed, strategy="fifo", quiet=True)
    horizon = max(2 * len(probe.choices), 8)
    last_failure: list[RunResult] = []

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        # No "explain" phase: it line-traces every re-run, which costs ten times the search.
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    )
    @given(st.data())
    def search(data: st.DataObject) -> None:
        result = run_schedule(
            sc, seed=seed, strategy=HypothesisStrategy(data, horizon=horizon), quiet=True
        )
        exploration.record(result)
        if not result.ok:
            last_failure[:] = [result]
            # One exception type per error type, so Hypothesis shrinks each bug on its own.
            kind = type(result.error).__name__
            raise _ScheduleFailed(f"{kind}: {result.describe_error()}")

    with contextlib.suppress(_ScheduleFailed, HypothesisException, SimulationError, ExceptionGroup):
        search()
    if last_failure:
        exploration.fail(last_failure[0])
    if out is not None:
        out(exploration.report())
    return exploration
