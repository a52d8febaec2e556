"""Exit signals racing a stop: an actor whose async task is cancelled before its first
step still finishes its exit, and `shutdown(timeout)` applies under the root supervisor.

Found through the substrate's tests: the root terminated a parent, whose linked child then
got the link's exit signal just after its async `on_stop` task was created; the cancelled
task never entered its coroutine, and the child stayed `stopping` until it was killed.
"""

from __future__ import annotations

import asyncio
from typing import Never

import msgspec

from lightflow_actors import SHUTDOWN, Actor, ActorSystem, LifecycleEvent, handler

from ..conftest import Runtime


class AsyncStop(Actor[Never]):
    """Any actor whose `on_stop` is a coroutine (it need not await anything slow)."""

    async def on_stop(self, reason: object) -> None:
        await asyncio.sleep(0)


class Parent(Actor[Never]):
    """A plain actor with a linked child, as `Substrate` links its `DirectoryWatcher`."""

    def on_start(self) -> None:
        self.spawn(AsyncStop, link=True)


def record_exits(system: ActorSystem) -> dict[str, str | None]:
    """`{actor class: exit reason}` of every actor that exits from now on."""
    exits: dict[str, str | None] = {}

    def listen(event: LifecycleEvent) -> None:
        if event.kind == "exited":
            exits[event.actor_kind] = event.reason

    system.subscribe(listen)
    return exits


class Hold(msgspec.Struct, frozen=True):
    pass


class Stuck(Actor[Hold]):
    """Handles `Hold` forever: stopping it waits for the current message, then kills it."""

    @handler
    async def hold(self, msg: Hold) -> None:
        await asyncio.Event().wait()


async def shutdown_with_a_short_timeout(system: ActorSystem) -> None:
    stuck = system.spawn(Stuck)
    stuck.tell(Hold())
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await system.shutdown(timeout=0.05)
    waited = loop.time() - start  # virtual seconds on the deterministic loop
    assert waited < system.default_stop_timeout, f"shutdown(timeout=0.05) took {waited}s"


async def test_shutdown_timeout_applies_to_actors_under_the_root(runtime: Runtime) -> None:
    async with runtime.system() as system:
        await shutdown_with_a_short_timeout(system)


async def test_exit_signal_queued_before_terminate_does_not_strand_on_stop(
    runtime: Runtime,
) -> None:
    async with runtime.system(root=False) as system:
        ref = system.spawn(AsyncStop)
        await asyncio.sleep(0)
        system.exit(ref, SHUTDOWN)  # queued with call_soon: runs before on_stop's first step
        # 0.5 s only bounds the wait for the bug's kill; it is not a speed assertion.
        await system.terminate(ref, SHUTDOWN, timeout=0.5)
        assert await system.wait_exit(ref) == SHUTDOWN, "it was killed after the timeout"


async def test_root_shutdown_stops_a_linked_child_with_async_on_stop(runtime: Runtime) -> None:
    system = runtime.system(default_stop_timeout=0.5)
    await system.start()
    await system.start_actor(Parent)
    exits = record_exits(system)
    await system.shutdown()
    assert exits.get("AsyncStop") == SHUTDOWN, f"killed at shutdown: {exits}"
