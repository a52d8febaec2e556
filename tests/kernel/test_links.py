"""Links, monitors, trap_exit and the OTP meaning of exit reasons."""

from __future__ import annotations

from lightflow_actors import (
    KILL,
    KILLED,
    NOPROC,
    Down,
    Exit,
    ExitReason,
)

from ..conftest import Runtime, quiesce
from ._actors import Boom, Counter, Get, Log, Quit, Recorder


async def settle() -> None:
    for _ in range(5):
        await quiesce()


async def test_crash_propagates_over_links_to_actors_not_trapping(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Recorder)
        b = system.spawn(Recorder)
        c = system.spawn(Recorder)
        system.link(a, b)
        system.link(b, c)
        a.tell(Boom(text="first"))
        for ref in (a, b, c):
            reason = await system.wait_exit(ref)
            assert isinstance(reason, RuntimeError) and str(reason) == "first"


async def test_trap_exit_turns_the_signal_into_an_exit_message(runtime: Runtime) -> None:
    async with runtime.system() as system:
        watcher = system.spawn(lambda: Recorder(trap=True))
        worker = system.spawn(Recorder)
        system.link(watcher, worker)
        worker.tell(Boom())
        await system.wait_exit(worker)
        await settle()
        seen = await watcher.ask(Log())
        assert len(seen) == 1 and isinstance(seen[0], Exit)
        assert seen[0].sender == worker
        assert isinstance(seen[0].reason, RuntimeError)
        assert watcher.alive


async def test_normal_exit_does_not_kill_linked_actors(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Recorder)
        b = system.spawn(Recorder)
        system.link(a, b)
        await a.stop()
        await settle()
        assert b.alive
        assert a.id not in system.info(b).links


async def test_shutdown_reason_kills_linked_actors_that_do_not_trap(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Recorder)
        b = system.spawn(Recorder)
        system.link(a, b)
        await a.stop(("shutdown", "maintenance"))
        assert await system.wait_exit(b) == ("shutdown", "maintenance")


async def test_kill_is_not_trappable_and_links_see_killed(runtime: Runtime) -> None:
    async with runtime.system() as system:
        trapper = system.spawn(lambda: Recorder(trap=True))
        observer = system.spawn(lambda: Recorder(trap=True))
        system.link(trapper, observer)
        system.kill(trapper)
        assert await system.wait_exit(trapper) == KILLED
        await settle()
        seen = await observer.ask(Log())
        assert [(type(s), s.reason) for s in seen] == [(Exit, KILLED)]  # type: ignore[attr-defined]


async def test_killed_is_trappable_but_kills_non_trapping_links(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Recorder)
        b = system.spawn(Recorder)
        system.link(a, b)
        system.kill(a)
        assert await system.wait_exit(b) == KILLED


async def test_an_actor_exiting_itself_with_kill_sends_an_ordinary_trappable_signal(
    runtime: Runtime,
) -> None:
    # OTP: only exit(Pid, kill) is untrappable. A process that exits itself with `kill`
    # sends its links {'EXIT', Pid, kill}, trapped like any other reason.
    async with runtime.system() as system:
        stops: list[ExitReason] = []
        quitter = system.spawn(lambda: Recorder(stops=stops))
        trapper = system.spawn(lambda: Recorder(trap=True))
        system.link(quitter, trapper)
        quitter.tell(Quit(KILL))
        assert await system.wait_exit(quitter) == KILL
        assert stops == [KILL], "an actor stopping itself runs on_stop, whatever the reason"
        await settle()
        assert trapper.alive
        seen = await trapper.ask(Log())
        assert [(type(s), s.sender, s.reason) for s in seen] == [  # type: ignore[attr-defined]
            (Exit, quitter, KILL)
        ]


