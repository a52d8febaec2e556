"""``@handler(eager_start=True)``: an async handler runs on the actor's step up to its
first suspension and gets a task only then (ADR 0094)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import warnings

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import (
    Actor,
    ActorExited,
    Ask,
    InvalidActorDefinition,
    Refused,
    handler,
)
from lightflow_actors.kernel._actor import ActorClassInfo

from ..conftest import Runtime

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="-")


class Step(msgspec.Struct, frozen=True):
    seq: int
    mode: int  # 0 returns at once, 1 sync handler, 2 sleep(0), 3 awaits a future set soon


class Quick(msgspec.Struct, frozen=True):
    seq: int


class Seen(Ask[list[int]], frozen=True):
    pass


class Model(Actor[Step | Quick | Seen]):
    """Records the order messages end in and whether two handlers ever overlapped."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.active = 0
        self.overlap = False

    def _enter(self) -> None:
        self.active += 1
        self.overlap = self.overlap or self.active > 1

    @handler(Step, eager_start=True)
    async def step(self, msg: Step) -> None:
        self._enter()
        if msg.mode == 2:
            await asyncio.sleep(0)
        elif msg.mode == 3:
            ready = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(ready.set_result, None)
            await ready
        self.order.append(msg.seq)
        self.active -= 1

    @handler(Quick)
    def quick(self, msg: Quick) -> None:
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
def test_eager_start_handlers_keep_order_and_one_at_a_time(
    runtime: Runtime, plan: list[tuple[int, int]]
) -> None:
    """Any mix of eager-start handlers that finish at once or suspend, and sync handlers:
    arrival order, never two at once."""

    async def main() -> None:
        async with runtime.system(throughput=3) as system:
            ref = system.spawn(Model)
            for seq, (mode, pause) in enumerate(plan):
                ref.tell(Quick(seq) if mode == 1 else Step(seq, mode))
                for _ in range(pause):
                    await asyncio.sleep(0)
            assert await ref.ask(Seen()) == list(range(len(plan)))

    runtime.run(main)


class Probe(Ask[str], frozen=True):
    mode: str


class Echo(Ask[str], frozen=True):
    text: str


class Eager(Actor[Probe | Echo]):
    def __init__(self) -> None:
        self.gate: asyncio.Future[str] | None = None
        self.entered = asyncio.Event()
        self.log: list[str] = []
        self.stopped: list[str] = []

    @handler(eager_start=True)
    async def probe(self, msg: Probe) -> str:
        mode = msg.mode
        self.log.append(f"start {mode}")
        task_at_start = "none" if asyncio.current_task() is None else "task"
        if mode == "tasks":  # where it runs: no task before the first await, one after
            await asyncio.sleep(0)
            return f"{task_at_start},{'none' if asyncio.current_task() is None else 'task'}"
        if mode == "refuse":
            raise Refused("no, not now", "conflict")
        if mode == "crash":
            raise ValueError("bad probe")
        if mode == "refuse-later":
            await asyncio.sleep(0)
            raise Refused("later, no", "conflict")
        if mode == "crash-later":
            await asyncio.sleep(0)
            raise ValueError("bad later")
        if mode == "timeout":  # after the first suspension asyncio.timeout() has its task
            await asyncio.sleep(0)
            async with asyncio.timeout(10):
                await asyncio.sleep(0)
            return "ok"
        if mode == "context":
            REQUEST.set("handler")
            await asyncio.sleep(0)
            return REQUEST.get()
        if mode == "read":
            return REQUEST.get()
        if mode == "hold":
            self.gate = asyncio.get_running_loop().create_future()
            self.entered.set()
            try:
                return await self.gate
            except asyncio.CancelledError:
                self.log.append("cancelled")
                raise
            finally:
                self.log.append("finally")
        return task_at_start

    @handler
    def echo(self, msg: Echo) -> str:
        self.log.append(f"echo {msg.text}")
        return msg.text

    def on_stop(self, reason: object) -> None:
        self.stopped.append(str(reason))


async def test_it_runs_without_a_task_until_it_suspends_then_in_one(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Probe("done")) == "none"
        assert ref._cell.task is None
        assert await ref.ask(Probe("tasks")) == "none,task"
        assert await ref.ask(Probe("timeout")) == "ok"


async def test_a_handler_that_does_not_suspend_lets_the_batch_go_on(runtime: Runtime) -> None:
    """No task, no loop turn: the next message is handled in the same step."""
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        first = ref.ask(Probe("done"))
        second = ref.ask(Echo("after"))
        await asyncio.sleep(0)  # one turn: the cell's single step handles both
        assert first.done() and second.done()
        assert actor.log == ["start done", "echo after"]


