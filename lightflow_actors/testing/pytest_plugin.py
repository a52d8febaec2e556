"""pytest plugin: run an async test under many deterministic schedules.

::

    @pytest.mark.deterministic(seeds=50, strategy="pct")
    async def test_transfer(sim_system: ActorSystem) -> None:
        ...   # build actors on sim_system, drive them, assert

The test body runs once per seed on a fresh ``DeterministicLoop`` and a fresh system
(``sim_system``); other fixtures are created once and shared by every run. The first failing
seed fails the test with the seed, the strategy and a command that replays just that
schedule: ``LIGHTFLOW_SEED=<seed> LIGHTFLOW_STRATEGY=<spec> uv run --frozen pytest <node id>``.
``LIGHTFLOW_SEEDS=<n>`` overrides the number of seeds of every marked test.

Marker options: ``seeds`` (50), ``strategy`` ('portfolio', 'random', 'fifo', 'pct',
'pct:depth=..', 'fairpct', 'hypothesis', 'script:..'), ``start_seed`` (0), ``faults`` (a
``FaultPlan``), ``blocking``, ``allow_threads``, ``max_steps``, ``max_virtual_time``,
``monitors``, ``liveness_steps``, ``liveness_time``, ``detect_hangs``,
``check_determinism``.

``--lightflow-check-determinism`` (or ``LIGHTFLOW_CHECK_DETERMINISM=1``) turns the
determinism self-check on for every marked test: each seed runs twice and any difference
fails the test, naming the first divergence and its likely cause. With
``LIGHTFLOW_REPLAY_DIR`` set a failure also writes its replay file there, and
``LIGHTFLOW_REPLAY=<file> uv run --frozen pytest <node id>`` runs exactly that schedule.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from ..supervision import ActorSystem
from ._errors import ScheduleFailure
from ._explore import REPLAY_DIR_ENV, _slug, explore, replay, replay_file_of
from ._faults import NO_FAULTS, FaultPlan
from ._runner import DEFAULT_MAX_STEPS, Scenario

SEED_ENV = "LIGHTFLOW_SEED"
STRATEGY_ENV = "LIGHTFLOW_STRATEGY"
SEEDS_ENV = "LIGHTFLOW_SEEDS"
CHECK_ENV = "LIGHTFLOW_CHECK_DETERMINISM"
REPLAY_ENV = "LIGHTFLOW_REPLAY"
CHECK_OPTION = "--lightflow-check-determinism"
FIXTURE = "sim_system"

_OPTIONS = {
    "seeds",
    "strategy",
    "start_seed",
    "faults",
    "blocking",
    "allow_threads",
    "max_steps",
    "max_virtual_time",
    "monitors",
    "liveness_steps",
    "liveness_time",
    "detect_hangs",
    "check_determinism",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lightflow", "lightflow deterministic scheduler")
    group.addoption(
        CHECK_OPTION,
        action="store_true",
        default=False,
        help="run each seed of every @pytest.mark.deterministic test twice and fail on any "
        "difference between the traces (the determinism self-check)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "deterministic(seeds=50, strategy='portfolio', start_seed=0, faults=None, "
        "allow_threads=False, monitors=(), check_determinism=False): run this async test "
        "(taking the sim_system fixture) under the deterministic scheduler on many seeds; "
        "a failure reports its seed and a replay line",
    )


@pytest.fixture
def sim_system(request: pytest.FixtureRequest) -> ActorSystem | None:
    """The simulated ``ActorSystem`` of each run (filled in per seed by the marker)."""
    if request.node.get_closest_marker("deterministic") is None:
        raise pytest.UsageError(
            f"{request.node.nodeid} uses the {FIXTURE} fixture without "
            "@pytest.mark.deterministic(...); add the marker"
        )
    return None  # replaced by each run's own system


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("deterministic")
    if marker is None:
        return None
    nodeid = pyfuncitem.nodeid
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        raise pytest.UsageError(f"{nodeid}: @pytest.mark.deterministic needs an async def test")
    if pyfuncitem.get_closest_marker("anyio") is not None:
        raise pytest.UsageError(
            f"{nodeid}: use either @pytest.mark.deterministic or @pytest.mark.anyio, not both"
        )
    if marker.args:
        raise pytest.UsageError(f"{nodeid}: deterministic(...) takes keyword options only")
    unknown = set(marker.kwargs) - _OPTIONS
    if unknown:
        raise pytest.UsageError(
            f"{nodeid}: unknown deterministic(...) options {sorted(unknown)}; "
            f"known: {sorted(_OPTIONS)}"
        )
    params = list(inspect.signature(fn).parameters)
    if FIXTURE not in params:
        raise pytest.UsageError(f"{nodeid}: a deterministic test takes the {FIXTURE} fixture")
    shared = {name: pyfuncitem.funcargs[name] for name in params if name != FIXTURE}
    options = marker.kwargs

    async def body(system: ActorSystem) -> None:
        await fn(**shared, **{FIXTURE: system})

    faults = options.get("faults") or NO_FAULTS
    if not isinstance(faults, FaultPlan):
        raise pytest.UsageError(f"{nodeid}: faults= takes a FaultPlan, got {faults!r}")
    sc = Scenario(
        body,
        name=nodeid,
        faults=faults,
        blocking=options.get("blocking"),
        allow_threads=bool(options.get("allow_threads", False)),
        max_steps=int(options.get("max_steps", DEFAULT_MAX_STEPS)),
        max_virtual_time=options.get("max_virtual_time"),
        monitors=tuple(options.get("monitors", ())),
        liveness_steps=options.get("liveness_steps"),
        liveness_time=options.get("liveness_time"),
        detect_hangs=bool(options.get("detect_hangs", True)),
    )
    if os.environ.get(REPLAY_ENV):
        replay(Path(os.environ[REPLAY_ENV]), scenario=sc, out=None)
        return True
    check = bool(
        options.get("check_determinism", False)
        or pyfuncitem.config.getoption(CHECK_OPTION, default=False)
        or os.environ.get(CHECK_ENV, "") not in ("", "0")
    )
    strategy = os.environ.get(STRATEGY_ENV) or str(options.get("strategy", "portfolio"))
    seeds = int(os.environ.get(SEEDS_ENV) or options.get("seeds", 50))
    start = int(options.get("start_seed", 0))
    if os.environ.get(SEED_ENV):
        start, seeds = int(os.environ[SEED_ENV]), 1
    exploration = explore(
        sc, seeds=seeds, strategy=strategy, start_seed=start, out=None, check_determinism=check
    )
    failure = exploration.failure
    if failure is not None:
        result = failure.result
        command = (
            f"{SEED_ENV}={failure.seed} {STRATEGY_ENV}='{failure.strategy}' "
            f"uv run --frozen pytest '{nodeid}'"
        )
        folder = os.environ.get(REPLAY_DIR_ENV)
        written = ""
        if folder:
            path = Path(folder) / f"{_slug(nodeid)}-seed{failure.seed}.replay.json"
            replay_file_of(result).write(path)
            written = (
                f"\n  replay file: {path} ({REPLAY_ENV}={path} uv run --frozen pytest '{nodeid}')"
            )
        raise ScheduleFailure(
            f"schedule failed at seed {failure.seed} (strategy {failure.strategy}) after "
            f"{exploration.runs} schedule(s): {result.describe_error()}\n"
            f"  trace sha256 {result.sha256()} ({len(result.trace)} events, "
            f"{result.steps} steps, virtual time {result.virtual_time:g}s)\n"
            f"  replay: {command}{written}"
        ) from failure.error
    return True