async def test_a_link_signal_kill_ends_a_non_trapping_actor_with_kill_and_runs_on_stop(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        stops: list[ExitReason] = []
        quitter = system.spawn(Recorder)
        plain = system.spawn(lambda: Recorder(stops=stops))
        trapper = system.spawn(lambda: Recorder(trap=True))
        system.link(quitter, plain)
        system.link(plain, trapper)
        quitter.tell(Quit(KILL))
        # `kill` over a link is not `exit(Pid, kill)`: the receiver exits with `kill`
        # (not `killed`), on_stop runs, and its own links get a trappable `kill` again.
        assert await system.wait_exit(plain) == KILL
        assert stops == [KILL]
        await settle()
        assert trapper.alive
        seen = await trapper.ask(Log())
        assert [(s.sender, s.reason) for s in seen] == [(plain, KILL)]  # type: ignore[attr-defined]


async def test_an_external_kill_stays_untrappable_and_skips_on_stop(runtime: Runtime) -> None:
    async with runtime.system() as system:
        stops: list[ExitReason] = []
        trapper = system.spawn(lambda: Recorder(trap=True, stops=stops))
        system.exit(trapper, KILL)
        assert await system.wait_exit(trapper) == KILLED
        assert stops == []


async def test_exit_signal_normal_is_ignored_unless_trapping(runtime: Runtime) -> None:
    async with runtime.system() as system:
        plain = system.spawn(Recorder)
        trapper = system.spawn(lambda: Recorder(trap=True))
        system.exit(plain, "normal")
        system.exit(trapper, "normal")
        await settle()
        assert plain.alive
        seen = await trapper.ask(Log())
        assert seen == [Exit(None, "normal")]


async def test_monitor_fires_exactly_once_with_the_reason(runtime: Runtime) -> None:
    async with runtime.system() as system:
        watcher = system.spawn(Recorder)
        target = system.spawn(Counter)
        m1 = system.monitor(watcher, target)
        m2 = system.monitor(watcher, target)
        target.tell(Boom())
        await system.wait_exit(target)
        await settle()
        seen = await watcher.ask(Log())
        assert sorted(s.monitor for s in seen) == [m1, m2]  # type: ignore[attr-defined]
        assert all(isinstance(s, Down) and s.actor == target for s in seen)
        assert watcher.alive  # monitors never kill the watcher


async def test_monitor_of_a_dead_actor_delivers_noproc(runtime: Runtime) -> None:
    async with runtime.system() as system:
        watcher = system.spawn(Recorder)
        target = system.spawn(Counter)
        await target.stop()
        system.monitor(watcher, target)
        await settle()
        seen = await watcher.ask(Log())
        assert [s.reason for s in seen] == [NOPROC]  # type: ignore[attr-defined]


async def test_demonitor_removes_a_queued_down(runtime: Runtime) -> None:
    async with runtime.system() as system:
        watcher = system.spawn(Recorder)
        target = system.spawn(Counter)
        mon = system.monitor(watcher, target)
        target._cell.request_stop("normal")  # idle: exits now, queuing the Down
        assert not target.alive
        assert system.demonitor(watcher, mon)
        assert await watcher.ask(Log()) == []


async def test_link_to_a_dead_actor_sends_noproc(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Counter)
        await a.stop()
        b = system.spawn(Counter)
        system.link(b, a)
        assert await system.wait_exit(b) == NOPROC


async def test_actor_context_link_and_monitor(runtime: Runtime) -> None:
    from lightflow_actors import Actor, handler

    from ._actors import Inc

    class Parent(Actor[Inc | Get]):
        def __init__(self) -> None:
            self.downs = 0

        def on_start(self) -> None:
            self.child = self.spawn(Counter)
            self.monitor(self.child)

        @handler(Inc)
        def inc(self, msg: Inc) -> None:
            self.child.tell(Boom())

        @handler(Down)
        def down(self, msg: Down) -> None:
            self.downs += 1

        @handler(Get)
        def get(self, msg: Get) -> int:
            return self.downs

    async with runtime.system() as system:
        parent = await system.start_actor(Parent)
        assert len(system.info(parent).children) == 1
        parent.tell(Inc())
        for _ in range(20):
            if await parent.ask(Get()) == 1:
                break
            await quiesce()
        assert await parent.ask(Get()) == 1
        assert system.info(parent).children == []
