"""Scheduling strategies: which ready operation runs next.

At each step where more than one *operation* (an actor, a task, or the loop's own callbacks)
has a ready callback, the deterministic loop asks its strategy to pick one. A strategy is
named by a spec string so a failing run can be replayed from one line:

- ``random``: uniform choice, seeded.
- ``fifo``: always the operation that became ready first (close to plain asyncio).
- ``pct`` / ``pct:depth=3,steps=500``: probabilistic concurrency testing (Burckhardt et al.,
  ASPLOS 2010; Coyote's PCT). Each operation gets a random priority when first seen; the
  highest-priority ready one runs; at ``depth - 1`` random steps in ``[0, steps)`` the
  running operation drops to the lowest priority. A bug of depth ``d`` is found with
  probability at least ``1 / (n * k^(d-1))`` per run.
- ``fairpct`` / ``fairpct:depth=3,steps=500``: PCT for the first ``steps`` decisions, then a
  uniform choice (Coyote's FairPCT). A fair suffix lets every ready operation run
  eventually, so a liveness monitor that stays hot is a real bug, not starvation by the
  strategy.
- ``portfolio`` / ``portfolio:steps=500``: a different strategy per seed, in rotation:
  ``random``, PCT of depth 2, 3 and 5, and FairPCT of depth 3 (as Coyote's portfolio runs
  several strategies side by side). Each run reports the strategy it used, so a replay
  needs no portfolio.
- ``script:2.0.1``: the recorded choices of an earlier run (0 after the list ends); this is
  how a schedule found by Hypothesis is replayed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

from ._errors import InvalidStrategy

if TYPE_CHECKING:
    from hypothesis.strategies import DataObject

Operation: TypeAlias = tuple[str, int]
"""What a strategy chooses between: ``("actor", id)``, ``("task", n)`` or ``("loop", 0)``."""

DEFAULT_PCT_DEPTH = 3
DEFAULT_PCT_STEPS = 1000


class Strategy(Protocol):
    """Picks the index of the operation to run among ``ready`` (always 2 or more)."""

    @property
    def spec(self) -> str:
        """The spec string that rebuilds this strategy (with the run's seed) for a replay."""
        ...

    def choose(self, ready: Sequence[Operation], step: int) -> int: ...


class FifoStrategy:
    """Always the operation whose oldest callback has waited longest (ties: lowest id).

    Close to the order plain asyncio runs callbacks in; Hypothesis shrinks towards it.
    """

    spec = "fifo"

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        return 0


class RandomStrategy:
    """A uniform, seeded choice at every step."""

    spec = "random"

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.draw = self._random.random
        """The uniform draw in [0, 1) (the loop inlines ``choose`` with it)."""

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        # One C call per decision (randrange costs three Python frames); the bias of
        # flooring a 53-bit float is far below anything a schedule could show.
        return int(self.draw() * len(ready))


class PCTStrategy:
    """Probabilistic priorities with ``depth - 1`` change points over ``steps`` steps."""

    def __init__(self, seed: int, depth: int = DEFAULT_PCT_DEPTH, steps: int = DEFAULT_PCT_STEPS):
        if depth < 1 or steps < 1:
            spec = f"pct:depth={depth},steps={steps}"
            raise InvalidStrategy(spec, "depth and steps must be >= 1")
        self.depth = depth
        self.steps = steps
        self._random = random.Random(seed)
        # Highest priority first. A new operation is inserted at a random position.
        self._priorities: list[Operation] = []
        self._rank: dict[Operation, int] = {}  # higher runs first; rebuilt on any change
        population = range(steps)
        self._change_points = set(self._random.sample(population, min(depth - 1, steps)))
        self._decisions = 0

    @property
    def spec(self) -> str:
        return f"pct:depth={self.depth},steps={self.steps}"

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        rank = self._rank
        for op in ready:
            if op not in rank:
                self._priorities.insert(self._random.randint(0, len(self._priorities)), op)
                self._rerank()
                rank = self._rank
        best = self._best(ready, rank)
        # Change points count decisions (steps with a real choice), as Coyote counts its
        # scheduling points: the running operation is demoted to the lowest priority.
        if self._decisions in self._change_points:
            self._priorities.remove(ready[best])
            self._priorities.append(ready[best])
            self._rerank()
            best = self._best(ready, self._rank)
        self._decisions += 1
        return best

    def _rerank(self) -> None:
        count = len(self._priorities)
        self._rank = {op: count - i for i, op in enumerate(self._priorities)}

    @staticmethod
    def _best(ready: Sequence[Operation], rank: dict[Operation, int]) -> int:
        """The index of the highest-priority ready operation."""
        best, top = 0, rank[ready[0]]
        for index in range(1, len(ready)):
            value = rank[ready[index]]
            if value > top:
                best, top = index, value
        return best


class FairPCTStrategy(PCTStrategy):
    """PCT for the first ``steps`` decisions, then a uniform (fair) choice."""

    @property
    def spec(self) -> str:
        return f"fairpct:depth={self.depth},steps={self.steps}"

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        if self._decisions >= self.steps:
            return int(self._random.random() * len(ready))
        return super().choose(ready, step)


PORTFOLIO: tuple[str, ...] = (
    "random",
    "pct:depth=2",
    "pct:depth=3",
    "fairpct:depth=3",
    "pct:depth=5",
)
"""The strategies ``portfolio`` rotates through: seed ``s`` uses ``PORTFOLIO[s % 5]``."""


def portfolio_member(seed: int, steps: int | None = None) -> str:
    """The spec the portfolio uses for ``seed`` (``steps`` filled into the PCT variants)."""
    member = PORTFOLIO[seed % len(PORTFOLIO)]
    if steps is not None and member != "random":
        member = f"{member},steps={steps}"
    return member


class ScriptStrategy:
    """Replays a list of choices; after the list (or for an index out of range) picks 0."""

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = list(choices)
        self._next = 0

    @property
    def spec(self) -> str:
        return format_script(self.choices)

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        i = self._next
        self._next += 1
        if i >= len(self.choices):
            return 0
        choice = self.choices[i]
        return choice if 0 <= choice < len(ready) else 0


class HypothesisStrategy:
    """Draws the schedule from Hypothesis data, so a failing schedule shrinks.

    The data describes the schedule as *deviations from FIFO order*: a list of
    ``(decision, shift)`` pairs, drawn once (at the first decision) with
    ``data.draw(st.lists(st.tuples(st.integers(0, horizon - 1), st.integers(1, 16))))``. At
    decision ``k`` with ``n`` ready operations the strategy picks ``0`` (the FIFO choice)
    unless ``k`` is listed, in which case it picks ``1 + (shift - 1) % (n - 1)``.

    Drawing one integer per decision would shrink badly: Hypothesis prefers shorter choice
    sequences, and a schedule with fewer decisions is not one with fewer deviations. With
    this encoding shrinking removes deviations first (a shorter list), then moves them
    earlier and makes them smaller, so a failing schedule shrinks to the fewest
    preemptions the bug needs (delay-bounded scheduling, Emmi, Qadeer and Rakamaric, 2011).
    ``horizon`` should cover the run's decisions; ``explore_hypothesis`` measures it.
    """

    def __init__(self, data: DataObject, *, horizon: int = 256, max_deviations: int = 8) -> None:
        if horizon < 1 or max_deviations < 1:
            raise InvalidStrategy("hypothesis", "horizon and max_deviations must be >= 1")
        self._data = data
        self._horizon = horizon
        self._max_deviations = max_deviations
        self._plan: dict[int, int] | None = None
        self._decision = 0
        self.choices: list[int] = []

    @property
    def spec(self) -> str:
        return format_script(self.choices)

    def choose(self, ready: Sequence[Operation], step: int) -> int:
        if self._plan is None:
            self._plan = self._draw_plan()
        shift = self._plan.get(self._decision)
        self._decision += 1
        choice = 0 if shift is None else 1 + (shift - 1) % (len(ready) - 1)
        self.choices.append(choice)
        return choice

    def _draw_plan(self) -> dict[int, int]:
        from hypothesis import strategies as st

        pairs = self._data.draw(
            st.lists(
                st.tuples(st.integers(0, self._horizon - 1), st.integers(1, 16)),
                max_size=self._max_deviations,
                unique_by=lambda pair: pair[0],
            ),
            label="schedule deviations (decision, shift)",
        )
        return dict(pairs)


def format_script(choices: Sequence[int]) -> str:
    """``script:`` spec of ``choices``, trailing zeros trimmed (they are the default)."""
    trimmed = list(choices)
    while trimmed and trimmed[-1] == 0:
        trimmed.pop()
    return "script:" + ".".join(str(c) for c in trimmed)


def make_strategy(spec: str, seed: int) -> Strategy:
    """Build the strategy a spec string names, seeded with the run's seed."""
    name, _, params = spec.strip().partition(":")
    name = name.lower()
    if name == "random":
        _no_params(spec, params)
        return RandomStrategy(seed)
    if name == "fifo":
        _no_params(spec, params)
        return FifoStrategy()
    if name in ("pct", "fairpct"):
        options = _parse_options(spec, params, {"depth", "steps"})
        cls = PCTStrategy if name == "pct" else FairPCTStrategy
        return cls(
            seed,
            depth=options.get("depth", DEFAULT_PCT_DEPTH),
            steps=options.get("steps", DEFAULT_PCT_STEPS),
        )
    if name == "portfolio":
        options = _parse_options(spec, params, {"steps"})
        return make_strategy(portfolio_member(seed, options.get("steps")), seed)
    if name == "script":
        if not params:
            return ScriptStrategy([])
        try:
            choices = [int(part) for part in params.split(".")]
        except ValueError:
            raise InvalidStrategy(spec, "script choices are integers joined by '.'") from None
        if any(c < 0 for c in choices):
            raise InvalidStrategy(spec, "script choices are not negative")
        return ScriptStrategy(choices)
    raise InvalidStrategy(spec, f"unknown strategy name {name!r}")


def _no_params(spec: str, params: str) -> None:
    if params:
        raise InvalidStrategy(spec, "this strategy takes no parameters")


def _parse_options(spec: str, params: str, allowed: set[str]) -> dict[str, int]:
    options: dict[str, int] = {}
    if not params:
        return options
    for part in params.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in allowed:
            raise InvalidStrategy(spec, f"expected key=value with key in {sorted(allowed)}")
        try:
            number = int(value)
        except ValueError:
            raise InvalidStrategy(spec, f"{key} must be an integer, got {value!r}") from None
        if number < 1:
            raise InvalidStrategy(spec, f"{key} must be >= 1, got {number}")
        options[key] = number
    return options
