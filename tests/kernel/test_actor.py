"""Actor definition, dispatch, lifecycle hooks and crash isolation."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from lightflow_actors import (
    Actor,
    ActorExited,
    ActorSystem,
    InvalidActorDefinition,
    StartFailed,
    SystemNotRunning,
    UnhandledMessage,
    handler,
)

from ..conftest import Runtime
from ._actors import Boom, Counter, Get, Inc, Lifecycle


async def test_tell_and_ask_through_typed_handlers(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter)
        for _ in range(10):
            ref.tell(Inc(by=2))
        assert await ref.ask(Get()) == 20


async def test_async_handler_handles_one_message_at_a_time(runtime: Runtime) -> None:
    class Slow(Actor[Inc | Get]):
        def __init__(self) -> None:
            self.active = 0
            self.max_active = 0
            self.order: list[int] = []

        @handler(Inc)
        async def inc(self, msg: Inc) -> None:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            await asyncio.sleep(0)
            self.order.append(msg.by)
            self.active -= 1

        @handler(Get)
        def get(self, msg: Get) -> int:
            return self.max_active

    async with runtime.system() as system:
        ref = system.spawn(Slow)
        for i in range(20):
            ref.tell(Inc(by=i))
        assert await ref.ask(Get()) == 1


async def test_wrong_message_type_fails_at_the_call(runtime: Runtime) -> None:
    async with runtime.system() as system:
        ref = system.spawn(Counter)
        with pytest.raises(UnhandledMessage, match=rf"Counter<{ref.id}> has no handler for str"):
            ref.tell("hello")  # type: ignore[arg-type]
        with pytest.raises(UnhandledMessage):
            await ref.ask("hello")  # type: ignore[arg-type]
        assert await ref.ask(Get()) == 0


async def test_subclass_of_a_message_type_is_dispatched_to_its_base_handler(
    runtime: Runtime,
) -> None:
    class BigInc(Inc, frozen=True):
        pass

    async with runtime.system() as system:
        ref = system.spawn(Counter)
        ref.tell(BigInc(by=5))
        assert await ref.ask(Get()) == 5


def test_declared_message_without_handler_is_rejected() -> None:
    class Missing(Actor[Inc | Get]):
        @handler
        def inc(self, msg: Inc) -> None:
            pass

    async def main() -> None:
        async with ActorSystem() as system:
            system.spawn(Missing)

    with pytest.raises(InvalidActorDefinition, match="without a @handler: Get"):
        asyncio.run(main())


def test_handler_without_annotation_is_rejected() -> None:
    class NoType(Actor[Inc]):
        @handler
        def inc(self, msg) -> None:  # type: ignore[no-untyped-def]
            pass

    async def main() -> None:
        async with ActorSystem() as system:
            system.spawn(NoType)

    with pytest.raises(InvalidActorDefinition, match="needs a message class annotation"):
        asyncio.run(main())


def test_spawn_before_start_says_how_to_start() -> None:
    with pytest.raises(SystemNotRunning, match="async with ActorSystem"):
        ActorSystem().spawn(Counter)


async def test_crash_in_a_handler_never_touches_siblings_or_the_loop(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Counter)
        b = system.spawn(Counter)
        b.tell(Inc())
        a.tell(Boom())
        reason = await system.wait_exit(a)
        assert isinstance(reason, RuntimeError)
        assert reason.__traceback__ is not None
        assert await b.ask(Get()) == 1
        info = system.info(a)
        assert info.status == "exited"
        assert info.last_crash == "RuntimeError: boom"


async def test_ask_to_a_crashing_actor_raises_actor_exited_with_the_cause(runtime: Runtime) -> None:
    async with runtime.system() as system:
        a = system.spawn(Counter)
        a.tell(Boom(text="kaput"))
        with pytest.raises(ActorExited) as caught:
            await a.ask(Get())
        assert isinstance(caught.value.reason, RuntimeError)


async def test_on_start_runs_before_first_message_and_on_stop_runs_last(runtime: Runtime) -> None:
    journal: list[str] = []
    async with runtime.system() as system:
        ref = system.spawn(lambda: Lifecycle(journal))
        ref.tell(Inc())
        await ref.stop()
    assert journal == ["a:start", "a:inc", "a:stop:normal"]


async def test_async_hooks(runtime: Runtime) -> None:
    journal: list[str] = []

    class AsyncHooks(Actor[Inc]):
        async def on_start(self) -> None:
            await asyncio.sleep(0)
            journal.append("start")

        async def on_stop(self, reason: object) -> None:
            await asyncio.sleep(0)
            journal.append(f"stop:{reason}")

        @handler(Inc)
        def inc(self, msg: Inc) -> None:
            journal.append("inc")

    async with runtime.system() as system:
        ref = await system.start_actor(AsyncHooks)
        ref.tell(Inc())
        await ref.stop("shutdown")
    assert journal == ["start", "inc", "stop:shutdown"]


async def test_failing_on_start_fails_start_actor_and_skips_on_stop(runtime: Runtime) -> None:
    journal: list[str] = []

    class BadStart(Lifecycle):
        def on_start(self) -> None:
            raise ValueError("no config")

    async with runtime.system() as system:
        with pytest.raises(StartFailed, match="no config"):
            await system.start_actor(lambda: BadStart(journal))
        kinds = [e.kind for e in system.events()]
        assert "start_failed" in kinds
    assert journal == []


async def test_an_actor_that_exits_right_after_starting_was_started(runtime: Runtime) -> None:
    # OTP's start_link returns once init returned: an actor whose on_start finished, and
    # that then stopped before the caller resumed, is a started actor, not a StartFailed.
    class Brief(Actor[Inc]):
        async def on_start(self) -> None:
            await asyncio.sleep(0)
            self.ref.tell(Inc())

        @handler(Inc)
        def inc(self, msg: Inc) -> None:
            self.stop()

    async with runtime.system() as system:
        for _ in range(20):
            ref = await system.start_actor(Brief)
            await system.wait_exit(ref)
            assert system.info(ref).status == "exited"


async def test_self_stop_ends_after_the_current_message(runtime: Runtime) -> None:
    class Once(Actor[Inc]):
        def __init__(self) -> None:
            self.count = 0

        @handler(Inc)
        def inc(self, msg: Inc) -> None:
            self.count += 1
            self.stop()

    async with runtime.system() as system:
        ref = system.spawn(Once)
        ref.tell(Inc())
        ref.tell(Inc())
        assert await system.wait_exit(ref) == "normal"
        assert system.info(ref).processed == 1


async def test_messages_are_passed_by_reference(runtime: Runtime) -> None:
    class Holder(msgspec.Struct):
        items: list[int]

    class Keep(Actor[Holder]):
        def __init__(self) -> None:
            self.kept: Holder | None = None

        @handler(Holder)
        def keep(self, msg: Holder) -> None:
            self.kept = msg

    async with runtime.system() as system:
        payload = Holder(items=[1])
        ref = system.spawn(Keep)
        ref.tell(payload)
        await asyncio.sleep(0)
        await ref.stop()
        assert ref._cell.actor.kept is payload  # type: ignore[attr-defined]