async def test_refusals_and_crashes_before_and_after_the_first_suspension(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        for mode, text in (("refuse", "not now"), ("refuse-later", "later, no")):
            with pytest.raises(Refused, match=text) as info:
                await ref.ask(Probe(mode))
            assert info.value.reason == "conflict"
        assert await ref.ask(Echo("alive")) == "alive"
        for mode, text in (("crash", "bad probe"), ("crash-later", "bad later")):
            actor_ref = system.spawn(Eager)
            actor: Eager = actor_ref._cell.actor  # type: ignore[assignment]
            crash = actor_ref.ask(Probe(mode))
            queued = actor_ref.ask(Echo("never"))
            with pytest.raises(ActorExited) as exited:
                await crash
            assert isinstance(exited.value.reason, ValueError)
            with pytest.raises(ActorExited):
                await queued
            await actor_ref._cell.wait_exit()
            assert len(actor.stopped) == 1 and text in actor.stopped[0]


async def test_a_suspended_handler_blocks_the_mailbox_and_stop_waits_for_it(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Probe("hold"))
        queued = ref.ask(Echo("next"))
        await actor.entered.wait()
        assert actor.gate is not None
        ref._cell.request_stop("normal")
        for _ in range(5):
            await asyncio.sleep(0)
        assert not queued.done() and actor.stopped == []
        actor.gate.set_result("released")
        assert await held == "released"
        await ref._cell.wait_exit()
        assert actor.stopped == ["normal"]
        with pytest.raises(ActorExited):
            await queued  # stop after the current message: the queued ones are dropped


async def test_killing_a_suspended_handler_cancels_it_at_its_await(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        held = ref.ask(Probe("hold"))
        await actor.entered.wait()
        assert actor.gate is not None
        system.kill(ref)
        with pytest.raises(ActorExited):
            await held
        await ref._cell.wait_exit()
        assert actor.log[-2:] == ["cancelled", "finally"]
        assert actor.gate.cancelled()
        assert actor.stopped == []  # kill: no on_stop


async def test_a_kill_before_its_task_first_runs_closes_the_started_handler(
    runtime: Runtime,
) -> None:
    """The kill is queued right after the message: on the asyncio loop (FIFO) the handler's
    first step runs (and parks) in the cell's turn and the kill cancels its task before
    the task ever ran; the started coroutine is closed at its await at once (its
    ``finally`` runs), not left to the GC. The deterministic loop may run the kill first:
    then the handler never starts."""
    # what earlier tests on this worker left to the GC (a subprocess, its socket) is
    # collected here, under the suite's filters, not in the strict block below
    gc.collect()
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        actor: Eager = ref._cell.actor  # type: ignore[assignment]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine was never awaited" would fail here
            ref.tell(Echo("first"))  # schedules the cell: its turn comes before the kill
            held = ref.ask(Probe("hold"))
            system.kill(ref)
            with pytest.raises(ActorExited):
                await held
            await ref._cell.wait_exit()
            gc.collect()
        assert actor.stopped == []
        if "start hold" in actor.log or not runtime.deterministic:
            assert actor.log == ["echo first", "start hold", "finally"]


async def test_contexts_match_a_task_per_message(runtime: Runtime) -> None:
    """What a handler sets survives its suspension; a sender's context is visible before it."""
    async with runtime.system() as system:
        ref = system.spawn(Eager)
        assert await ref.ask(Probe("context")) == "handler"
        token = REQUEST.set("sender")
        try:
            fresh = system.spawn(Eager)
            assert await fresh.ask(Probe("read")) == "sender"
        finally:
            REQUEST.reset(token)


def test_eager_start_is_for_async_handlers_only() -> None:
    with pytest.raises(InvalidActorDefinition, match="eager_start=True"):

        class Wrong(Actor[Echo]):
            @handler(eager_start=True)
            def echo(self, msg: Echo) -> str:
                return msg.text


def test_the_dispatch_table_says_which_handlers_start_eagerly() -> None:
    class Mixed(Actor[Probe | Echo | Step]):
        @handler(eager_start=True)
        async def probe(self, msg: Probe) -> str:
            await asyncio.sleep(0)
            return ""

        @handler(eager_start=True)
        async def step(self, msg: Step) -> None:  # no await: ADR 0076's eager path
            return None

        @handler
        def echo(self, msg: Echo) -> str:
            return msg.text

    table = ActorClassInfo.of(Mixed).handlers
    assert table[Probe].eager_start and not table[Probe].eager
    assert table[Step].eager and not table[Step].eager_start
    assert not table[Echo].eager_start and not table[Echo].is_async
