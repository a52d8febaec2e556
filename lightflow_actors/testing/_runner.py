"""Running one schedule: a scenario, a seed and a strategy in, a ``RunResult`` out.

Each run gets a fresh ``DeterministicLoop`` and a fresh ``ActorSystem`` whose clock reads
the loop's virtual time with a fixed wall anchor (so even wall-clock timestamps replay
byte for byte) and whose ``random`` is seeded with the run's seed. ``throughput`` defaults
to 1: each message is its own scheduling step, which gives the strategy the most
interleavings to choose from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import overload

from ..kernel._clock import LoopClock
from ..supervision import ActorSystem
from ._blocking import BlockingFn, BlockingPolicy, SimulatedActorSystem
from ._errors import FifoViolation, SimulationError
from ._faults import NO_FAULTS, FaultInjector, FaultPlan
from ._instrument import SimulationTap
from ._loop import DeterministicLoop
from ._strategies import FifoStrategy, Strategy, make_strategy
from ._trace import Trace

WALL_ANCHOR_MS = 1_767_225_600_000
"""Virtual time 0 is 2026-01-01T00:00:00Z on the simulated wall clock."""

DEFAULT_MAX_STEPS = 2_000_000
_CLEANUP_STEPS = 200_000

ScenarioFn = Callable[[ActorSystem], Awaitable[None]]


class Scenario:
    """An async function that builds actors, drives them and asserts its invariant.

    ::

        @scenario(faults=FaultPlan((Crash(actor="worker", nth=2),)))
        async def worker_restarts(system: ActorSystem) -> None:
            ...
            assert ..., "the invariant"

    ``faults`` are injected in every run; ``blocking`` maps real blocking functions to
    simulated ones for ``run_blocking`` / ``run_in_executor``; ``allow_threads`` runs
    unregistered ones inline instead of refusing them. ``ref`` ('module:name' or
    'path/file.py:name') is how a replay command finds it; it is derived when omitted.
    """

    def __init__(
        self,
        fn: ScenarioFn,
        *,
        name: str | None = None,
        faults: FaultPlan = NO_FAULTS,
        blocking: Mapping[BlockingFn, BlockingFn] | None = None,
        allow_threads: bool = False,
        throughput: int = 1,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_virtual_time: float | None = None,
        ref: str | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__qualname__", repr(fn)))
        self.faults = faults
        self.blocking = dict(blocking or {})
        self.allow_threads = allow_threads
        self.throughput = throughput
        self.max_steps = max_steps
        self.max_virtual_time = max_virtual_time
        self.ref = ref

    def __call__(self, system: ActorSystem) -> Awaitable[None]:
        return self.fn(system)

    def __repr__(self) -> str:
        return f"<Scenario {self.name}>"


@overload
def scenario(fn: ScenarioFn, /) -> Scenario: ...
@overload
def scenario(
    *,
    name: str | None = None,
    faults: FaultPlan = NO_FAULTS,
    blocking: Mapping[BlockingFn, BlockingFn] | None = None,
    allow_threads: bool = False,
    throughput: int = 1,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_virtual_time: float | None = None,
) -> Callable[[ScenarioFn], Scenario]: ...
def scenario(
    fn: ScenarioFn | None = None,
    /,
    *,
    name: str | None = None,
    faults: FaultPlan = NO_FAULTS,
    blocking: Mapping[BlockingFn, BlockingFn] | None = None,
    allow_threads: bool = False,
    throughput: int = 1,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_virtual_time: float | None = None,
) -> Scenario | Callable[[ScenarioFn], Scenario]:
    """Decorate an async function as a ``Scenario`` (with or without options)."""

    def wrap(f: ScenarioFn) -> Scenario:
        return Scenario(
            f,
            name=name,
            faults=faults,
            blocking=blocking,
            allow_threads=allow_threads,
            throughput=throughput,
            max_steps=max_steps,
            max_virtual_time=max_virtual_time,
        )

    return wrap(fn) if fn is not None else wrap


def as_scenario(target: Scenario | ScenarioFn) -> Scenario:
    return target if isinstance(target, Scenario) else Scenario(target)


class RunResult:
    """What one schedule did: its error (None if the invariant held) and its trace."""

    __slots__ = (
        "choices",
        "error",
        "scenario",
        "seed",
        "steps",
        "strategy",
        "trace",
        "virtual_time",
        "widths",
    )

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        strategy: str,
        error: BaseException | None,
        trace: Trace,
        loop: DeterministicLoop,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.strategy = strategy
        self.error = error
        self.trace = trace
        self.steps = loop.steps
        self.choices = list(loop.choices)
        self.widths = list(loop.widths)
        self.virtual_time = loop.time()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def deviations(self) -> int:
        """Choices that differ from FIFO order: how far the schedule is from plain asyncio."""
        return sum(1 for c in self.choices if c != 0)

    def sha256(self) -> str:
        return self.trace.sha256()

    def describe_error(self) -> str:
        if self.error is None:
            return "ok"
        text = str(self.error)
        return f"{type(self.error).__name__}: {text}" if text else type(self.error).__name__

    def __repr__(self) -> str:
        state = "ok" if self.ok else self.describe_error()
        return (
            f"<RunResult {self.scenario.name} seed={self.seed} strategy={self.strategy} "
            f"steps={self.steps} t={self.virtual_time:g}s {state}>"
        )


def run_schedule(
    target: Scenario | ScenarioFn,
    *,
    seed: int = 0,
    strategy: str | Strategy = "random",
    quiet: bool = False,
) -> RunResult:
    """Run ``target`` once under the deterministic loop and return what happened.

    ``strategy`` is a spec string (built with ``seed``) or a ready ``Strategy`` object.
    ``quiet`` silences the kernel's crash logs during the run (the trace has them).
    """
    sc = as_scenario(target)
    strat = make_strategy(strategy, seed) if isinstance(strategy, str) else strategy
    policy = BlockingPolicy(sc.blocking, allow_threads=sc.allow_threads)
    loop = DeterministicLoop(
        strat, blocking=policy, max_steps=sc.max_steps, max_virtual_time=sc.max_virtual_time
    )
    trace = Trace()
    tap = SimulationTap(loop, FaultInjector(sc.faults, seed), trace)

    async def main() -> None:
        clock = LoopClock(loop, wall_anchor_ms=WALL_ANCHOR_MS)
        system = SimulatedActorSystem(
            seed=seed, clock=clock, throughput=sc.throughput, blocking=policy
        )
        system.install_tap(tap)
        async with system:
            await sc.fn(system)

    error: BaseException | None = None
    with _quiet_logs(quiet):
        try:
            loop.run_until_complete(main())
            loop.raise_callback_errors()
        except (Exception, asyncio.CancelledError) as exc:
            error = exc
        finally:
            _close(loop)
    if error is None and tap.violations:
        error = FifoViolation("per-pair FIFO violated: " + "; ".join(tap.violations[:3]))
    return RunResult(sc, seed, strat.spec, error, trace, loop)


def _close(loop: DeterministicLoop) -> None:
    """Cancel what is left (as ``asyncio.run`` does) and close the loop.

    The clean-up runs in FIFO order: it is not part of the explored schedule, and a
    Hypothesis strategy must not draw after its example has ended (or been abandoned).
    """
    loop.strategy = FifoStrategy()
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if tasks:
            for task in tasks:
                task.cancel()
            if loop.max_steps is not None:
                loop.max_steps = loop.steps + _CLEANUP_STEPS
            loop.max_virtual_time = None
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except (Exception, asyncio.CancelledError, SimulationError):
        pass  # the run's outcome is already decided; a stuck leftover must not mask it
    finally:
        loop.close()


@contextmanager
def _quiet_logs(quiet: bool) -> Iterator[None]:
    if not quiet:
        yield
        return
    loggers = [logging.getLogger("lightflow_actors"), logging.getLogger("asyncio")]
    saved = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, saved, strict=True):
            lg.disabled = was
