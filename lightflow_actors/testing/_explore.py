"""``explore`` many schedules of a scenario; ``replay`` one exactly.

``explore`` runs seed after seed until a run fails its invariant, then prints the seed, the
strategy and a one-line command that replays that very schedule::

    explore: FAILED at seed 37 (strategy random) after 38 schedules
      AssertionError: lost update: balance 100, expected 150
      trace sha256 5f0c...  (61 events, 48 steps, virtual time 0s)
      replay: uv run --frozen python -c "from lightflow_actors.testing import replay; ..."

A scenario is found again by reference: 'package.module:name' or 'path/to/file.py:name'.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ._errors import (
    InvalidReplayFile,
    InvalidStrategy,
    NondeterminismDetected,
    ScenarioNotFound,
    ScheduleFailure,
    SimulationError,
)
from ._faults import FaultPlan
from ._leaks import describe_event, first_divergence, likely_cause, watch_sources
from ._replayfile import ReplayFile, read_replay
from ._runner import RunResult, Scenario, ScenarioFn, as_scenario, run_schedule
from ._strategies import PCTStrategy, ScriptStrategy, make_strategy

REPLAY_DIR_ENV = "LIGHTFLOW_REPLAY_DIR"
"""Where a failing exploration writes its replay file when ``replay_dir`` is not given."""

Printer = Callable[[str], None] | None


class Failure:
    """The first failing schedule an exploration found, with how to replay it."""

    __slots__ = ("replay_command", "replay_file", "result")

    def __init__(self, result: RunResult, replay_command: str) -> None:
        self.result = result
        self.replay_command = replay_command
        self.replay_file: Path | None = None
        """The replay file written for this failure (``replay_dir``), if any."""

    @property
    def seed(self) -> int:
        return self.result.seed

    @property
    def strategy(self) -> str:
        return self.result.strategy

    @property
    def error(self) -> BaseException:
        assert self.result.error is not None
        return self.result.error

    def report(self, runs: int) -> str:
        r = self.result
        return "\n".join(
            [
                f"explore: FAILED at seed {r.seed} (strategy {r.strategy}) after {runs} "
                f"schedule{'s' if runs != 1 else ''} of {r.scenario.name}",
                f"  {r.describe_error()}",
                f"  trace sha256 {r.sha256()}  ({len(r.trace)} events, {r.steps} steps, "
                f"virtual time {r.virtual_time:g}s, {r.deviations} non-FIFO choices)",
                f"  replay: {self.replay_command}",
                *(
                    [
                        f"  replay file: {self.replay_file} (uv run --frozen python -m "
                        f"lightflow_actors.testing replay {self.replay_file})"
                    ]
                    if self.replay_file is not None
                    else []
                ),
            ]
        )


class Exploration:
    """The outcome of ``explore``: how many schedules ran, how many distinct, any failure."""

    __slots__ = ("digests", "failure", "runs", "scenario", "strategy")

    def __init__(self, scenario: Scenario, strategy: str) -> None:
        self.scenario = scenario
        self.strategy = strategy
        self.runs = 0
        self.digests: set[bytes] = set()
        """Fingerprints (``RunResult.fingerprint``) of the schedules run."""
        self.failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def distinct(self) -> int:
        """Distinct schedules run: how many different interleavings were explored."""
        return len(self.digests)

    def report(self) -> str:
        if self.failure is not None:
            return self.failure.report(self.runs)
        return (
            f"explore: {self.runs} schedules of {self.scenario.name} passed "
            f"(strategy {self.strategy}, {self.distinct} distinct schedules)"
        )

    def record(self, result: RunResult) -> None:
        """Count one schedule that ran, and its trace."""
        self.runs += 1
        self.digests.add(result.fingerprint())

    def fail(self, result: RunResult) -> None:
        """Make ``result`` the failure this exploration reports, with its replay line."""
        command = replay_command(result.scenario, result.seed, result.strategy)
        self.failure = Failure(result, command)

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise ScheduleFailure(self.failure.report(self.runs)) from self.failure.error


def explore(
    target: Scenario | ScenarioFn,
    *,
    seeds: int = 100,
    strategy: str = "portfolio",
    start_seed: int = 0,
    out: Printer = print,
    trace_dir: str | Path | None = None,
    replay_dir: str | Path | None = None,
    jobs: int = 1,
    check_determinism: bool = False,
) -> Exploration:
    """Run ``seeds`` schedules (seeds ``start_seed`` onwards); report the first failure.

    ``strategy`` is a spec ('portfolio', 'random', 'pct', 'pct:depth=3,steps=400',
    'fairpct', 'fifo'), or 'hypothesis' to search with ``explore_hypothesis`` (``seeds``
    examples; the failure is the shrunk schedule, replayed with a 'script:' spec). A bare
    'pct', 'fairpct' or 'portfolio' is calibrated first: one FIFO run counts the scheduling
    decisions, and that count becomes ``steps`` in the spec every run uses. The default
    'portfolio' rotates random, PCT of depth 2, 3 and 5 and FairPCT across seeds; each
    run's own strategy is what its report and replay name.

    ``jobs`` > 1 spreads the seeds over that many processes; each seed's result is the
    same as in one process, and the failure reported is the first in seed order.
    ``check_determinism`` runs every seed twice and fails on any difference between the two
    traces (or on a read of the wall clock, the global ``random`` or real I/O), naming the
    first divergence and its likely cause.

    The failure's trace is written to ``trace_dir`` (JSONL) and a replay file to
    ``replay_dir`` (default ``$LIGHTFLOW_REPLAY_DIR``; ``replay(path)`` runs it again).
    ``out`` receives the report (None: silent).
    """
    sc = as_scenario(target)
    if strategy.strip().lower() == "hypothesis":
        if jobs != 1 or check_determinism:
            raise InvalidStrategy(strategy, "jobs and check_determinism need a seeded strategy")
        from ._hypothesis import explore_hypothesis

        return explore_hypothesis(sc, max_examples=seeds, seed=start_seed, out=out)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    spec = _calibrate(sc, strategy, start_seed)
    exploration = Exploration(sc, spec)
    if jobs > 1 and seeds > 1:
        from ._parallel import explore_parallel

        failing = explore_parallel(
            sc, exploration, range(start_seed, start_seed + seeds), spec, jobs, check_determinism
        )
        if failing is not None:
            # Seeds are deterministic: the failing one runs again here for the full result.
            result = run_one(sc, failing, spec, check_determinism)
            if result.ok:
                raise SimulationError(
                    f"seed {failing} failed in a worker process but passed here: the scenario "
                    "is not deterministic; run explore(..., check_determinism=True) to see why"
                )
            exploration.fail(result)
    else:
        for seed in range(start_seed, start_seed + seeds):
            result = run_one(sc, seed, spec, check_determinism)
            exploration.record(result)
            if not result.ok:
                exploration.fail(result)
                break
    failure = exploration.failure
    if failure is not None:
        result = failure.result
        if trace_dir is not None:
            result.trace.write(Path(trace_dir) / f"{_slug(sc.name)}-seed{result.seed}.jsonl")
        folder = replay_dir if replay_dir is not None else os.environ.get(REPLAY_DIR_ENV)
        if folder:
            failure.replay_file = replay_file_of(result).write(
                Path(folder) / f"{_slug(sc.name)}-seed{result.seed}.replay.json"
            )
    if out is not None:
        out(exploration.report())
    return exploration


def run_one(sc: Scenario, seed: int, spec: str, check_determinism: bool) -> RunResult:
    """One seed's schedule; with ``check_determinism``, run twice and compare."""
    if not check_determinism:
        return run_schedule(sc, seed=seed, strategy=spec, quiet=True)
    return run_checked(sc, seed=seed, strategy=spec)


