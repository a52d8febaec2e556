"""The deterministic loop: virtual time, one chosen callback per step, its limits."""

from __future__ import annotations

import asyncio
import random

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, handler
from lightflow_actors.testing import (
    CallbackFailed,
    Deadlock,
    DeterministicLoop,
    RandomStrategy,
    Scenario,
    StepLimitExceeded,
    VirtualTimeLimitExceeded,
    run_schedule,
)


def test_sleep_jumps_virtual_time() -> None:
    seen: list[float] = []

    async def body(system: ActorSystem) -> None:
        await asyncio.sleep(3600)
        seen.append(system.clock.now())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), timeout=2.5)
        seen.append(asyncio.get_running_loop().time())

    result = run_schedule(body, seed=1)
    assert result.ok, result.error
    assert seen == [3600.0, 3602.5]
    assert result.virtual_time == 3602.5


def test_timers_fire_in_virtual_time_order() -> None:
    fired: list[tuple[float, str]] = []

    async def body(system: ActorSystem) -> None:
        loop = asyncio.get_running_loop()
        for delay, name in [(5.0, "c"), (1.0, "a"), (3.0, "b"), (0.0, "now")]:
            loop.call_later(delay, lambda n=name: fired.append((loop.time(), n)))
        await asyncio.sleep(10)

    for seed in range(5):
        fired.clear()
        assert run_schedule(body, seed=seed).ok
        assert fired == [(0.0, "now"), (1.0, "a"), (3.0, "b"), (5.0, "c")]


def test_callbacks_of_one_operation_keep_fifo_order() -> None:
    loop = DeterministicLoop(RandomStrategy(3))
    order: list[int] = []
    for i in range(50):
        loop.call_soon(order.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert order == list(range(50))


def test_tasks_interleave_but_each_keeps_its_order() -> None:
    interleavings = set()
    for seed in range(20):
        log: list[str] = []

        async def worker(name: str, log: list[str] = log) -> None:
            for i in range(4):
                log.append(f"{name}{i}")
                await asyncio.sleep(0)

        async def body(system: ActorSystem) -> None:
            await asyncio.gather(worker("a"), worker("b"), worker("c"))

        assert run_schedule(body, seed=seed).ok
        for name in "abc":
            assert [x for x in log if x[0] == name] == [f"{name}{i}" for i in range(4)]
        interleavings.add(tuple(log))
    assert len(interleavings) > 5


def test_a_future_nobody_resolves_is_a_deadlock() -> None:
    async def body(system: ActorSystem) -> None:
        await asyncio.get_running_loop().create_future()

    result = run_schedule(body)
    assert isinstance(result.error, Deadlock)
    assert "deadlock at virtual time 0s" in str(result.error)


class Ping(msgspec.Struct, frozen=True):
    reply_to: ActorRef[Ping]


class Bouncer(Actor[Ping]):
    @handler
    def ping(self, msg: Ping) -> None:
        msg.reply_to.tell(Ping(self.ref))


async def _ping_forever(system: ActorSystem) -> None:
    a = system.spawn(Bouncer)
    b = system.spawn(Bouncer)
    a.tell(Ping(b))
    await asyncio.sleep(1)


def test_a_livelock_hits_the_step_limit() -> None:
    result = run_schedule(Scenario(_ping_forever, max_steps=2_000), seed=0, quiet=True)
    assert isinstance(result.error, StepLimitExceeded)
    assert "2000 scheduling steps" in str(result.error)


class Rearm(msgspec.Struct, frozen=True):
    pass


class Ticker(Actor[Rearm]):
    @handler
    def tick(self, msg: Rearm) -> None:
        self.send_after(60.0, self.ref, Rearm())


def test_virtual_time_limit() -> None:
    async def body(system: ActorSystem) -> None:
        system.spawn(Ticker).tell(Rearm())
        await asyncio.get_running_loop().create_future()

    result = run_schedule(Scenario(body, max_virtual_time=600.0), quiet=True)
    assert isinstance(result.error, VirtualTimeLimitExceeded)
    assert result.virtual_time <= 600.0


def test_an_exception_escaping_a_callback_fails_the_run() -> None:
    def boom() -> None:
        raise RuntimeError("boom")

    async def body(system: ActorSystem) -> None:
        asyncio.get_running_loop().call_soon(boom)
        await asyncio.sleep(0.1)

    result = run_schedule(body, quiet=True)
    assert isinstance(result.error, CallbackFailed)
    assert "RuntimeError: boom" in str(result.error)


def test_the_system_defaults_to_one_message_per_step() -> None:
    async def body(system: ActorSystem) -> None:
        assert system.throughput == 1
        assert system.seed == 42
        assert system.random.random() == random.Random(42).random()

    assert run_schedule(body, seed=42).ok
