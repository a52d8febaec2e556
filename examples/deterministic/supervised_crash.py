"""A crash injected by a fault plan is restarted correctly under every explored schedule.

A one_for_one ``Supervisor`` runs a ``Worker`` registered as "worker" (a permanent child).
The fault plan crashes the worker at its 3rd message (``InjectedCrash`` raised at the
message boundary, before the handler) while two clients race their work against the crash
and the restart. Whatever order the scheduler picks, the invariant holds: exactly one
restart, a live worker under the name that is a new actor, and it handles work again.

Run it: ``uv run --frozen python examples/deterministic/supervised_crash.py``
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, NameNotRegistered, handler
from lightflow_actors.supervision import ChildSpec, Supervisor, which_children
from lightflow_actors.testing import Crash, FaultPlan, InjectedCrash, explore, scenario


class Work(msgspec.Struct, frozen=True):
    n: int


class Handled(Ask[int], frozen=True):
    """How many Work messages this worker incarnation handled."""


class Worker(Actor[Work | Handled]):
    def __init__(self) -> None:
        self.handled = 0

    @handler
    def work(self, msg: Work) -> None:
        self.handled += 1

    @handler
    def count(self, msg: Handled) -> int:
        return self.handled


class Next(msgspec.Struct, frozen=True):
    pass


class Client(Actor[Next]):
    """Sends ``total`` Work messages, one per step, to whichever actor is "worker" now."""

    def __init__(self, total: int) -> None:
        self.left = total

    def on_start(self) -> None:
        self.ref.tell(Next())

    @handler
    def next(self, msg: Next) -> None:
        # Between the crash and the restart no worker is registered: that work is lost.
        with contextlib.suppress(NameNotRegistered):
            self.system.lookup("worker", Worker).tell(Work(self.left))
        self.left -= 1
        if self.left:
            self.ref.tell(Next())


async def _current_worker(system: ActorSystem, not_id: int) -> ActorRef[Work | Handled]:
    """The worker registered now, once it is another actor than ``not_id`` (virtual 1 s)."""
    for _ in range(100):
        ref = system.whereis("worker")
        if ref is not None and ref.alive and ref.id != not_id:
            return system.lookup("worker", Worker)
        await asyncio.sleep(0.01)
    raise AssertionError("the worker was not restarted within 1 s of virtual time")


@scenario(faults=FaultPlan((Crash(actor="worker", nth=3),)))
async def crash_is_restarted(system: ActorSystem) -> None:
    sup = await system.start_actor(
        lambda: Supervisor([ChildSpec(id="worker", start=Worker, name="worker")]), name="sup"
    )
    first = system.lookup("worker", Worker)
    # Two clients race their work against the crash (at the worker's 3rd message) and the
    # restart: some of it reaches the first worker, some is lost, some reaches the second.
    system.spawn(lambda: Client(4), name="client-a")
    system.spawn(lambda: Client(4), name="client-b")
    second = await _current_worker(system, not_id=first.id)
    await asyncio.sleep(1.0)  # let the clients finish
    assert isinstance(first.exit_reason, InjectedCrash), first.exit_reason
    before = await second.ask(Handled())
    for n in range(4):
        second.tell(Work(n))
    assert await second.ask(Handled()) == before + 4, "the restarted worker handles new work"
    [child] = await which_children(sup)
    assert child.restarts == 1, f"exactly one restart, got {child.restarts}"
    assert child.ref == second and child.status == "running", child
    assert system.info(first).processed == 3, "crashed at its 3rd message"


def main() -> None:
    explore(crash_is_restarted, seeds=300, strategy="random").raise_if_failed()
    explore(crash_is_restarted, seeds=300, strategy="pct").raise_if_failed()


if __name__ == "__main__":
    main()
