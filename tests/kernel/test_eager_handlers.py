"""Async handlers without an await run eagerly on the cell's step; the others keep a task."""

from __future__ import annotations

import asyncio
import contextvars
import functools

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorExited, Ask, Refused, handler
from lightflow_actors.kernel._actor import HandlerEntry, never_suspends

from ..conftest import Runtime


class Step(msgspec.Struct, frozen=True):
    seq: int
    mode: int  # 0 returns at once, 2 sleep(0), 3 await a future set soon (1: Quick)


class Quick(msgspec.Struct, frozen=True):
    seq: int


class Probe(Ask[str], frozen=True):
    mode: str


class Wait(Ask[str], frozen=True):
    mode: str


class Seen(Ask[list[int]], frozen=True):
    pass


class Hold(Ask[str], frozen=True):
    pass


REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="-")


class Model(Actor[Step | Quick | Seen]):
    def __init__(self) -> None:
        self.order: list[int] = []
        self.active = 0
        self.overlap = False

    def _enter(self) -> None:
        self.active += 1
        self.overlap = self.overlap or self.active > 1

    @handler(Step)
    async def step(self, msg: Step) -> None:
        self._enter()
        if msg.mode == 0:
            self.order.append(msg.seq)  # finishes in its first step
            self.active -= 1
            return
        if msg.mode == 2:
            await asyncio.sleep(0)
        elif msg.mode == 3:
            ready = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(ready.set_result, None)
            await ready
        self.order.append(msg.seq)
        self.active -= 1

    @handler(Quick)
    async def quick(self, msg: Quick) -> None:  # no await: runs eagerly
        self._enter()
        self.order.append(msg.seq)
        self.active -= 1

    @handler(Seen)
    def seen(self, msg: Seen) -> list[int]:
        return [*self.order, -1] if self.overlap else self.order


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_eager_and_parked_handlers_keep_order_and_one_at_a_time(
    runtime: Runtime, plan: list[tuple[int, int]]
) -> None:
    """Any mix of handlers that finish at once or suspend: arrival order, never two at once."""

    async def main() -> None:
        async with runtime.system(throughput=3) as system:
            ref = system.spawn(Model)
            for seq, (mode, pause) in enumerate(plan):
                ref.tell(Quick(seq) if mode == 1 else Step(seq, mode))
                for _ in range(pause):
                    await asyncio.sleep(0)
            assert await ref.ask(Seen()) == list(range(len(plan)))

    runtime.run(main)


class Eager(Actor[Probe | Wait | Hold]):
    def __init__(self) -> None:
        self.gate: asyncio.Future[str] | None = None
        self.entered = asyncio.Event()
        self.cancelled = False
        self.stopped: list[str] = []

    @handler(Probe)
    async def probe(self, msg: Probe) -> str:  # no await: runs eagerly
        if msg.mode == "refuse":
            raise Refused("no, not now", "conflict")
        if msg.mode == "crash":
            raise ValueError("bad probe")
        if msg.mode == "task":
            return "none" if asyncio.current_task() is None else "task"
        if msg.mode == "read":
            return REQUEST.get()
        return msg.mode

    @handler(Wait)
    async def wait(self, msg: Wait) -> str:  # awaits: a task of its own
        if msg.mode == "timeout":
            async with asyncio.timeout(10):  # needs a current task from the start
                await asyncio.sleep(0)
            return "task" if asyncio.current_task() is not None else "none"
        if msg.mode == "context":
            REQUEST.set("handler")
            await asyncio.sleep(0)
            return REQUEST.get()
        return "?"

    @handler(Hold)
    async def hold(self, msg: Hold) -> str:
        self.gate = asyncio.get_running_loop().create_future()
        self.entered.set()
        try:
            return await self.gate
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def on_stop(self, reason: object) -> None:
        self.stopped.append(str(reason))


async def test_an_async_handler_without_await_runs_without_a_task(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Probe("task")) == "none"
        assert await ref.ask(Probe("echo")) == "echo"