def run_checked(
    target: Scenario | ScenarioFn, *, seed: int, strategy: str, faults: FaultPlan | None = None
) -> RunResult:
    """Run one schedule twice, watching for wall clock, global ``random`` and real I/O.

    The first run's result comes back; its error becomes ``NondeterminismDetected`` when
    the two traces differ (naming the first divergence) or a watched source was used.
    """
    sc = as_scenario(target)
    with watch_sources() as seen:
        first = run_schedule(sc, seed=seed, strategy=strategy, quiet=True, faults=faults)
        second = run_schedule(sc, seed=seed, strategy=strategy, quiet=True, faults=faults)
    sources = sorted(seen.values(), key=lambda src: (src.where, src.what))
    divergence = first_divergence(first.trace, second.trace)
    if divergence is None and not sources:
        return first
    if divergence is not None:
        index, a, b = divergence
        head = (
            f"seed {seed} is not deterministic: the two runs' traces first differ at event "
            f"#{index}:\n    run 1: {describe_event(a)}\n    run 2: {describe_event(b)}"
        )
    else:
        head = (
            f"seed {seed} read a source of nondeterminism (the two runs happened to give "
            "the same trace)"
        )
    outcome = "" if first.ok else f"\n  (run 1 also failed: {first.describe_error()})"
    first.error = NondeterminismDetected(f"{head}\n  {likely_cause(sources)}{outcome}")
    return first


