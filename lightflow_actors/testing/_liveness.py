"""Liveness monitors and hang detection.

**Monitors** follow Coyote's specification monitors. A ``Monitor`` watches the run (every
message an actor handles, and the events the scenario passes to ``notify``) and is in a
*hot* state while an obligation is pending ("a request was accepted and not answered yet")
and *cold* when it is met. A liveness property is violated when a monitor stays hot:

- for more than ``Scenario(liveness_steps=N)`` scheduling steps,
- for more than ``Scenario(liveness_time=T)`` virtual seconds (checked whenever something
  happens and when virtual time is about to jump past the bound), or
- until the run ends.

A monitor may also assert a *safety* property in its callbacks: any exception fails the run.

**Hangs.** When no callback is ready the simulation looks at every actor before virtual
time jumps to the next timer. A system that can no longer make progress by itself is a
``Hang``, even if timers (an ask's deadline) are still pending:

- an actor that is idle (nothing scheduled) with messages in its mailbox, or
- actors blocked on asks in a cycle (``a`` awaits ``b`` while ``b`` awaits ``a``): each
  handles one message at a time, so none of the asks can ever be answered.

Both name the actors and the messages involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ..kernel._cell import DEAD, Call, Cell
from ..supervision import ActorSystem
from ._errors import Deadlock, SimulationError
from ._trace import Trace, describe_message

if TYPE_CHECKING:
    from ._loop import DeterministicLoop

M = TypeVar("M", bound="Monitor")

_TAIL = 8


class Monitor:
    """A specification monitor: hot while an obligation is pending, cold once it is met.

    ::

        class EveryRequestAnswered(Monitor):
            def on_message(self, actor: str | None, message: object) -> None:
                if isinstance(message, Request):
                    self.go_hot("waiting for an answer")
                elif isinstance(message, Answer):
                    self.go_cold("answered")

        @scenario(monitors=(EveryRequestAnswered,), liveness_steps=5_000)
        async def requests_are_answered(system: ActorSystem) -> None: ...

    A fresh instance watches each run (the class is instantiated with no arguments).
    """

    name: ClassVar[str | None] = None
    """How reports name the monitor (default: its class name)."""

    def __init__(self) -> None:
        self.state = "init"
        self.hot = False

    def go_hot(self, state: str = "hot") -> None:
        """Enter a hot state: an obligation is now pending."""
        self.state = state
        self.hot = True

    def go_cold(self, state: str = "cold") -> None:
        """Enter a cold state: nothing is pending."""
        self.state = state
        self.hot = False

    def on_message(self, actor: str | None, message: object) -> None:
        """Called before an actor (named ``actor``) handles ``message``."""

    def on_event(self, event: object) -> None:
        """Called with each event the scenario passes to ``notify(system, event)``."""

    @property
    def label(self) -> str:
        return self.name or type(self).__qualname__


class LivenessViolation(AssertionError):
    """A monitor stayed hot past its bound (or until the end of the run)."""

    def __init__(self, monitor: Monitor, why: str, since_step: int, since_t: float, tail: str):
        self.monitor = monitor.label
        self.state = monitor.state
        self.since_step = since_step
        self.since_t = since_t
        super().__init__(
            f"liveness violated: monitor {monitor.label} stayed in hot state "
            f"{monitor.state!r} {why} (hot since step {since_step}, virtual time "
            f"{since_t:g}s)" + tail
        )


class Hang(Deadlock):
    """The system cannot make progress by itself: the actors and messages involved."""

    def __init__(self, virtual_time: float, problem: str, involved: list[str], tail: str):
        self.problem = problem
        self.involved = involved
        SimulationError.__init__(
            self,
            f"hang at virtual time {virtual_time:g}s: {problem}. Involved: "
            + "; ".join(involved)
            + tail,
        )
        self.virtual_time = virtual_time
        self.waiting = involved


class Monitors:
    """The monitors of one run and when each became hot."""

    __slots__ = ("_hot_since", "_loop", "_trace", "liveness_steps", "liveness_time", "monitors")

    def __init__(
        self,
        classes: Sequence[type[Monitor]],
        loop: DeterministicLoop,
        trace: Trace,
        *,
        liveness_steps: int | None,
        liveness_time: float | None,
    ) -> None:
        self.monitors: list[Monitor] = [cls() for cls in classes]
        self._hot_since: list[tuple[int, float] | None] = [None] * len(self.monitors)
        self._loop = loop
        self._trace = trace
        self.liveness_steps = liveness_steps
        self.liveness_time = liveness_time

    def __bool__(self) -> bool:
        return bool(self.monitors)

    def get(self, cls: type[M]) -> M:
        for m in self.monitors:
            if type(m) is cls:
                return m
        raise SimulationError(f"no monitor {cls.__qualname__} in this run")

    def on_message(self, actor: str | None, message: object) -> None:
        for m in self.monitors:
            m.on_message(actor, message)
        self._update()

    def notify(self, event: object) -> None:
        for m in self.monitors:
            m.on_event(event)
        self._update()

    def _update(self) -> None:
        loop = self._loop
        for index, m in enumerate(self.monitors):
            since = self._hot_since[index]
            if not m.hot:
                self._hot_since[index] = None
                continue
            if since is None:
                self._hot_since[index] = (loop.steps, loop.time())
                continue
            self._check(index, m, since, loop.steps, loop.time())

    def _check(
        self, index: int, m: Monitor, since: tuple[int, float], steps: int, now: float
    ) -> None:
        if self.liveness_steps is not None and steps - since[0] > self.liveness_steps:
            raise self._violation(
                m, f"for {steps - since[0]} steps (bound {self.liveness_steps})", since
            )
        if self.liveness_time is not None and now - since[1] > self.liveness_time:
            raise self._violation(
                m, f"for {now - since[1]:g}s of virtual time (bound {self.liveness_time:g}s)", since
            )

    def check_idle(self, next_timer: float | None) -> None:
        """Nothing is ready: a hot monitor fails if nothing can happen before its bound."""
        loop = self._loop
        for index, m in enumerate(self.monitors):
            since = self._hot_since[index]
            if since is None or not m.hot:
                continue
            self._check(index, m, since, loop.steps, loop.time())
            if self.liveness_time is not None and (
                next_timer is None or next_timer - since[1] > self.liveness_time
            ):
                when = (
                    "no timer is pending"
                    if next_timer is None
                    else f"the next timer is at {next_timer:g}s"
                )
                raise self._violation(
                    m,
                    f"past its bound of {self.liveness_time:g}s: nothing is ready and {when}",
                    since,
                )

    def check_end(self) -> None:
        """At the end of a run no monitor may still be hot."""
        self._update_quietly()
        for index, m in enumerate(self.monitors):
            since = self._hot_since[index]
            if m.hot:
                start = since or (self._loop.steps, self._loop.time())
                raise self._violation(m, "until the end of the run", start)

    def _update_quietly(self) -> None:
        loop = self._loop
        for index, m in enumerate(self.monitors):
            if not m.hot:
                self._hot_since[index] = None
            elif self._hot_since[index] is None:
                self._hot_since[index] = (loop.steps, loop.time())

    def _violation(self, m: Monitor, why: str, since: tuple[int, float]) -> LivenessViolation:
        return LivenessViolation(m, why, since[0], since[1], trace_tail(self._trace))


def trace_tail(trace: Trace, count: int = _TAIL) -> str:
    """The last ``count`` trace events, one per line, for an error message."""
    events = trace.events[-count:]
    if not events:
        return ""
    lines = [
        f"    step {e.step} t={e.t:g}s {e.kind} {e.actor}"
        + (f" <- {e.peer}" if e.peer else "")
        + (f" {e.message}" if e.message else "")
        + (f" ({e.detail})" if e.detail else "")
        for e in events
    ]
    return "\n  last trace events:\n" + "\n".join(lines)


# -- hangs ----------------------------------------------------------------------------------


class AskLedger:
    """The asks actors sent to actors, while their futures are not done."""

    __slots__ = ("_asks",)

    def __init__(self) -> None:
        self._asks: list[tuple[Cell, Cell, Call]] = []

    def add(self, asker: Cell, target: Cell, call: Call) -> None:
        asks = self._asks
        if len(asks) >= 64 and len(asks) & 63 == 0:
            asks[:] = [entry for entry in asks if not entry[2].future.done()]
        asks.append((asker, target, call))

    def open(self) -> list[tuple[Cell, Cell, Call]]:
        self._asks = [entry for entry in self._asks if not entry[2].future.done()]
        return self._asks


def find_hang(cells: Iterable[Cell], asks: AskLedger) -> tuple[str, list[str]] | None:
    """What keeps the system from progressing by itself, or None (see the module doc)."""
    for cell in cells:
        if cell.status is DEAD or not cell.queued():
            continue
        if cell.task is None or cell.task.done():  # nothing is ready, so no _run is pending
            pending = ", ".join(_describe_item(item) for item in list(cell.mailbox)[:3])
            return (
                "an actor is idle with messages in its mailbox and nothing will run it",
                [f"{cell.label} holds {len(cell.mailbox)} message(s): {pending}"],
            )
    # Wait-for graph: asker -> target, for an asker whose handler is running (blocked).
    waits: dict[Cell, tuple[Cell, Call]] = {}
    for asker, target, call in asks.open():
        if asker.status is DEAD or target.status is DEAD or asker.task is None:
            continue
        if target.deferred is not None and call.future in target.deferred:
            continue  # answered later by the target's own code: not provably stuck
        waits.setdefault(asker, (target, call))
    for start in waits:
        path: list[Cell] = []
        seen: set[Cell] = set()
        node: Cell | None = start
        while node is not None and node not in seen:
            seen.add(node)
            path.append(node)
            nxt = waits.get(node)
            node = nxt[0] if nxt is not None else None
        if node is not None and node in path:
            cycle = path[path.index(node) :]
            involved = []
            for cell in cycle:
                target, call = waits[cell]
                where = "in its mailbox" if _queued(target, call) else "being handled"
                involved.append(
                    f"{cell.label} awaits its ask {describe_message(call.message)} to "
                    f"{target.label} ({where})"
                )
            return (
                "actors wait on each other's asks in a cycle; none can ever be answered",
                involved,
            )
    return None


def _queued(cell: Cell, call: Call) -> bool:
    return cell.queued() > 0 and any(item is call for item in cell.mailbox)


def _describe_item(item: object) -> str:
    return describe_message(item.message if type(item) is Call else item)


# -- scenario-side API ----------------------------------------------------------------------


def notify(system: ActorSystem, event: object) -> None:
    """Pass ``event`` to the run's monitors (``Monitor.on_event``).

    On a system that is not simulated this does nothing, so scenario code can be shared
    with production-like tests.
    """
    monitors = getattr(system, "monitors", None)
    if isinstance(monitors, Monitors):
        monitors.notify(event)


def monitor(system: ActorSystem, cls: type[M]) -> M:
    """The run's instance of monitor ``cls`` (to read its state in an assertion)."""
    monitors = getattr(system, "monitors", None)
    if not isinstance(monitors, Monitors):
        raise SimulationError("monitor(system, ...) needs a system of a deterministic run")
    return monitors.get(cls)
