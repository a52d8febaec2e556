"""Registry, timers, ask timeouts, blocking work, introspection, and system shutdown."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lightflow_actors import (
    Actor,
    ActorNotAlive,
    ActorSystem,
    Ask,
    AskTimeout,
    NameNotRegistered,
    NameTaken,
    WrongActorType,
    handler,
)

from ..conftest import Runtime, quiesce
from ._actors import Boom, Counter, Get, Inc, Lifecycle, Log, Record, Recorder, Sleep


async def test_registry_names_are_unique_and_released_on_exit(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter, name="counter")
        with pytest.raises(
            NameTaken, match=f"'counter' is already registered to Counter<{ref.id}:counter>"
        ):
            system.spawn(Counter, name="counter")
        assert system.lookup("counter", Counter) == ref
        with pytest.raises(WrongActorType, match="is a Counter, not a Recorder"):
            system.lookup("counter", Recorder)
        system.register(("session", "abc"), ref)
        assert system.whereis(("session", "abc")) == ref
        ref.tell(Boom())
        await system.wait_exit(ref)
        assert system.whereis("counter") is None
        assert system.whereis(("session", "abc")) is None
        with pytest.raises(NameNotRegistered, match="no actor is registered as 'counter'"):
            system.lookup("counter", Counter)
        again = system.spawn(Counter, name="counter")
        assert system.lookup("counter", Counter) == again


async def test_ask_timeout_names_the_actor_and_the_message_type(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter, name="slow")
        expected = rf"ask Sleep to Counter<{ref.id}:slow> timed out after 0\.01s"
        with pytest.raises(AskTimeout, match=expected):
            await ref.ask(Sleep(seconds=10), timeout=0.01)
        ref.tell(Inc())
        await ref.stop(timeout=0.01)  # the slow handler is still running: killed


async def test_ask_to_an_exited_actor_raises_not_alive(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter)
        await ref.stop()
        with pytest.raises(ActorNotAlive, match="exited: normal"):
            await ref.ask(Get())
        ref.tell(Inc())  # dropped silently, counted
        assert system.dead_letters == 1


async def test_send_after_delivers_and_cancel_stops_it(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Recorder)
        system.send_after(0.01, ref, Record(sender=0, seq=1))
        cancelled = system.send_after(0.01, ref, Record(sender=0, seq=2))
        assert cancelled.cancel() is True
        assert cancelled.cancel() is False
        await asyncio.sleep(0.03)
        seen = await ref.ask(Log())
        assert [r.seq for r in seen] == [1]  # type: ignore[attr-defined]


async def test_timers_owned_by_an_actor_die_with_it(runtime: Runtime) -> None:
    class Ticker(Actor[Inc]):
        def on_start(self) -> None:
            self.timer = self.send_after(0.01, self.ref, Inc())

        @handler(Inc)
        def inc(self, msg: Inc) -> None:
            raise AssertionError("the timer should have been cancelled")

    async with runtime.system() as system:
        ref = await system.start_actor(Ticker)
        timer = ref._cell.actor.timer  # type: ignore[attr-defined]
        await ref.stop()
        assert not timer.active
        await asyncio.sleep(0.02)
        assert system.dead_letters == 0


class Work(Ask[int], frozen=True):
    fail: bool = False


class Blocking(Actor[Work]):
    @handler(Work)
    async def work(self, msg: Work) -> int:
        def compute() -> int:
            if msg.fail:
                raise OSError("disk gone")
            return threading.get_ident()

        return await self.run_blocking(compute)


# Real loop only: it checks the work ran on another thread, and the deterministic loop
# refuses threads (its run_blocking runs registered fakes, or the work inline).
@pytest.mark.anyio
async def test_blocking_work_runs_off_the_loop_and_its_failure_crashes_the_actor() -> None:
    async with ActorSystem() as system:
        ref = system.spawn(Blocking)
        ident = await ref.ask(Work())
        assert ident != threading.get_ident()
        with pytest.raises(Exception, match="disk gone"):
            await ref.ask(Work(fail=True))
        reason = await system.wait_exit(ref)
        assert isinstance(reason, OSError)


async def test_introspection_while_running(runtime: Runtime) -> None:
    async with runtime.system() as system:
        assert system.root is not None
        root_id = system.root.id
        parent = system.spawn(lambda: Recorder(trap=True), name="parent")
        child = system.spawn(Counter, parent=parent, link=True)
        system.monitor(parent, child)
        child.tell(Inc())
        await child.ask(Get())
        info = system.info(child)
        assert (info.parent, info.links, info.monitored_by) == (parent.id, [parent.id], [parent.id])
        assert info.processed == 2
        assert info.status == "idle"
        assert info.kind == "Counter"
        pinfo = system.info(parent)
        assert (pinfo.children, pinfo.monitors, pinfo.name) == ([child.id], [child.id], "parent")
        assert pinfo.trap_exit is True
        assert [a.id for a in system.actors()] == [root_id, parent.id, child.id]
        kinds = [(e.kind, e.actor) for e in system.events() if e.actor != root_id]
        assert kinds == [("spawned", parent.id), ("spawned", child.id)]
        assert system.info(parent).parent == root_id


async def test_shutdown_stops_actors_in_reverse_spawn_order(runtime: Runtime) -> None:
    journal: list[str] = []
    system = runtime.system()
    await system.start()
    for tag in "abc":
        system.spawn(lambda tag=tag: Lifecycle(journal, tag))
    await quiesce()
    await system.shutdown()
    assert journal[3:] == ["c:stop:shutdown", "b:stop:shutdown", "a:stop:shutdown"]
    assert system.actor_count() == 0
    assert not system.running


async def test_shutdown_kills_an_actor_that_will_not_stop(runtime: Runtime) -> None:
    class Stubborn(Actor[Sleep]):
        async def on_stop(self, reason: object) -> None:
            await asyncio.sleep(3600)

        @handler(Sleep)
        def sleep(self, msg: Sleep) -> str:
            return "ok"

    system = runtime.system()
    await system.start()
    ref = system.spawn(Stubborn)
    await system.shutdown(timeout=0.01)
    assert ref.exit_reason == "killed"


async def test_lifecycle_listener_sees_spawn_and_exit_with_reason(runtime: Runtime) -> None:
    async with runtime.system() as system:
        seen: list[tuple[str, str | None]] = []
        unsubscribe = system.subscribe(lambda e: seen.append((e.kind, e.reason)))
        ref = system.spawn(Counter)
        ref.tell(Boom(text="bad"))
        await system.wait_exit(ref)
        unsubscribe()
        system.spawn(Counter)
        assert seen == [("spawned", None), ("exited", "RuntimeError: bad")]