def replay_file_of(result: RunResult) -> ReplayFile:
    """The replay file of one run (usually a failing one)."""
    sc = result.scenario
    return ReplayFile(
        scenario=sc.ref or derive_ref(sc),
        name=sc.name[:4096],
        strategy=result.strategy,
        seed=result.seed,
        choices=list(result.choices),
        faults=result.faults,
        error=result.describe_error()[:65536],
        trace_sha256=result.sha256(),
        steps=result.steps,
        virtual_time=result.virtual_time,
    )


def replay(
    target: Scenario | ScenarioFn | str | Path | ReplayFile,
    *,
    seed: int | None = None,
    strategy: str = "random",
    check: bool = True,
    trace_path: str | Path | None = None,
    out: Printer = print,
    scenario: Scenario | ScenarioFn | None = None,
) -> RunResult:
    """Run exactly the schedule ``explore`` reported (same scenario, seed and strategy).

    ``target`` is the scenario (or its reference) with ``seed`` and ``strategy``, or a
    replay file (a path ending in '.json', or a ``ReplayFile``): then its scenario
    reference, seed, choices and fault plan say everything, and ``scenario`` may stand in
    for a scenario the file cannot name. With ``check`` (the default) a failing run raises
    ``ScheduleFailure`` chained to the scenario's own error, so the command line shows its
    traceback.
    """
    recorded: ReplayFile | None = None
    if isinstance(target, ReplayFile):
        recorded = target
    elif isinstance(target, Path) or (isinstance(target, str) and target.endswith(".json")):
        recorded = read_replay(target)
    if recorded is not None:
        if scenario is not None:
            sc = as_scenario(scenario)
        elif recorded.scenario is not None:
            sc = load_scenario(recorded.scenario)
        else:
            raise InvalidReplayFile(
                recorded.name, "it names no loadable scenario; pass replay(..., scenario=...)"
            )
        seed = recorded.seed
        script = ScriptStrategy(recorded.choices)
        result = run_schedule(sc, seed=seed, strategy=script, faults=recorded.faults)
    else:
        assert not isinstance(target, ReplayFile | Path)
        if seed is None:
            raise TypeError("replay() needs seed= unless it is given a replay file")
        sc = load_scenario(target) if isinstance(target, str) else as_scenario(target)
        make_strategy(strategy, seed)  # reject a bad spec before running anything
        result = run_schedule(sc, seed=seed, strategy=strategy)
    if trace_path is not None:
        result.trace.write(trace_path)
    shown = recorded.strategy + " (recorded choices)" if recorded is not None else result.strategy
    line = (
        f"replay {sc.name} seed={seed} strategy={shown}: {result.describe_error()}; "
        f"trace sha256 {result.sha256()} ({len(result.trace)} events, {result.steps} steps, "
        f"virtual time {result.virtual_time:g}s)"
    )
    if recorded is not None and recorded.trace_sha256 is not None:
        same = recorded.trace_sha256 == result.sha256()
        line += (
            "; the same trace as recorded"
            if same
            else f"; NOT the recorded trace {recorded.trace_sha256} (the code changed?)"
        )
    if out is not None:
        out(line)
    if check and result.error is not None:
        raise ScheduleFailure(line) from result.error
    return result


