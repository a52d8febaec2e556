"""Errors of the deterministic test harness. Each message says what was wrong and what to do."""

from __future__ import annotations

from ..kernel._errors import LightflowError


class SimulationError(LightflowError):
    """Base class of the harness's own errors (not of the scenario's failures)."""


class RealIOForbidden(SimulationError):
    """Code under the deterministic loop tried real I/O, a thread or a subprocess.

    Real I/O completes at wall-clock times the scheduler cannot choose, so a run that used it
    could not be replayed. The message names the call and how to simulate it instead.
    """

    def __init__(self, what: str, hint: str) -> None:
        self.what = what
        super().__init__(f"{what} is not allowed under the deterministic scheduler: {hint}")


class Deadlock(SimulationError):
    """Nothing is ready and no timer is pending, yet the scenario has not finished."""

    def __init__(self, virtual_time: float, waiting: list[str]) -> None:
        self.virtual_time = virtual_time
        self.waiting = waiting
        shown = "; ".join(waiting[:5]) or "nothing visible"
        super().__init__(
            f"deadlock at virtual time {virtual_time:g}s: no callback is ready and no timer is "
            f"scheduled, but the scenario is still waiting ({shown}). Something waits on an "
            "event from outside the simulation (a thread, a socket, a future nobody resolves) "
            "or two actors wait on each other; give every ask a timeout to see which."
        )


class StepLimitExceeded(SimulationError):
    """A run took more scheduling steps than the scenario allows (a livelock, or a loop)."""

    def __init__(self, limit: int, virtual_time: float) -> None:
        self.limit = limit
        super().__init__(
            f"the scenario ran {limit} scheduling steps (virtual time {virtual_time:g}s) without "
            "finishing; it may livelock (actors messaging each other forever). Raise "
            "Scenario(max_steps=...) if the scenario really is that long."
        )


class VirtualTimeLimitExceeded(SimulationError):
    """Virtual time passed the scenario's limit before it finished."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        super().__init__(
            f"virtual time passed {limit:g}s before the scenario finished; an actor may keep "
            "re-arming a timer forever. Raise Scenario(max_virtual_time=...) if that is intended."
        )


class CallbackFailed(SimulationError):
    """An exception escaped a loop callback (asyncio would only log it)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"an exception escaped an event-loop callback: {message}. The deterministic "
            "scheduler treats it as a failure because asyncio would only log it."
        )


class InvalidStrategy(SimulationError, ValueError):
    """A strategy spec string could not be parsed."""

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        super().__init__(
            f"invalid strategy {spec!r}: {problem}. Use 'portfolio', 'random', 'fifo', "
            "'pct', 'pct:depth=3,steps=500', 'fairpct:depth=3' or 'script:0.2.1'."
        )


class ScenarioNotFound(SimulationError, LookupError):
    """A scenario reference ('module:name' or 'path/file.py:name') did not resolve."""

    def __init__(self, ref: str, problem: str) -> None:
        self.ref = ref
        super().__init__(
            f"cannot load scenario {ref!r}: {problem}. A reference is 'package.module:name' "
            "or 'path/to/file.py:name', naming a module-level async function or Scenario."
        )


class InvalidReplayFile(SimulationError, ValueError):
    """A replay file could not be read: what is wrong, and where."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(
            f"cannot replay {source}: {problem}. A replay file is the JSON that a failing "
            "explore writes (format 'lightflow-replay/1')."
        )


class NondeterminismDetected(AssertionError):
    """The same seed gave two different traces, or the run read a source of nondeterminism
    (the wall clock, the global ``random``, real I/O)."""


class InjectedCrash(Exception):
    """The crash a fault plan injects at a message boundary (raised before the handler)."""

    def __init__(self, actor: str, message_type: str, nth: int) -> None:
        self.actor = actor
        self.message_type = message_type
        self.nth = nth
        super().__init__(f"injected crash of {actor} at its message #{nth} ({message_type})")


class FifoViolation(AssertionError):
    """The kernel handled a later message from a sender before an earlier one (per-pair FIFO)."""


class ScheduleFailure(AssertionError):
    """A schedule failed its invariant; the message carries the seed and the replay line."""
