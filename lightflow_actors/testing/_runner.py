"""Running one schedule: a scenario, a seed and a strategy in, a ``RunResult`` out.

Each run gets a fresh ``DeterministicLoop`` and a fresh ``ActorSystem`` whose clock reads
the loop's virtual time with a fixed wall anchor (so even wall-clock timestamps replay
byte for byte) and whose ``random`` is seeded with the run's seed. ``throughput`` defaults
to 1: each message is its own scheduling step, which gives the strategy the most
interleavings to choose from. A ``Simulation`` is that loop with its shared state; tests
that build their own systems on it use one directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from array import array
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar, overload

from ..kernel._clock import Clock, LoopClock
from ..kernel._system import RootStarter
from ..supervision import ActorSystem
from ._blocking import BlockingFn, BlockingPolicy, SimulatedActorSystem
from ._errors import FifoViolation, SimulationError
from ._faults import NO_FAULTS, FaultInjector, FaultPlan
from ._instrument import SimulationTap
from ._liveness import AskLedger, Hang, Monitor, Monitors, find_hang, trace_tail
from ._loop import DeterministicLoop
from ._network import Network
from ._strategies import FifoStrategy, Strategy, make_strategy
from ._trace import Trace, TraceEvent

T = TypeVar("T")
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
    unregistered ones inline instead of refusing them. ``monitors`` are ``Monitor``
    classes (liveness properties): one that stays hot more than ``liveness_steps`` steps or
    ``liveness_time`` virtual seconds, or until the end, fails the run. ``detect_hangs``
    fails a run as soon as actors wait on each other's asks in a cycle or an idle actor
    holds messages nothing will deliver (``Hang``). ``ref`` ('module:name' or
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
        monitors: Sequence[type[Monitor]] = (),
        liveness_steps: int | None = None,
        liveness_time: float | None = None,
        detect_hangs: bool = True,
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
        self.monitors = tuple(monitors)
        self.liveness_steps = liveness_steps
        self.liveness_time = liveness_time
        self.detect_hangs = detect_hangs

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
    monitors: Sequence[type[Monitor]] = (),
    liveness_steps: int | None = None,
    liveness_time: float | None = None,
    detect_hangs: bool = True,
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
    monitors: Sequence[type[Monitor]] = (),
    liveness_steps: int | None = None,
    liveness_time: float | None = None,
    detect_hangs: bool = True,
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
            monitors=monitors,
            liveness_steps=liveness_steps,
            liveness_time=liveness_time,
            detect_hangs=detect_hangs,
        )

    return wrap(fn) if fn is not None else wrap


def as_scenario(target: Scenario | ScenarioFn) -> Scenario:
    return target if isinstance(target, Scenario) else Scenario(target)


class RunResult:
    """What one schedule did: its error (None if the invariant held) and its trace."""

    __slots__ = (
        "choices",
        "error",
        "faults",
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
        self.faults: FaultPlan = scenario.faults
        """The fault plan this run used."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def deviations(self) -> int:
        """Choices that differ from FIFO order: how far the schedule is from plain asyncio."""
        return sum(1 for c in self.choices if c != 0)

    def sha256(self) -> str:
        return self.trace.sha256()

    def fingerprint(self) -> bytes:
        """Tells schedules apart cheaply, in any process: the choices made (and how many
        operations were ready at each), the steps, the events and the virtual time. Unlike
        ``sha256`` it does not turn the trace into text."""
        data = array("Q", (*self.choices, *self.widths, self.steps, len(self.trace)))
        digest = hashlib.blake2b(data.tobytes(), digest_size=16)
        digest.update(repr(self.virtual_time).encode())
        return digest.digest()

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


