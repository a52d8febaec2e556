"""A determinism leak: a handler reads the wall clock, and the self-check names the line.

The ``Stamper`` stamps each order with ``time.time()`` (the bug: under simulation the time
must come from the loop, ``system.clock.wall_ms()``). Its invariant holds, so exploring
passes; but a failure found in this scenario could not be replayed, because the stamp, and
so the trace, differs from run to run. ``explore(..., check_determinism=True)`` runs every
seed twice, finds the first event where the two traces differ, and names the call:

    NondeterminismDetected: seed 0 is not deterministic: the two runs' traces first differ
    at event #5: ... likely cause: time.time() at examples/deterministic/determinism_leak.py:37
    in Stamper.stamp ...

``fixed_scenario`` takes the time from the system's clock and passes the self-check.

Run it: ``uv run --frozen python examples/deterministic/determinism_leak.py``
"""

from __future__ import annotations

import time

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import explore


class Order(msgspec.Struct, frozen=True):
    item: str


class Stamped(msgspec.Struct, frozen=True):
    item: str
    at_ms: int


class Flush(Ask[int], frozen=True):
    """How many orders the book holds, once every order stamped before it is there."""


class Stamper(Actor[Order | Flush]):
    def __init__(self, book: ActorRef[Stamped | Count], wall_clock: bool) -> None:
        self.book = book
        self.wall_clock = wall_clock

    @handler
    def stamp(self, msg: Order) -> None:
        # The leak: real time under a simulated loop (the fix reads the system's clock).
        at_ms = int(time.time() * 1000) if self.wall_clock else self.system.clock.wall_ms()
        self.book.tell(Stamped(msg.item, at_ms))

    @handler
    async def flush(self, msg: Flush) -> int:
        # Per-pair FIFO: the book handles this ask after every Stamped this actor sent it.
        return await self.book.ask(Count())


class Count(Ask[int], frozen=True):
    pass


class Book(Actor[Stamped | Count]):
    def __init__(self) -> None:
        self.entries: list[Stamped] = []

    @handler
    def add(self, msg: Stamped) -> None:
        self.entries.append(msg)

    @handler
    def count(self, msg: Count) -> int:
        return len(self.entries)


async def _run(system: ActorSystem, wall_clock: bool) -> None:
    book = system.spawn(Book, name="book")
    stamper = system.spawn(lambda: Stamper(book, wall_clock), name="stamper")
    for item in ("tea", "cake", "jam"):
        stamper.tell(Order(item))
    assert await stamper.ask(Flush()) == 3


async def scenario(system: ActorSystem) -> None:
    """Stamps orders with time.time(): passes its invariant, fails the self-check."""
    await _run(system, wall_clock=True)


async def fixed_scenario(system: ActorSystem) -> None:
    await _run(system, wall_clock=False)


def main() -> None:
    explore(scenario, seeds=20)  # passes: the invariant does not look at the stamps
    explore(fixed_scenario, seeds=20, check_determinism=True)
    explore(scenario, seeds=20, check_determinism=True)


if __name__ == "__main__":
    main()