async def test_an_async_handler_with_await_keeps_its_task_for_timeout_and_taskgroup(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Wait("timeout")) == "task"


def test_only_async_handlers_without_a_suspension_point_are_eager() -> None:
    async def plain(msg: object) -> int:
        return sum(x for x in range(3))

    async def awaits(msg: object) -> None:
        await asyncio.sleep(0)

    async def with_block(msg: object) -> None:
        async with asyncio.Lock():
            pass

    async def loops(msg: object) -> None:
        async for _ in msg:  # type: ignore[attr-defined]
            pass

    def sync(msg: object) -> None:
        pass

    assert never_suspends(plain)
    assert not never_suspends(awaits)
    assert not never_suspends(with_block)
    assert not never_suspends(loops)
    assert not never_suspends(sync)
    assert not never_suspends(functools.partial(plain))
    assert HandlerEntry(plain, True, "plain").eager
    assert not HandlerEntry(awaits, True, "awaits").eager


async def test_refusal_from_an_eager_handler_answers_and_the_actor_goes_on(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        with pytest.raises(Refused, match="not now") as info:
            await ref.ask(Probe("refuse"))
        assert info.value.reason == "conflict"
        assert await ref.ask(Probe("still")) == "still"


async def test_crash_in_an_eager_handler_fails_the_ask_and_runs_on_stop(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor = ref._cell.actor
        crash = ref.ask(Probe("crash"))
        later = ref.ask(Probe("never"))  # queued behind the crash: fails too
        with pytest.raises(ActorExited) as info:
            await crash
        assert isinstance(info.value.reason, ValueError)
        with pytest.raises(ActorExited):
            await later
        await ref._cell.wait_exit()
        assert len(actor.stopped) == 1  # type: ignore[attr-defined]
        assert "bad probe" in actor.stopped[0]  # type: ignore[attr-defined]


async def test_a_suspended_handler_blocks_the_mailbox_until_it_ends(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Hold())
        queued = ref.ask(Probe("next"))
        await actor.entered.wait()
        assert actor.gate is not None
        for _ in range(5):
            await asyncio.sleep(0)
        assert not queued.done()
        actor.gate.set_result("released")
        assert await held == "released"
        assert await queued == "next"


async def test_killing_a_suspended_handler_cancels_it_and_fails_its_ask(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Hold())
        await actor.entered.wait()
        assert actor.gate is not None
        system.kill(ref)
        with pytest.raises(ActorExited):
            await held
        await ref._cell.wait_exit()
        assert actor.cancelled
        assert actor.gate.cancelled()
        assert actor.stopped == []  # kill: no on_stop


async def test_a_kill_queued_before_an_awaiting_handler_runs_fails_its_ask(
    runtime: Runtime,
) -> None:
    """The kill is queued with the message: the handler's task may be cancelled before its
    first step; if the handler ran, it saw the cancellation."""
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Hold())
        system.kill(ref)  # queued now; the handler runs (and parks) in the same turn
        with pytest.raises(ActorExited):
            await held
        await ref._cell.wait_exit()
        if actor.gate is not None:  # a random order may kill it before it ever ran
            assert actor.cancelled
            assert actor.gate.cancelled()


async def test_stop_waits_for_a_suspended_handler_then_runs_on_stop(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Hold())
        await actor.entered.wait()
        assert actor.gate is not None
        ref._cell.request_stop("normal")
        for _ in range(5):
            await asyncio.sleep(0)
        assert actor.stopped == []
        actor.gate.set_result("done")
        assert await held == "done"
        await ref._cell.wait_exit()
        assert actor.stopped == ["normal"]


async def test_handler_contexts_are_as_before(runtime: Runtime) -> None:
    """What an awaiting handler sets survives its suspension and stays its own; the
    sender's context is visible to an eager handler."""
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Wait("context")) == "handler"
        assert await ref.ask(Probe("read")) == "-"  # its own task's context, not the next's
        token = REQUEST.set("sender")
        try:
            fresh = system.spawn(Eager)
            assert await fresh.ask(Probe("read")) == "sender"
        finally:
            REQUEST.reset(token)
