"""Deterministic testing: run real actor code on a virtual-time loop with seeded schedules.

::

    from lightflow_actors.testing import explore, replay, scenario

    @scenario
    async def transfer_keeps_total(system: ActorSystem) -> None:
        ...                      # spawn actors, drive them, assert the invariant

    explore(transfer_keeps_total, seeds=1000, strategy="pct").raise_if_failed()

See ``specs/deterministic.md`` for the loop, the strategies, fault plans and the trace.
"""

from ._blocking import BlockingPolicy, SimulatedActorSystem
from ._errors import (
    CallbackFailed,
    Deadlock,
    FifoViolation,
    InjectedCrash,
    InvalidStrategy,
    RealIOForbidden,
    ScenarioNotFound,
    ScheduleFailure,
    SimulationError,
    StepLimitExceeded,
    VirtualTimeLimitExceeded,
)
from ._explore import Exploration, Failure, explore, load_scenario, replay, replay_command
from ._faults import NO_FAULTS, Crash, Delay, Drop, Duplicate, Fault, FaultPlan, Pause
from ._hypothesis import explore_hypothesis
from ._loop import DeterministicLoop
from ._runner import WALL_ANCHOR_MS, RunResult, Scenario, Simulation, run_schedule, scenario
from ._strategies import (
    FifoStrategy,
    HypothesisStrategy,
    Operation,
    PCTStrategy,
    RandomStrategy,
    ScriptStrategy,
    Strategy,
    make_strategy,
)
from ._trace import Trace, TraceEvent, TraceKind

__all__ = [
    "NO_FAULTS",
    "WALL_ANCHOR_MS",
    "BlockingPolicy",
    "CallbackFailed",
    "Crash",
    "Deadlock",
    "Delay",
    "DeterministicLoop",
    "Drop",
    "Duplicate",
    "Exploration",
    "Failure",
    "Fault",
    "FaultPlan",
    "FifoStrategy",
    "FifoViolation",
    "HypothesisStrategy",
    "InjectedCrash",
    "InvalidStrategy",
    "Operation",
    "PCTStrategy",
    "Pause",
    "RandomStrategy",
    "RealIOForbidden",
    "RunResult",
    "Scenario",
    "ScenarioNotFound",
    "ScheduleFailure",
    "ScriptStrategy",
    "SimulatedActorSystem",
    "Simulation",
    "SimulationError",
    "StepLimitExceeded",
    "Strategy",
    "Trace",
    "TraceEvent",
    "TraceKind",
    "VirtualTimeLimitExceeded",
    "explore",
    "explore_hypothesis",
    "load_scenario",
    "make_strategy",
    "replay",
    "replay_command",
    "run_schedule",
    "scenario",
]
