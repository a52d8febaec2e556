"""What an idle actor holds (ADR 0095) and ``is_starting``/``wait_started`` (ADR 0094).

An idle actor has no mailbox deque until its first message and holds a single link (and
a single pending timer, ADR 0114) without a set; links and monitors behave as before
whatever their representation (the Hypothesis link model in ``test_link_model.py``
checks the rules themselves).
"""

from __future__ import annotations

import asyncio

import pytest

from lightflow_actors import Actor, Down, StartFailed, handler

from ..conftest import Runtime
from ._actors import Boom, Counter, Get, Inc, Log, Record, Recorder, Sleep


async def test_an_idle_actor_has_no_mailbox_until_its_first_message(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter)
        cell = ref._cell
        assert cell._mailbox is None and cell.queued() == 0
        assert system.info(ref).mailbox == 0  # looking allocates nothing
        assert cell._mailbox is None
        ref.tell(Inc(by=2))
        assert cell.queued() == 1 and system.info(ref).mailbox == 1
        assert await ref.ask(Get()) == 2
        assert cell.queued() == 0


async def test_a_drained_mailbox_is_dropped_and_made_again_by_the_next_message(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter)
        cell = ref._cell
        for _ in range(3):
            ref.tell(Inc(by=1))
        assert cell.queued() == 3
        assert await ref.ask(Get()) == 3  # the three and the ask, in order
        assert cell._mailbox is None  # drained: no deque held while idle
        assert await ref.ask(Sleep(0)) == "slept"  # an async handler, then idle again
        assert cell._mailbox is None
        ref.tell(Inc(by=1))
        sleeping = asyncio.ensure_future(ref.ask(Sleep(0)))
        await asyncio.sleep(0)
        ref.tell(Inc(by=1))  # queued behind the async handler, in a new mailbox
        assert await sleeping == "slept"
        assert await ref.ask(Get()) == 5
        assert cell._mailbox is None


async def test_links_held_one_or_many_say_the_same(runtime: Runtime) -> None:
    async with runtime.system() as system:
        hub = system.spawn(lambda: Recorder(trap=True))
        a = system.spawn(Counter)
        b = system.spawn(Counter)
        root = system.root
        assert root is not None
        assert system.info(a).links == [root.id]  # the root link alone: no set
        assert type(a._cell.links) is type(a._cell)
        system.link(a, hub)
        system.link(a, hub)  # twice: still one link
        system.link(b, hub)
        system.link(a, a)  # to itself: ignored
        assert system.info(a).links == sorted([root.id, hub.id])
        assert system.info(hub).links == sorted([root.id, a.id, b.id])
        system.unlink(a, hub)
        system.unlink(a, hub)  # not linked any more: nothing happens
        assert system.info(a).links == [root.id]
        assert system.info(hub).links == sorted([root.id, b.id])
        b.tell(Boom("linked crash"))
        assert isinstance(await system.wait_exit(b), RuntimeError)
        system.unlink(a, root)
        assert system.info(a).links == [] and a._cell.links is None
        await asyncio.sleep(0)
        assert hub.alive and a.alive  # hub traps; a was unlinked from everything
        assert system.info(hub).links == [root.id]


async def test_monitors_held_one_or_many_say_the_same(runtime: Runtime) -> None:
    async with runtime.system() as system:
        watcher = system.spawn(Recorder)
        a = system.spawn(Counter)
        b = system.spawn(Counter)
        first = system.monitor(watcher, a)
        assert type(watcher._cell.monitors) is tuple  # one monitor: a pair, no dict
        assert type(a._cell.watchers) is tuple
        second = system.monitor(watcher, a)  # twice on the same target: two monitors
        third = system.monitor(watcher, b)
        assert type(watcher._cell.monitors) is dict
        assert system.info(watcher).monitors == sorted([a.id, a.id, b.id])
        assert system.info(a).monitored_by == [watcher.id, watcher.id]
        assert system.demonitor(watcher, second)
        assert not system.demonitor(watcher, second)  # gone already
        assert type(a._cell.watchers) is tuple  # back to one: a pair again
        assert system.demonitor(watcher, third)
        assert type(watcher._cell.monitors) is tuple
        assert system.info(b).monitored_by == []
        b.tell(Boom("unwatched"))
        a.tell(Boom("watched"))
        await system.wait_exit(a)
        await system.wait_exit(b)
        (down,) = [m for m in await watcher.ask(Log()) if isinstance(m, Down)]
        assert (down.actor, down.monitor) == (a, first)  # only the monitor left fired
        assert watcher._cell.monitors is None and system.info(watcher).monitors == []


