"""Deterministic testing: run real actor code on a virtual-time loop with seeded schedules.

::

    from lightflow_actors.testing import explore, replay, scenario

    @scenario
    async def transfer_keeps_total(system: ActorSystem) -> None:
        ...                      # spawn actors, drive them, assert the invariant

    explore(transfer_keeps_total, seeds=1000).raise_if_failed()     # portfolio strategy
    explore(transfer_keeps_total, seeds=1000, jobs=2, check_determinism=True)

Command line: ``python -m lightflow_actors.testing explore REF`` / ``replay FILE``.

See ``specs/deterministic.md`` for the loop, the strategies, fault plans and the trace.
"""

from ._blocking import BlockingPolicy, SimulatedActorSystem
from ._errors import (
    CallbackFailed,
    Deadlock,
    FifoViolation,
    InjectedCrash,
    InvalidReplayFile,
    InvalidStrategy,
    NondeterminismDetected,
    RealIOForbidden,
    ScenarioNotFound,
    ScheduleFailure,
    SimulationError,
    StepLimitExceeded,
    VirtualTimeLimitExceeded,
)
from ._explore import (
    REPLAY_DIR_ENV,
    Exploration,
    Failure,
    explore,
    load_scenario,
    replay,
    replay_command,
    replay_file_of,
    run_checked,
)
from ._faults import (
    NO_FAULTS,
    Crash,
    Delay,
    Drop,
    Duplicate,
    Fault,
    FaultPlan,
    LinkDelay,
    LinkDuplicate,
    Partition,
    Pause,
)
from ._hypothesis import explore_hypothesis
from ._liveness import Hang, LivenessViolation, Monitor, monitor, notify
from ._loop import DeterministicLoop
from ._network import Network, network
from ._replayfile import ReplayFile, decode_replay, read_replay
from ._runner import WALL_ANCHOR_MS, RunResult, Scenario, Simulation, run_schedule, scenario
from ._strategies import (
    PORTFOLIO,
    FairPCTStrategy,
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
    "PORTFOLIO",
    "REPLAY_DIR_ENV",
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
    "FairPCTStrategy",
    "Fault",
    "FaultPlan",
    "FifoStrategy",
    "FifoViolation",
    "Hang",
    "HypothesisStrategy",
    "InjectedCrash",
    "InvalidReplayFile",
    "InvalidStrategy",
    "LinkDelay",
    "LinkDuplicate",
    "LivenessViolation",
    "Monitor",
    "Network",
    "NondeterminismDetected",
    "Operation",
    "PCTStrategy",
    "Partition",
    "Pause",
    "RandomStrategy",
    "RealIOForbidden",
    "ReplayFile",
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
    "decode_replay",
    "explore",
    "explore_hypothesis",
    "load_scenario",
    "make_strategy",
    "monitor",
    "network",
    "notify",
    "read_replay",
    "replay",
    "replay_command",
    "replay_file_of",
    "run_checked",
    "run_schedule",
    "scenario",
]
