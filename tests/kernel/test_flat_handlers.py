"""ADR 0106: an async handler that never suspends runs as a flat function (its own code,
without the coroutine), and behaves exactly as when the cell's driver steps its coroutine."""

from __future__ import annotations

import asyncio
import sys
import traceback

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import KILLED, Actor, ActorExited, Ask, Refused, handler
from lightflow_actors.kernel import _actor
from lightflow_actors.kernel._actor import HandlerEntry, flat_function

from ..conftest import Runtime

FLATTENS = sys.version_info[:2] == (3, 11)


class Do(Ask[object], frozen=True):
    what: str


class Add(msgspec.Struct, frozen=True):
    n: int


class Total(Ask[list[int]], frozen=True):
    pass


class Base(Actor[Do]):
    def tag(self) -> str:
        return "base"


class Flat(Base, Actor[Do | Add | Total]):
    """Every handler but ``total`` is async without an await."""

    scale = 10

    def __init__(self) -> None:
        self.seen: list[int] = []
        self.stopped: list[object] = []

    async def on_stop(self, reason: object) -> None:
        self.stopped.append(reason)

    @handler
    async def add(self, msg: Add) -> None:
        self.seen.append(msg.n)

    @handler
    def total(self, msg: Total) -> list[int]:
        return self.seen

    @handler
    async def do(self, msg: Do) -> object:
        what = msg.what
        if what == "closure":
            offset = 5

            def shifted(x: int) -> int:  # a cell variable and a free one
                return x + offset + self.scale

            return shifted(1)
        if what == "super":
            return super().tag()  # the __class__ cell
        if what == "refuse":
            raise Refused("not now", "conflict")
        if what == "crash":
            raise ValueError("bad")
        if what == "stop_iteration":
            raise StopIteration(7)
        if what == "cancelled":
            raise asyncio.CancelledError
        if what == "caught":
            try:
                raise KeyError("inner")
            except KeyError as exc:
                return f"caught {exc}"
        return what


def test_flat_function_runs_the_same_code_without_a_coroutine() -> None:
    entry = HandlerEntry(Flat.do, True, "do")
    assert entry.eager
    if not FLATTENS:
        assert entry.call is None and flat_function(Flat.do) is None
        return
    flat = entry.call
    assert flat is not None and flat is not Flat.do
    assert flat.__qualname__ == Flat.do.__qualname__ and flat.__name__ == "do"
    assert flat.__code__.co_firstlineno == Flat.do.__code__.co_firstlineno
    actor = Flat()
    assert flat(actor, Do("closure")) == 16
    assert flat(actor, Do("super")) == "base"
    assert flat(actor, Do("caught")) == "caught 'inner'"
    assert flat(actor, Do("echo")) == "echo"

    async def scaled(actor: Flat, msg: Add, times: int = 2, *, plus: int = 1) -> None:
        actor.seen.append(msg.n * times + plus)

    add = flat_function(scaled)
    assert add is not None
    add(actor, Add(2))
    add(actor, Add(3), 3, plus=0)  # defaults and keyword-only defaults kept
    assert actor.seen == [5, 9]
    with pytest.raises(ValueError, match="bad") as info:
        flat(actor, Do("crash"))
    frames = traceback.extract_tb(info.value.__traceback__)
    assert frames[-1].name == "do" and frames[-1].line == 'raise ValueError("bad")'


def test_only_handlers_that_never_suspend_get_a_flat_function() -> None:
    async def awaits(actor: object, msg: object) -> None:
        await asyncio.sleep(0)

    def sync(actor: object, msg: object) -> None:
        pass

    assert flat_function(awaits) is None
    assert flat_function(sync) is None
    assert HandlerEntry(sync, False, "sync").call is sync
    assert HandlerEntry(awaits, True, "awaits").call is None
    assert HandlerEntry(awaits, True, "awaits", eager_start=True).call is None


def _fresh_flat(flattens: bool, monkeypatch: pytest.MonkeyPatch) -> type[Flat]:
    """A subclass of ``Flat`` whose dispatch table is built now, with or without flat
    functions (tables are built once per class, on first spawn)."""
    monkeypatch.setattr(_actor, "_FLATTENS", flattens and FLATTENS)
    return type("FlatCopy", (Flat,), {})


@pytest.mark.parametrize("flattens", [True, False], ids=["flat", "driver"])
async def test_flat_and_driven_handlers_answer_refuse_and_crash_alike(
    runtime: Runtime, flattens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = _fresh_flat(flattens, monkeypatch)
    async with runtime.system() as system:
        ref = system.spawn(kind)
        assert await ref.ask(Do("closure")) == 16
        assert await ref.ask(Do("super")) == "base"
        with pytest.raises(Refused, match="not now"):
            await ref.ask(Do("refuse"))
        ref.tell(Add(4))
        assert await ref.ask(Total()) == [4]
        if flattens and FLATTENS:
            assert ref._cell.eager is None  # no coroutine was ever stepped
        else:
            assert ref._cell.eager is not None  # the cell's driver stepped them
        for what, reason_type in (
            ("crash", ValueError),
            ("stop_iteration", RuntimeError),  # PEP 479, as its coroutine raises it
        ):
            victim = system.spawn(kind)
            with pytest.raises(ActorExited) as info:
                await victim.ask(Do(what))
            assert isinstance(info.value.reason, reason_type)
            if what == "stop_iteration":
                assert str(info.value.reason) == "coroutine raised StopIteration"
                assert isinstance(info.value.reason.__cause__, StopIteration)
            await victim._cell.wait_exit()
            assert victim._cell.actor.stopped == [info.value.reason]  # type: ignore[attr-defined]


@pytest.mark.parametrize("flattens", [True, False], ids=["flat", "driver"])
async def test_a_cancelled_error_from_a_flat_handler_ends_the_actor_as_killed(
    runtime: Runtime, flattens: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = _fresh_flat(flattens, monkeypatch)
    async with runtime.system() as system:
        ref = system.spawn(kind)
        asked = ref.ask(Do("cancelled"))
        with pytest.raises(ActorExited) as info:
            await asked
        assert info.value.reason == KILLED
        assert await system.wait_exit(ref) == KILLED


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(-5, 5), max_size=30), st.booleans())
def test_flat_handlers_keep_the_mailbox_order(
    runtime: Runtime, numbers: list[int], flattens: bool
) -> None:
    """Tells to a flat handler are handled once each, in order, between sync asks."""
    with pytest.MonkeyPatch.context() as patch:
        kind = _fresh_flat(flattens, patch)

        async def main() -> list[int]:
            async with runtime.system() as system:
                ref = system.spawn(kind)
                totals = []
                for n in numbers:
                    ref.tell(Add(n))
                    if n % 3 == 0:
                        totals.append(len(await ref.ask(Total())))
                assert totals == sorted(totals)
                return list(await ref.ask(Total()))

        assert runtime.run(main) == numbers
