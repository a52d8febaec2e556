"""Real I/O under the deterministic loop fails clearly, unless the scenario simulates it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import anyio.to_thread
import pytest

from lightflow_actors import Actor, ActorExited, ActorSystem, Ask, handler
from lightflow_actors.testing import RealIOForbidden, Scenario, run_schedule

Body = Callable[[ActorSystem], Awaitable[None]]


def _error_of(body: Body, **options: object) -> BaseException | None:
    return run_schedule(Scenario(body, **options), quiet=True).error  # type: ignore[arg-type]


async def _open_socket(system: ActorSystem) -> None:
    await asyncio.open_connection("127.0.0.1", 9)


async def _resolve(system: ActorSystem) -> None:
    await asyncio.get_running_loop().getaddrinfo("localhost", 80)


async def _subprocess(system: ActorSystem) -> None:
    await asyncio.create_subprocess_exec("true")


async def _thread(system: ActorSystem) -> None:
    await anyio.to_thread.run_sync(lambda: None)


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (_open_socket, ["loop.create_connection()", "simulate the peer with an actor"]),
        (_resolve, ["loop.getaddrinfo()", "fixed address"]),
        (_subprocess, ["loop.subprocess_exec()", "simulated adapter"]),
        (_thread, ["starting thread", "self.run_blocking"]),
    ],
)
def test_real_io_is_refused_naming_what_to_simulate(body: Body, names: list[str]) -> None:
    error = _error_of(body)
    assert isinstance(error, RealIOForbidden), error
    for name in names:
        assert name in str(error)
    assert "not allowed under the deterministic scheduler" in str(error)


def test_threads_work_again_after_the_run() -> None:
    run_schedule(_thread, quiet=True)
    done = threading.Event()
    thread = threading.Thread(target=done.set)
    thread.start()
    thread.join()
    assert done.is_set()


def read_sensor(channel: int) -> float:
    """A blocking call the scenario must not really make."""
    raise AssertionError("the real sensor must not be read under simulation")


def checksum(data: bytes) -> int:
    return sum(data) % 251


class Read(Ask[float], frozen=True):
    channel: int


class Sum(Ask[int], frozen=True):
    data: bytes


class Device(Actor[Read | Sum]):
    @handler
    async def read(self, msg: Read) -> float:
        return await self.run_blocking(read_sensor, msg.channel)

    @handler
    async def sum(self, msg: Sum) -> int:
        return await self.run_blocking(checksum, msg.data)


def test_run_blocking_without_a_simulation_crashes_the_actor_clearly() -> None:
    async def body(system: ActorSystem) -> None:
        device = system.spawn(Device)
        with pytest.raises(ActorExited) as info:
            await device.ask(Read(3))
        reason = info.value.reason
        assert isinstance(reason, RealIOForbidden)
        assert "run_blocking(" in str(reason) and "read_sensor)" in str(reason)
        assert "Scenario(blocking=" in str(reason)
        assert "allow_threads=True" in str(reason)

    result = run_schedule(body, quiet=True)
    assert result.ok, result.error


def test_a_registered_simulation_replaces_the_blocking_call() -> None:
    async def body(system: ActorSystem) -> None:
        device = system.spawn(Device)
        assert await device.ask(Read(7)) == 0.7
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, read_sensor, 2) == 0.2

    result = run_schedule(Scenario(body, blocking={read_sensor: lambda ch: ch / 10}))
    assert result.ok, result.error


def test_allow_threads_runs_blocking_work_inline() -> None:
    threads: list[int] = []

    def where(data: bytes) -> int:
        threads.append(threading.get_ident())
        return checksum(data)

    async def body(system: ActorSystem) -> None:
        device = system.spawn(Device)
        assert await device.ask(Sum(b"abc")) == checksum(b"abc")
        assert await asyncio.get_running_loop().run_in_executor(None, where, b"xy") == checksum(
            b"xy"
        )

    result = run_schedule(Scenario(body, allow_threads=True))
    assert result.ok, result.error
    assert threads == [threading.get_ident()]


def test_run_in_executor_errors_reach_the_awaiter() -> None:
    def fails(n: int) -> int:
        raise ValueError(f"bad {n}")

    async def body(system: ActorSystem) -> None:
        with pytest.raises(ValueError, match="bad 4"):
            await asyncio.get_running_loop().run_in_executor(None, fails, 4)

    assert run_schedule(Scenario(body, allow_threads=True)).ok
