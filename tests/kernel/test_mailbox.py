"""Bounded mailboxes and their overflow policies; per-pair FIFO order."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import (
    Actor,
    Mailbox,
    MailboxFull,
    MessageDropped,
    handler,
)

from ..conftest import Runtime, quiesce
from ._actors import Get, Inc, Log, Record, Recorder


class Tally(Actor[Inc | Get]):
    def __init__(self) -> None:
        self.seen: list[int] = []

    @handler(Inc)
    def inc(self, msg: Inc) -> None:
        self.seen.append(msg.by)

    @handler(Get)
    def get(self, msg: Get) -> int:
        return sum(self.seen)


async def test_fail_policy_raises_mailbox_full_naming_the_actor(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Tally, mailbox=Mailbox(capacity=3, overflow="fail"))
        for i in range(3):
            ref.tell(Inc(by=i))
        with pytest.raises(MailboxFull, match=rf"Tally<{ref.id}> is full \(3 messages\)"):
            ref.tell(Inc(by=99))
        with pytest.raises(MailboxFull):  # an ask obeys the same bound
            await ref.ask(Get())
        await quiesce()
        assert await ref.ask(Get()) == 0 + 1 + 2


async def test_drop_newest_keeps_the_first_messages(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Tally, mailbox=Mailbox(capacity=2, overflow="drop_newest"))
        for i in range(1, 6):
            ref.tell(Inc(by=i))
        await quiesce()
        assert ref._cell.actor.seen == [1, 2]  # type: ignore[attr-defined]
        assert system.info(ref).dropped == 3


async def test_drop_oldest_keeps_the_last_messages_and_fails_dropped_asks(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Tally, mailbox=Mailbox(capacity=2, overflow="drop_oldest"))
        pending = ref.ask(Get())  # queued at the call; the actor has not run yet
        ref.tell(Inc(by=0))
        for i in range(1, 4):
            ref.tell(Inc(by=i))
        with pytest.raises(MessageDropped):
            await pending
        await quiesce()
        assert ref._cell.actor.seen == [2, 3]  # type: ignore[attr-defined]


async def test_await_policy_blocks_send_until_room_and_keeps_order(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Tally, mailbox=Mailbox(capacity=2, overflow="await"))
        ref.tell(Inc(by=1))
        ref.tell(Inc(by=2))
        with pytest.raises(MailboxFull, match=r"await ref\.send"):
            ref.tell(Inc(by=3))
        # Three concurrent senders, which call send in this order whatever the schedule:
        # each sets the next one's turn just before its send, whose first step (queue the
        # message, or join the waiters) runs before the task yields.
        turns = [asyncio.Event() for _ in range(4)]
        turns[0].set()

        async def sender(by: int, turn: asyncio.Event, next_turn: asyncio.Event) -> None:
            await turn.wait()
            next_turn.set()
            await ref.send(Inc(by=by))

        senders = [
            asyncio.ensure_future(sender(by, turns[k], turns[k + 1]))
            for k, by in enumerate((3, 4, 5))
        ]
        await asyncio.gather(*senders)  # all queued; the last two may not be handled yet
        await quiesce()
        assert await ref.ask(Get()) == 15
        assert ref._cell.actor.seen == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]


def test_mailbox_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        Mailbox(capacity=0)


async def test_signals_are_never_dropped_by_a_full_mailbox(runtime: Runtime) -> None:
    async with runtime.system() as system:
        box = Mailbox(capacity=1, overflow="drop_newest")
        watcher = system.spawn(lambda: Recorder(trap=True), mailbox=box)
        others = [system.spawn(Recorder) for _ in range(3)]
        for other in others:
            system.monitor(watcher, other)
        for other in others:
            await other.stop()
        for _ in range(5):
            await quiesce()
        assert len(await watcher.ask(Log())) == 3


# `runtime` holds nothing between examples: each runtime.run builds a fresh loop.
@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=60))
def test_per_pair_fifo_for_interleaved_senders(
    runtime: Runtime, plan: list[tuple[int, int]]
) -> None:
    """Senders interleave arbitrarily; each sender's messages arrive in its own order."""

    class Sender(Actor[Record]):
        def __init__(self, target: object) -> None:
            self.target = target

        @handler(Record)
        def forward(self, msg: Record) -> None:
            self.target.tell(msg)  # type: ignore[attr-defined]

    async def main() -> None:
        async with runtime.system(throughput=1) as system:
            sink = system.spawn(Recorder)
            senders = [system.spawn(lambda: Sender(sink)) for _ in range(4)]
            counters = [0, 0, 0, 0]
            for who, pause in plan:
                senders[who].tell(Record(sender=who, seq=counters[who]))
                counters[who] += 1
                for _ in range(pause):
                    await asyncio.sleep(0)
            for _ in range(10):
                await quiesce()
            seen = await sink.ask(Log())
            assert len(seen) == len(plan)
            for who in range(4):
                seqs = [r.seq for r in seen if r.sender == who]  # type: ignore[attr-defined]
                assert seqs == sorted(seqs) == list(range(counters[who]))

    runtime.run(main)
