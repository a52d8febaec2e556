"""pykka interop: a pykka ThreadingActor as a supervised child; asking one from async code."""

from __future__ import annotations

import asyncio
import time
from typing import cast

import pykka
import pytest

from lightflow_actors import SHUTDOWN, ActorRef, ActorSystem, StartFailed
from lightflow_actors.supervision import (
    ChildStartFailed,
    GetPykkaRef,
    InvalidChildSpec,
    PykkaRef,
    Supervisor,
    ask_pykka,
    pykka_child_spec,
    which_children,
)

from ._actors import child_ref, exited, settle

# Real loop only: a pykka actor is a thread, which the deterministic loop refuses.
pytestmark = pytest.mark.anyio


class Legacy(pykka.ThreadingActor):
    def __init__(self, fail_start: bool = False) -> None:
        super().__init__()
        self.fail_start = fail_start

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError("legacy refuses to start")

    def on_receive(self, message: object) -> object:
        if message == "crash":
            raise ValueError("legacy crashed")
        if isinstance(message, tuple) and message[0] == "sleep":
            time.sleep(message[1])
            return "slept"
        return ("pong", message)


async def _pykka_ref(sup: object, cid: str = "legacy") -> PykkaRef:
    owner = await child_ref(sup, cid)  # type: ignore[arg-type]
    return await cast(ActorRef[GetPykkaRef], owner).ask(GetPykkaRef())


async def test_a_failing_pykka_actor_is_restarted_and_the_old_thread_is_gone() -> None:
    async with ActorSystem(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([pykka_child_spec("legacy", Legacy)], intensity=3)
        )
        first = await _pykka_ref(sup)
        assert await ask_pykka(first, "hi") == ("pong", "hi")
        owner = await child_ref(sup, "legacy")
        first.tell("crash")  # a failure in a tell: pykka calls on_failure and stops
        await exited(system, owner)
        assert isinstance(owner.exit_reason, ValueError)
        await settle(system, sup)
        second = await _pykka_ref(sup)
        assert second.actor_urn != first.actor_urn
        assert not first.is_alive() and second.is_alive()
        assert (await which_children(sup))[0].restarts == 1
        await system.terminate(sup, SHUTDOWN, None)
        assert not second.is_alive()  # the supervisor's shutdown stopped the pykka actor


async def test_a_pykka_actor_stopped_on_its_own_ends_a_transient_child_normally() -> None:
    async with ActorSystem(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([pykka_child_spec("legacy", Legacy, restart="transient")])
        )
        pref = await _pykka_ref(sup)
        owner = await child_ref(sup, "legacy")
        pref.stop()
        await exited(system, owner)
        assert owner.exit_reason == "normal"
        await settle(system, sup)
        assert [r.status for r in await which_children(sup)] == ["stopped"]
        await system.terminate(sup, SHUTDOWN, None)


async def test_a_pykka_on_start_failure_fails_the_start() -> None:
    async with ActorSystem(root=False) as system:
        spec = pykka_child_spec("legacy", Legacy, kwargs={"fail_start": True})
        with pytest.raises(StartFailed) as info:
            await system.start_actor(lambda: Supervisor([spec]))
        assert isinstance(info.value.reason, ChildStartFailed)
        assert "legacy refuses to start" in str(info.value)
        assert system.actor_count() == 0
    assert not [a for a in pykka.ActorRegistry.get_all() if a.actor_class.__name__ == "Legacy"]


async def test_ask_pykka_does_not_block_the_loop() -> None:
    async with ActorSystem(root=False) as system:
        sup = await system.start_actor(lambda: Supervisor([pykka_child_spec("legacy", Legacy)]))
        pref = await _pykka_ref(sup)
        ask = asyncio.create_task(ask_pykka(pref, ("sleep", 0.2)))
        seen_pending = 0
        while not ask.done():
            seen_pending += 1  # the loop runs while the pykka actor sleeps in its thread
            await asyncio.sleep(0.01)
        assert await ask == "slept"
        assert seen_pending > 1
        await system.terminate(sup, SHUTDOWN, None)


def test_brutal_kill_is_refused_for_pykka_children() -> None:
    with pytest.raises(InvalidChildSpec, match="threads cannot be killed"):
        pykka_child_spec("legacy", Legacy, shutdown="brutal_kill")
