"""A lost update: two actors read-modify-write a shared account through ask, then tell.

Each ``Teller`` handles a deposit by asking the ``Account`` for its balance and then telling
it the new balance. When both tellers read before either writes, one deposit is lost. Plain
asyncio order happens to hide the race here (the second deposit arrives through a front
desk, one hop later), so ordinary tests pass; ``explore`` finds a schedule that loses a
deposit within a few hundred seeds and prints the line that replays it.

``fixed_scenario`` does the same with an atomic ``Deposit`` message and never fails.

Run it: ``uv run --frozen python examples/deterministic/lost_update.py``
"""

from __future__ import annotations

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import explore


class Balance(Ask[int], frozen=True):
    """Read the balance."""


class SetBalance(msgspec.Struct, frozen=True):
    """Overwrite the balance (the unsafe write)."""

    value: int


class Deposit(msgspec.Struct, frozen=True):
    """Add to the balance in one step (the safe write)."""

    amount: int


class Account(Actor[Balance | SetBalance | Deposit]):
    def __init__(self) -> None:
        self.balance = 0

    @handler
    def read(self, msg: Balance) -> int:
        return self.balance

    @handler
    def write(self, msg: SetBalance) -> None:
        self.balance = msg.value

    @handler
    def deposit(self, msg: Deposit) -> None:
        self.balance += msg.amount


class Credit(msgspec.Struct, frozen=True):
    """Ask a teller to credit ``amount`` to the account."""

    amount: int


class Done(Ask[bool], frozen=True):
    """Answered once every earlier ``Credit`` has been handled (mailboxes are FIFO)."""


class Teller(Actor[Credit | Done]):
    def __init__(self, account: ActorRef[Balance | SetBalance | Deposit], atomic: bool) -> None:
        self.account = account
        self.atomic = atomic

    @handler
    async def credit(self, msg: Credit) -> None:
        if self.atomic:
            self.account.tell(Deposit(msg.amount))
            return
        current = await self.account.ask(Balance())
        self.account.tell(SetBalance(current + msg.amount))

    @handler
    def done(self, msg: Done) -> bool:
        return True


class FrontDesk(Actor[Credit | Done]):
    """Forwards credits to a teller: one more hop, so this deposit usually arrives later."""

    def __init__(self, teller: ActorRef[Credit | Done]) -> None:
        self.teller = teller

    @handler
    def forward(self, msg: Credit) -> None:
        self.teller.tell(msg)

    @handler
    async def done(self, msg: Done) -> bool:
        return await self.teller.ask(Done())


HOPS = 3


async def _run(system: ActorSystem, atomic: bool) -> None:
    account = system.spawn(Account, name="account")
    alice = system.spawn(lambda: Teller(account, atomic), name="alice")
    bob = system.spawn(lambda: Teller(account, atomic), name="bob")
    desk: ActorRef[Credit | Done] = bob
    for hop in range(HOPS):
        desk = system.spawn(lambda inner=desk: FrontDesk(inner), name=f"desk{hop}")
    alice.tell(Credit(100))
    desk.tell(Credit(50))
    # Every credit is handled (and its write queued at the account) before Done answers.
    await alice.ask(Done())
    await desk.ask(Done())
    balance = await account.ask(Balance())
    assert balance == 150, f"lost update: balance {balance}, expected 150"


async def scenario(system: ActorSystem) -> None:
    """Read via ask, write via tell: loses a deposit under some schedules."""
    await _run(system, atomic=False)


async def fixed_scenario(system: ActorSystem) -> None:
    """The same deposits as one atomic message each: holds under every schedule."""
    await _run(system, atomic=True)


def main() -> None:
    explore(fixed_scenario, seeds=200, strategy="random")
    explore(scenario, seeds=1000, strategy="random")
    explore(scenario, seeds=1000, strategy="pct")


if __name__ == "__main__":
    main()
