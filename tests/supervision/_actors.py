"""Actors shared by the supervision tests: workers that log their lifecycle to a list."""

from __future__ import annotations

import asyncio
from typing import cast

import msgspec

from lightflow_actors import Actor, ActorRef, ActorSystem, AnyRef, Ask, ExitReason, handler
from lightflow_actors.supervision import ChildSpec, Restart, Shutdown, SupervisorRef, which_children

from ..conftest import quiesce


class Crash(msgspec.Struct, frozen=True):
    text: str = "boom"


class Quit(msgspec.Struct, frozen=True):
    """Exit with ``reason`` (``normal``, ``shutdown``...) as if the work were done."""

    reason: str = "normal"


class Ping(Ask[int], frozen=True):
    """Replies with the actor's id."""


Event = tuple[str, str]  # ("start" | "stop", child id)


class ManualClock:
    """A system clock that moves only when a test moves it (``clock.t += seconds``).

    Restart intensity and backoff read ``system.clock.now()``; loop timers still run on
    the loop's own clock (real, or virtual on the deterministic loop), so short delays
    still fire.
    """

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> int:
        return int(self.t * 1000)


class Worker(Actor[Crash | Quit | Ping]):
    """Logs ``("start", id)`` in on_start and ``("stop", id)`` in on_stop."""

    def __init__(
        self,
        log: list[Event],
        cid: str,
        *,
        fail_start: bool = False,
        stop_delay: float = 0.0,
    ) -> None:
        self.log = log
        self.cid = cid
        self.fail_start = fail_start
        self.stop_delay = stop_delay

    def on_start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.cid} refuses to start")
        self.log.append(("start", self.cid))

    async def on_stop(self, reason: ExitReason) -> None:
        self.log.append(("stop", self.cid))
        if self.stop_delay:
            await asyncio.sleep(self.stop_delay)

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop(msg.reason if msg.reason in ("shutdown", "kill") else "normal")  # type: ignore[arg-type]

    @handler
    def ping(self, msg: Ping) -> int:
        return self.ref.id


class Plain(Actor[Crash | Ping]):
    """A worker with no hooks: it starts synchronously (no on_start)."""

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(msg.text)

    @handler
    def ping(self, msg: Ping) -> int:
        return self.ref.id


def spec(
    log: list[Event],
    cid: str,
    *,
    restart: Restart = "permanent",
    shutdown: Shutdown | None = None,
    fail_start: bool = False,
    stop_delay: float = 0.0,
) -> ChildSpec[Crash | Quit | Ping]:
    def start() -> Worker:
        return Worker(log, cid, fail_start=fail_start, stop_delay=stop_delay)

    return ChildSpec(id=cid, start=start, restart=restart, shutdown=shutdown)


async def child_ref(sup: SupervisorRef, cid: str) -> AnyRef:
    for row in await which_children(sup):
        if row.id == cid and row.ref is not None:
            return row.ref
    raise AssertionError(f"child {cid!r} is not running")


async def exited(system: ActorSystem, ref: AnyRef) -> None:
    """Wait until ``ref`` has exited *and* its exit signals have reached linked actors.

    The kernel queues the signals to linked actors (``call_soon``) in the same step that
    marks the actor dead; ``quiesce`` lets them be delivered (one loop turn on the real
    loop; on the deterministic loop, until nothing else is ready), also when the actor was
    already dead (or an ask failing with ``ActorExited`` woke us first).
    """
    await system.wait_exit(ref)
    await quiesce()


async def settle(system: ActorSystem, sup: SupervisorRef) -> None:
    """Wait until ``sup`` has handled every signal already queued to it (or has exited)."""
    if sup.alive:
        try:
            await which_children(sup)
            return
        except Exception:  # it exited while we asked
            pass
    await exited(system, sup)


async def crash_and_settle(system: ActorSystem, sup: SupervisorRef, ref: AnyRef) -> None:
    """Crash ``ref`` and wait until its supervisor has handled the exit.

    The child's exit signal is queued on the supervisor before ``exited`` returns, so an
    ask sent afterwards is answered only once the supervisor has reacted to it.
    """
    cast(ActorRef[Crash], ref).tell(Crash())
    await exited(system, ref)
    await settle(system, sup)
