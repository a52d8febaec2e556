"""``ask_now``: an idle actor handles an ``eager_start`` ask on the caller's step (ADR 0106);
anything else is an ordinary ask, with the same answers in the same order."""

from __future__ import annotations

import asyncio
import contextvars

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import (
    Actor,
    ActorExited,
    Ask,
    AskTimeout,
    Exit,
    Refused,
    handler,
)
from lightflow_actors.kernel import ask_now

from ..conftest import Runtime

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="-")


class Do(Ask[str], frozen=True):
    mode: str


class Note(msgspec.Struct, frozen=True):
    seq: int


class Plain(Ask[str], frozen=True):
    pass


class Log(Ask[list[str]], frozen=True):
    pass


class Target(Actor[Do | Note | Plain | Log | Exit]):
    trap_exit = True

    def __init__(self) -> None:
        self.log: list[str] = []
        self.active = 0
        self.overlap = False
        self.gate: asyncio.Future[str] | None = None

    @handler(eager_start=True)
    async def do(self, msg: Do) -> str:
        self.active += 1
        self.overlap = self.overlap or self.active > 1
        try:
            self.log.append(f"do {msg.mode}")
            mode = msg.mode
            if mode == "refuse":
                raise Refused("not now", "conflict")
            if mode == "crash":
                raise ValueError("bad do")
            if mode == "set-context":
                TAG.set("handler")
                return TAG.get()
            if mode == "read-context":
                return TAG.get()
            if mode == "self-tell":
                self.ref.tell(Note(99))
            if mode == "stop":
                self.stop()
            if mode == "hold":
                self.gate = asyncio.get_running_loop().create_future()
                return await self.gate
            if mode == "sleep":
                await asyncio.sleep(0)
            return mode
        finally:
            self.active -= 1

    @handler
    def note(self, msg: Note) -> None:
        self.active += 1
        self.overlap = self.overlap or self.active > 1
        self.log.append(f"note {msg.seq}")
        self.active -= 1

    @handler
    async def plain(self, msg: Plain) -> str:
        return "plain"

    @handler
    def get_log(self, msg: Log) -> list[str]:
        return [*self.log, "OVERLAP"] if self.overlap else self.log

    @handler
    def exit_signal(self, msg: Exit) -> None:
        self.log.append("exit")


async def test_an_idle_actor_answers_on_the_callers_step(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        actor: Target = ref._cell.actor  # type: ignore[assignment]
        before = ref._cell.processed
        answer = ask_now(ref, Do("quick"))
        # Under the deterministic scheduler (a tap) it is an ordinary ask: the scheduler
        # must see the send and choose when it is handled.
        assert answer.done() is (not runtime.deterministic)
        assert await answer == "quick"
        assert actor.log == ["do quick"]
        assert ref._cell.processed == before + 1
        assert not ref._cell.scheduled and ref._cell.task is None


async def test_a_busy_actor_gets_an_ordinary_ask_in_arrival_order(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        actor: Target = ref._cell.actor  # type: ignore[assignment]
        ref.tell(Note(1))  # queued: the actor is no longer idle
        answer = ask_now(ref, Do("after"))
        assert not answer.done()
        assert await answer == "after"
        assert actor.log == ["note 1", "do after"]


async def test_handlers_without_eager_start_are_asked(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        answer = ask_now(ref, Plain())
        assert not answer.done()
        assert await answer == "plain"


async def test_a_handler_that_suspends_keeps_the_actor_busy_until_it_ends(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        actor: Target = ref._cell.actor  # type: ignore[assignment]
        held = ask_now(ref, Do("hold"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert actor.gate is not None and not held.done()
        ref.tell(Note(2))
        second = ask_now(ref, Do("next"))  # busy: queued behind the held one
        for _ in range(3):
            await asyncio.sleep(0)
        assert actor.log == ["do hold"] and not second.done()
        actor.gate.set_result("released")
        assert await held == "released"
        assert await second == "next"
        assert await ref.ask(Log()) == ["do hold", "note 2", "do next"]


async def test_refusal_crash_and_stop_are_handled_as_by_the_mailbox(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        with pytest.raises(Refused, match="not now"):
            await ask_now(ref, Do("refuse"))
        assert await ask_now(ref, Do("alive")) == "alive"
        watcher = system.spawn(Target)
        crashing = system.spawn(Target, parent=watcher, link=True)
        with pytest.raises(ActorExited) as exited:
            await ask_now(crashing, Do("crash"))
        assert isinstance(exited.value.reason, ValueError)
        await system.wait_exit(crashing)
        assert not crashing.alive
        assert await watcher.ask(Log()) == ["exit"]  # the link's exit signal arrived
        stopping = system.spawn(Target)
        assert await ask_now(stopping, Do("stop")) == "stop"
        await system.wait_exit(stopping)
        assert stopping.exit_reason == "normal"


async def test_what_the_handler_sends_itself_runs_after_it(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        assert await ask_now(ref, Do("self-tell")) == "self-tell"
        assert await ref.ask(Log()) == ["do self-tell", "note 99"]


async def test_the_handler_sees_the_callers_context_and_cannot_change_it(
    runtime: Runtime,
) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        token = TAG.set("caller")
        try:
            assert await ask_now(ref, Do("read-context")) == "caller"
            assert await ask_now(ref, Do("set-context")) == "handler"
            assert TAG.get() == "caller"
        finally:
            TAG.reset(token)


async def test_a_timeout_still_applies_once_the_handler_suspends(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        with pytest.raises(AskTimeout):
            await ask_now(ref, Do("hold"), timeout=0.05)


async def test_the_watchdog_keeps_the_ordinary_path(runtime: Runtime) -> None:
    async with runtime.system() as system:
        system.watch_long_handlers(10.0)
        ref = system.spawn(Target)
        answer = ask_now(ref, Do("watched"))
        assert not answer.done()
        assert await answer == "watched"


async def test_an_exited_actor_raises_as_ask_does(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Target)
        await ref.stop()
        with pytest.raises(Exception, match=r"exited|not alive"):
            await ask_now(ref, Do("late"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.sampled_from(["note", "quick", "sleep"]), st.integers(0, 2))))
def test_ask_now_and_tells_from_one_sender_keep_order_and_one_at_a_time(
    runtime: Runtime, plan: list[tuple[str, int]]
) -> None:
    """Any mix of tells and ``ask_now`` calls (answered at once, or suspending), with loop
    turns between some: handled in send order, never two at once."""

    async def main() -> None:
        async with runtime.system(throughput=3) as system:
            ref = system.spawn(Target)
            expected, answers = [], []
            for seq, (kind, pause) in enumerate(plan):
                if kind == "note":
                    ref.tell(Note(seq))
                    expected.append(f"note {seq}")
                else:
                    answers.append(ask_now(ref, Do(kind)))
                    expected.append(f"do {kind}")
                for _ in range(pause):
                    await asyncio.sleep(0)
            await asyncio.gather(*answers)
            assert await ref.ask(Log()) == expected

    runtime.run(main)