class Simulation:
    """One deterministic loop and what every system on it shares: the run's seed, blocking
    policy, fault plan and trace.

    ``run_schedule`` runs a scenario on one. A test that builds its own systems and drives
    the loop step by step (the suite's ``runtime`` fixture, a Hypothesis state machine)
    uses one directly::

        sim = Simulation(seed=7)
        system = sim.system()
        try:
            sim.run(system.start())
            ...                       # more sim.run(...) steps
            sim.run(system.shutdown())
        finally:
            sim.close()
        sim.check()                   # per-pair FIFO held on every system

    Systems get a virtual clock anchored at ``WALL_ANCHOR_MS``, an RNG seeded with the
    run's seed, ``throughput=1`` (each message its own scheduling step) and their own tap
    (the kernel's ids are per system, so FIFO is checked per system), all writing to one
    ``trace``.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        strategy: str | Strategy = "random",
        faults: FaultPlan = NO_FAULTS,
        blocking: Mapping[BlockingFn, BlockingFn] | None = None,
        allow_threads: bool = False,
        max_steps: int | None = DEFAULT_MAX_STEPS,
        max_virtual_time: float | None = None,
        monitors: Sequence[type[Monitor]] = (),
        liveness_steps: int | None = None,
        liveness_time: float | None = None,
        detect_hangs: bool = False,
    ) -> None:
        self.seed = seed
        self.strategy: Strategy = (
            make_strategy(strategy, seed) if isinstance(strategy, str) else strategy
        )
        self.blocking = BlockingPolicy(blocking, allow_threads=allow_threads)
        self.loop = DeterministicLoop(
            self.strategy,
            blocking=self.blocking,
            max_steps=max_steps,
            max_virtual_time=max_virtual_time,
        )
        self.trace = Trace()
        self._faults = FaultInjector(faults, seed)
        self._taps: list[SimulationTap] = []
        self.network = Network(faults, self._faults.random, self._network_event)
        self.monitors = Monitors(
            monitors,
            self.loop,
            self.trace,
            liveness_steps=liveness_steps,
            liveness_time=liveness_time,
        )
        self._asks = AskLedger() if detect_hangs else None
        if detect_hangs or self.monitors:
            self.loop.on_idle = self._on_idle

    def _network_event(self, detail: str) -> None:
        loop = self.loop
        self.trace.add(
            TraceEvent(step=loop.steps, t=loop.time(), kind="fault", actor="network", detail=detail)
        )

    def _on_idle(self) -> None:
        """No callback is ready: fail on a hang, or on a monitor hot past its bound."""
        if self._asks is not None:
            cells = [cell for tap in self._taps for cell in tap.cells.values()]
            hang = find_hang(cells, self._asks)
            if hang is not None:
                raise Hang(self.loop.time(), hang[0], hang[1], trace_tail(self.trace))
        if self.monitors:
            self.monitors.check_idle(self.loop.next_timer())

    def system(
        self,
        name: str = "simulation",
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        throughput: int = 1,
        default_stop_timeout: float = 5.0,
        root: bool | RootStarter = True,
        blocking: BlockingPolicy | None = None,
    ) -> SimulatedActorSystem:
        """A new, not yet started system on this loop (``seed``, ``clock`` and ``blocking``
        default to the run's)."""
        system = SimulatedActorSystem(
            seed=self.seed if seed is None else seed,
            clock=clock or LoopClock(self.loop, wall_anchor_ms=WALL_ANCHOR_MS),
            throughput=throughput,
            blocking=blocking or self.blocking,
            name=name,
            default_stop_timeout=default_stop_timeout,
            root=root,
        )
        tap = SimulationTap(
            self.loop,
            self._faults,
            self.trace,
            network=self.network,
            monitors=self.monitors,
            asks=self._asks,
        )
        self._taps.append(tap)
        system.install_tap(tap)
        system.network = self.network
        system.monitors = self.monitors
        return system

    def run(self, main: Awaitable[T]) -> T:
        """Run ``main`` to completion on the loop and return its result; an exception that
        escaped a loop callback meanwhile raises ``CallbackFailed``."""
        result = self.loop.run_until_complete(main)
        self.loop.raise_callback_errors()
        return result

    def close(self) -> None:
        """Cancel what is left (in FIFO order, as ``asyncio.run`` would) and close the loop."""
        _close(self.loop)

    @property
    def violations(self) -> list[str]:
        """Per-pair FIFO violations seen so far, on any of this run's systems."""
        return [v for tap in self._taps for v in tap.violations]

    def check(self) -> None:
        """Raise ``FifoViolation`` if a kernel handled a sender's messages out of order."""
        if self.violations:
            raise FifoViolation("per-pair FIFO violated: " + "; ".join(self.violations[:3]))


def run_schedule(
    target: Scenario | ScenarioFn,
    *,
    seed: int = 0,
    strategy: str | Strategy = "random",
    quiet: bool = False,
    faults: FaultPlan | None = None,
) -> RunResult:
    """Run ``target`` once under the deterministic loop and return what happened.

    ``strategy`` is a spec string (built with ``seed``) or a ready ``Strategy`` object.
    ``quiet`` silences the kernel's crash logs during the run (the trace has them).
    ``faults`` replaces the scenario's fault plan (a replay file carries its own).
    """
    sc = as_scenario(target)
    plan = sc.faults if faults is None else faults
    sim = Simulation(
        seed=seed,
        strategy=strategy,
        faults=plan,
        blocking=sc.blocking,
        allow_threads=sc.allow_threads,
        max_steps=sc.max_steps,
        max_virtual_time=sc.max_virtual_time,
        monitors=sc.monitors,
        liveness_steps=sc.liveness_steps,
        liveness_time=sc.liveness_time,
        detect_hangs=sc.detect_hangs,
    )

    async def main() -> None:
        system = sim.system(throughput=sc.throughput)
        async with system:
            await sc.fn(system)

    error: BaseException | None = None
    with _quiet_logs(quiet):
        try:
            sim.run(main())
        except (Exception, asyncio.CancelledError) as exc:
            error = exc
        finally:
            sim.close()
    if error is None:
        try:
            sim.check()
            sim.monitors.check_end()
        except AssertionError as exc:
            error = exc
    result = RunResult(sc, seed, sim.strategy.spec, error, sim.trace, sim.loop)
    result.faults = plan
    return result


def _close(loop: DeterministicLoop) -> None:
    """Cancel what is left (as ``asyncio.run`` does) and close the loop.

    The clean-up runs in FIFO order: it is not part of the explored schedule, and a
    Hypothesis strategy must not draw after its example has ended (or been abandoned).
    """
    loop.strategy = FifoStrategy()
    loop.on_idle = None  # the verdict is in: no hang or liveness check during the clean-up
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if tasks:
            for task in tasks:
                task.cancel()
            if loop.max_steps is not None:
                loop.max_steps = loop.steps + _CLEANUP_STEPS
            loop.max_virtual_time = None
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        if loop._asyncgens:  # type: ignore[attr-defined]
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