async def test_timers_held_one_or_many_say_the_same(runtime: Runtime) -> None:
    async with runtime.system() as system:
        owner = system.spawn(Counter)
        target = system.spawn(Recorder)
        cell = owner._cell
        first = system._timer(3600.0, target._cell, Record(0, 1), owner=cell)
        assert cell.timers is first  # one timer: itself, no set
        second = system._timer(3600.0, target._cell, Record(0, 2), owner=cell)
        third = system._timer(0.0, target._cell, Record(0, 3), owner=cell)
        assert cell.timers == {first, second, third}
        assert second.cancel() and not second.cancel()
        while not await target.ask(Log()):  # the due timer fires on a later loop turn
            pass
        assert not third.active and cell.timers == {first}
        assert await target.ask(Log()) == [Record(0, 3)]
        system.exit(owner, "shutdown")
        await system.wait_exit(owner)
        assert not first.active and not first.cancel()  # cancelled with its owner
        assert not cell.timers

        alone = system.spawn(Counter)
        only = system._timer(0.0, target._cell, Record(0, 4), owner=alone._cell)
        assert alone._cell.timers is only
        while len(await target.ask(Log())) < 2:
            pass
        assert alone._cell.timers is None  # fired: back to none
        assert await target.ask(Log()) == [Record(0, 3), Record(0, 4)]


async def test_a_crash_reaches_every_link_held_in_a_set(runtime: Runtime) -> None:
    async with runtime.system() as system:
        crasher = system.spawn(Counter)
        others = [system.spawn(Counter) for _ in range(3)]
        for other in others:
            system.link(crasher, other)
        crasher.tell(Boom("down with me"))
        for other in others:
            reason = await system.wait_exit(other)
            assert isinstance(reason, RuntimeError) and "down with me" in str(reason)


class Gated(Actor[Inc | Get]):
    """Its ``on_start`` waits for ``gate``: ``"ok"`` starts it, ``"fail"`` fails the start."""

    def __init__(self, gate: asyncio.Future[str]) -> None:
        self.gate = gate
        self.value = 0

    async def on_start(self) -> None:
        if await self.gate == "fail":
            raise ValueError("gate said fail")

    @handler
    def inc(self, msg: Inc) -> None:
        self.value += msg.by

    @handler
    def get(self, msg: Get) -> int:
        return self.value


async def test_wait_started_waits_for_on_start_and_many_may_wait(runtime: Runtime) -> None:
    async with runtime.system() as system:
        plain = system.spawn(Counter)
        assert not system.is_starting(plain)
        await system.wait_started(plain)  # not starting: returns at once
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        ref = system.spawn(lambda: Gated(gate))
        assert system.is_starting(ref)
        waiters = [asyncio.ensure_future(system.wait_started(ref)) for _ in range(2)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waiters)
        gate.set_result("ok")
        await asyncio.gather(*waiters)
        assert not system.is_starting(ref)
        ref.tell(Inc())
        assert await ref.ask(Get()) == 1


@pytest.mark.parametrize("how", ["raises", "killed"])
async def test_wait_started_raises_start_failed_if_on_start_never_returned(
    runtime: Runtime, how: str
) -> None:
    async with runtime.system() as system:
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        ref = system.spawn(lambda: Gated(gate))
        waiter = asyncio.ensure_future(system.wait_started(ref))
        await asyncio.sleep(0)
        if how == "raises":
            gate.set_result("fail")
        else:
            system.kill(ref)
        with pytest.raises(StartFailed) as info:
            await waiter
        expected = ValueError if how == "raises" else str
        assert isinstance(info.value.reason, expected)
        assert not system.is_starting(ref) and not ref.alive
        assert system._start_waiters == {}


async def test_start_actor_is_spawn_and_wait_started(runtime: Runtime) -> None:
    """The bare kernel: no root, nothing but the two steps."""
    async with runtime.system(root=False) as system:
        gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        starting = asyncio.ensure_future(system.start_actor(lambda: Gated(gate)))
        await asyncio.sleep(0)
        assert not starting.done()
        gate.set_result("ok")
        ref = await starting
        assert ref.alive and not system.is_starting(ref)
