"""Async handlers run eagerly on the cell's step and are parked only when they suspend."""

from __future__ import annotations

import asyncio
import contextvars

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorExited, Ask, Refused, handler

from ..conftest import Runtime


class Step(msgspec.Struct, frozen=True):
    seq: int
    mode: int  # 0/1 finish at once, 2 sleep(0), 3 await a future set soon


class Probe(Ask[str], frozen=True):
    mode: str


class Seen(Ask[list[int]], frozen=True):
    pass


class Hold(Ask[str], frozen=True):
    pass


REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="-")


class Model(Actor[Step | Seen]):
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
                ref.tell(Step(seq, mode))
                for _ in range(pause):
                    await asyncio.sleep(0)
            assert await ref.ask(Seen()) == list(range(len(plan)))

    runtime.run(main)


class Eager(Actor[Probe | Hold]):
    def __init__(self) -> None:
        self.gate: asyncio.Future[str] | None = None
        self.entered = asyncio.Event()
        self.cancelled = False
        self.stopped: list[str] = []

    @handler(Probe)
    async def probe(self, msg: Probe) -> str:
        if msg.mode == "refuse":
            raise Refused("no, not now", "conflict")
        if msg.mode == "crash":
            raise ValueError("bad probe")
        if msg.mode == "task":
            return "none" if asyncio.current_task() is None else "task"
        if msg.mode == "context":
            REQUEST.set("handler")
            await asyncio.sleep(0)
            return REQUEST.get()
        if msg.mode == "context-after":
            await asyncio.sleep(0)
            REQUEST.set("after-suspension")
            return REQUEST.get()
        if msg.mode == "read":
            return REQUEST.get()
        return msg.mode

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


async def test_an_async_handler_that_does_not_suspend_runs_without_a_task(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Probe("task")) == "none"
        assert await ref.ask(Probe("echo")) == "echo"


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


async def test_a_kill_before_the_parked_task_first_runs_still_reaches_the_handler(
    runtime: Runtime,
) -> None:
    """The kill is queued before the handler parks: its task is cancelled before its first
    step (on asyncio's FIFO loop), and the handler still sees the cancellation."""
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


async def test_a_parked_handler_resumes_in_its_own_context(runtime: Runtime) -> None:
    """What a handler sets survives its suspension; what it sets after suspending stays
    its own; the sender's context is visible to the handler."""
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Probe("context")) == "handler"
        assert await ref.ask(Probe("context-after")) == "after-suspension"
        token = REQUEST.set("sender")
        try:
            fresh = system.spawn(Eager)
            assert await fresh.ask(Probe("read")) == "sender"
        finally:
            REQUEST.reset(token)