def _calibrate(sc: Scenario, spec: str, seed: int) -> str:
    strategy = make_strategy(spec, seed)  # validate before running anything
    name = spec.strip().partition(":")[0].lower()
    if "steps=" in spec or not (isinstance(strategy, PCTStrategy) or name == "portfolio"):
        return spec
    probe = run_schedule(sc, seed=seed, strategy="fifo", quiet=True)
    steps = max(len(probe.choices), 1)
    if name == "portfolio":
        return f"portfolio:steps={steps}"
    return f"{name}:depth={strategy.depth},steps={steps}"  # type: ignore[attr-defined]


# -- finding a scenario again -------------------------------------------------------------


def replay_command(sc: Scenario, seed: int, strategy: str) -> str:
    """The one-line shell command that replays this schedule (or a Python line if the
    scenario cannot be found from outside this process)."""
    ref = sc.ref or derive_ref(sc)
    call = f"replay({ref!r}, seed={seed}, strategy={strategy!r})"
    if ref is None:
        return (
            f"replay(<the scenario object>, seed={seed}, strategy={strategy!r})  "
            "(define the scenario at module level to get a command line)"
        )
    return f'uv run --frozen python -c "from lightflow_actors.testing import replay; {call}"'


def derive_ref(sc: Scenario) -> str | None:
    """'module:name' or 'path/file.py:name' that loads ``sc`` again, if one does."""
    fn = sc.fn
    qualname = getattr(fn, "__qualname__", "")
    module_name = getattr(fn, "__module__", None)
    if not qualname or "<" in qualname or module_name is None:
        return None
    module = sys.modules.get(module_name)
    if module is None or _resolve(module, qualname) not in (sc, fn):
        return None
    if _resolve(module, qualname) is fn and _has_settings(sc):
        return None  # the bare function would lose the scenario's faults and limits
    if module_name != "__main__" and getattr(module, "__package__", None):
        return f"{module_name}:{qualname}"
    source = inspect.getsourcefile(fn)
    if source is None:
        return None
    path = Path(source).resolve()
    with contextlib.suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return f"{path.as_posix()}:{qualname}"


def load_scenario(ref: str) -> Scenario:
    """Load the scenario a reference names: 'package.module:name' or 'file.py:name'."""
    target, sep, qualname = ref.rpartition(":")
    if not sep or not target or not qualname:
        raise ScenarioNotFound(ref, "expected 'module:name' or 'path/file.py:name'")
    if target.endswith(".py"):
        module = _load_file(ref, Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ScenarioNotFound(ref, f"module {target!r} does not import ({exc})") from exc
    obj = _resolve(module, qualname)
    if isinstance(obj, Scenario):
        return obj
    if inspect.iscoroutinefunction(obj):
        return Scenario(obj, ref=ref)
    raise ScenarioNotFound(ref, f"{qualname!r} is {type(obj).__name__}, not an async function")


def _load_file(ref: str, path: Path) -> object:
    resolved = path.resolve()
    if not resolved.is_file():
        raise ScenarioNotFound(ref, f"no file {path}")
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file is not None and Path(file).resolve() == resolved:
            return module
    name = f"_lightflow_scenario_{_slug(str(resolved))}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ScenarioNotFound(ref, f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _resolve(module: object, qualname: str) -> object:
    obj: object = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _has_settings(sc: Scenario) -> bool:
    return bool(sc.faults.faults or sc.blocking or sc.allow_threads) or sc.throughput != 1


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")[-80:]
