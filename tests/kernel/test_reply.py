"""Replies: return a value, defer the reply (``self.defer``), or refuse (``raise Refused``).

Each behaviour runs twice, through the shared ``runtime`` fixture (``on_each_loop``): on the
real asyncio loop and on the deterministic loop, its seed in the test id. The property runs
on both loops too (``LOOPS``), the deterministic one with seed ``SEED``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors import (
    KILLED,
    NORMAL,
    SHUTDOWN,
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorSystem,
    Ask,
    AskTimeout,
    ChildSpec,
    Refused,
    Reply,
    Supervisor,
    handler,
    kernel,
    which_children,
)
from lightflow_actors.testing import run_schedule

from ..conftest import Runtime

SEED = 20261207
Body = Callable[[kernel.ActorSystem], Awaitable[None]]


def run(loop: str, body: Body) -> None:
    """Run ``body(system)`` on the real loop, or once on the deterministic loop."""
    if loop == "asyncio":

        async def main() -> None:
            async with ActorSystem() as system:
                await body(system)

        asyncio.run(main())
        return
    result = run_schedule(body, seed=SEED, quiet=True)
    if result.error is not None:
        raise result.error


LOOPS = ["asyncio", f"deterministic-seed-{SEED}"]


@pytest.fixture
def on_each_loop(runtime: Runtime) -> Callable[[Body], None]:
    """``on_each_loop(body)`` runs ``body(system)`` on the loop of the shared ``runtime``
    fixture (the real asyncio loop, then the deterministic one, its seed in the test id)."""

    def go(body: Body) -> None:
        async def main() -> None:
            async with runtime.system() as system:
                await body(system)

        runtime.run(main)

    return go


# -- the actor under test ----------------------------------------------------------------------


class Now(Ask[int], frozen=True):
    """Answered by the handler's return value."""

    value: int


class Later(Ask[int], frozen=True):
    """Deferred; answered by the next ``Flush``."""

    value: int


class ALater(Ask[int], frozen=True):
    """Deferred by an async handler (after an await); answered by the next ``Flush``."""

    value: int


class ByTimer(Ask[int], frozen=True):
    """Deferred; answered when the actor's own ``send_after`` timer delivers ``Answer``."""

    value: int
    delay: float


class ByCallback(Ask[int], frozen=True):
    """Deferred; answered by a plain ``loop.call_later`` callback."""

    value: int
    delay: float


class Answer(msgspec.Struct, frozen=True):
    token: int


class Flush(Ask[list[bool]], frozen=True):
    """Answer every held reply with its value; reply with what each ``send`` returned."""


class Refuse(Ask[int], frozen=True):
    key: int


class ARefuse(Ask[int], frozen=True):
    key: int


class Crash(Ask[int], frozen=True):
    text: str = "boom"


class Twice(Ask[int], frozen=True):
    """Defer, then answer 1 and try to answer again in every way."""


class Hold(Ask[int], frozen=True):
    """An async handler defers, then stays suspended (until the actor is killed)."""


class Quit(msgspec.Struct, frozen=True):
    pass


class RunNotFound(Refused):
    reason = "not_found"


Messages = (
    Now
    | Later
    | ALater
    | ByTimer
    | ByCallback
    | Answer
    | Flush
    | Refuse
    | ARefuse
    | Crash
    | Twice
    | Hold
)


class Desk(Actor[Messages | Quit]):
    def __init__(self, refusals: dict[int, Refused] | None = None) -> None:
        self.refusals = refusals or {}
        self.held: list[tuple[Reply[int], int]] = []
        self.by_token: dict[int, tuple[Reply[int], int]] = {}
        self.again: list[bool] = []
        self.holding = asyncio.Event()

    @handler
    def now(self, msg: Now) -> int:
        return msg.value

    @handler
    def later(self, msg: Later) -> int:
        self.held.append((self.defer(msg), msg.value))
        return -1  # ignored: the reply was deferred

    @handler
    async def alater(self, msg: ALater) -> None:
        await asyncio.sleep(0)
        self.held.append((self.defer(msg), msg.value))

    @handler
    def by_timer(self, msg: ByTimer) -> None:
        token = len(self.by_token)
        self.by_token[token] = (self.defer(msg), msg.value)
        self.send_after(msg.delay, self.ref, Answer(token))

    @handler
    def answer(self, msg: Answer) -> None:
        reply, value = self.by_token.pop(msg.token)
        reply.send(value)

    @handler
    def by_callback(self, msg: ByCallback) -> None:
        reply = self.defer(msg)
        self.system.loop.call_later(msg.delay, reply.send, msg.value)

    @handler
    def flush(self, msg: Flush) -> list[bool]:
        sent = [reply.send(value) for reply, value in self.held]
        self.held.clear()
        return sent

    @handler
    def refuse(self, msg: Refuse) -> int:
        raise self.refusals[msg.key]

    @handler
    async def arefuse(self, msg: ARefuse) -> int:
        await asyncio.sleep(0)
        raise self.refusals[msg.key]

    @handler
    def crash(self, msg: Crash) -> int:
        raise RuntimeError(msg.text)

    @handler
    def twice(self, msg: Twice) -> None:
        reply = self.defer(msg)
        self.again = [
            self.defer(msg).send(9),  # the reply was already taken: an inert handle
            reply.send(1),
            reply.send(2),
            reply.refuse(Refused("too late", "conflict")),
            reply.fail(RuntimeError("too late")),
            reply.pending,
        ]

    @handler
    async def hold(self, msg: Hold) -> None:
        self.held.append((self.defer(msg), 0))
        self.holding.set()
        await asyncio.sleep(3600)

    @handler
    def quit(self, msg: Quit) -> None:
        self.stop()


def desk_of(ref: object) -> Desk:
    """The actor object behind ``ref`` (white box: to read what its handles returned)."""
    found = ref._cell.actor  # type: ignore[attr-defined]
    assert isinstance(found, Desk)
    return found


# -- deferred replies --------------------------------------------------------------------------


def test_a_deferred_reply_is_answered_by_a_later_message(
    on_each_loop: Callable[[Body], None],
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        first, second = ref.ask(Later(1)), ref.ask(ALater(2))
        assert await ref.ask(Now(3)) == 3  # the actor went on while both asks wait
        assert not first.done() and not second.done()
        assert await ref.ask(Flush()) == [True, True]
        assert (await first, await second) == (1, 2)  # not the handler's return value (-1)

    on_each_loop(body)


def test_a_deferred_reply_is_answered_from_a_timer_and_from_a_loop_callback(
    on_each_loop: Callable[[Body], None],
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        by_timer = ref.ask(ByTimer(value=4, delay=0.02))
        by_callback = ref.ask(ByCallback(value=5, delay=0.01))
        assert list(await asyncio.wait_for(asyncio.gather(by_timer, by_callback), 1.0)) == [4, 5]
        assert ref.alive

    on_each_loop(body)


def test_a_reply_answers_once_and_later_calls_return_false(
    on_each_loop: Callable[[Body], None],
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        assert await ref.ask(Twice()) == 1
        # inert second defer, first send, then send/refuse/fail after it, then pending
        assert desk_of(ref).again == [False, True, False, False, False, False]
        assert ref.alive and await ref.ask(Now(7)) == 7

    on_each_loop(body)


def test_defer_on_a_told_ask_gives_an_inert_handle(on_each_loop: Callable[[Body], None]) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        ref.tell(Later(1))  # an Ask message sent by tell: nobody waits for its reply
        assert await ref.ask(Flush()) == [False]
        assert system.info(ref).processed == 2

    on_each_loop(body)


def test_an_ask_whose_deferred_reply_never_comes_times_out(
    on_each_loop: Callable[[Body], None],
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        with pytest.raises(AskTimeout, match=r"ask Later to Desk<\d+> timed out after 0.05s"):
            await ref.ask(Later(1), timeout=0.05)
        assert await ref.ask(Flush()) == [False]  # the asker gave up: nothing to answer
        assert ref.alive

    on_each_loop(body)


@pytest.mark.parametrize("how", ["crash", "stop", "kill", "terminate", "kill-held", "exit-held"])
def test_an_actor_that_exits_holding_deferred_replies_fails_every_asker(
    on_each_loop: Callable[[Body], None], how: str
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Desk)
        held = [ref.ask(Later(1), timeout=None), ref.ask(ALater(2), timeout=None)]
        assert await ref.ask(Now(0)) == 0  # both replies are deferred by now
        if how == "crash":
            with pytest.raises(ActorExited):
                await ref.ask(Crash("boom"))
        elif how == "stop":
            ref.tell(Quit())
        elif how == "kill":
            system.kill(ref)
        elif how == "terminate":
            await system.terminate(ref)
        else:  # an exit signal while an async handler that deferred is still suspended
            held.append(ref.ask(Hold(), timeout=None))
            await desk_of(ref).holding.wait()
            if how == "kill-held":
                system.kill(ref)
            else:
                system.exit(ref, RuntimeError("linked crash"))
        # Promptly: long before any ask timeout (there is none here) or this bound.
        outcomes = await asyncio.wait_for(asyncio.gather(*held, return_exceptions=True), 1.0)
        assert all(isinstance(o, ActorExited) for o in outcomes), outcomes
        reasons = {str(o.reason) for o in outcomes if isinstance(o, ActorExited)}
        expected = {
            "crash": "boom",
            "stop": NORMAL,
            "kill": KILLED,
            "terminate": SHUTDOWN,
            "kill-held": KILLED,
            "exit-held": "linked crash",
        }[how]
        assert reasons == {expected}
        assert [o.message_type for o in outcomes if isinstance(o, ActorExited)][:2] == [
            "Later",
            "ALater",
        ]
        with pytest.raises(ActorNotAlive):
            await ref.ask(Now(1))

    on_each_loop(body)


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("message", [Refuse, ARefuse], ids=["sync", "async"])
def test_a_refusal_reaches_the_asker_and_the_actor_goes_on(
    on_each_loop: Callable[[Body], None], message: type[Refuse] | type[ARefuse]
) -> None:
    refusal = Refused("amount must be positive", "invalid")

    async def body(system: kernel.ActorSystem) -> None:
        sup = await system.start_actor(
            lambda: Supervisor([ChildSpec(id="desk", start=lambda: Desk({0: refusal}))])
        )
        (row,) = await which_children(sup)
        ref = row.ref
        assert ref is not None
        with pytest.raises(Refused) as caught:
            await ref.ask(message(key=0))
        assert caught.value is refusal
        assert (caught.value.reason, str(caught.value)) == ("invalid", "amount must be positive")
        assert await ref.ask(Now(5)) == 5
        info = system.info(ref)
        assert (info.processed, info.status, info.last_crash) == (2, "idle", None)
        (after,) = await which_children(sup)
        assert (after.ref, after.restarts, after.status) == (ref, 0, "running")
        assert not [e for e in system.events() if e.kind == "exited"]

    on_each_loop(body)


def test_a_refusal_subclass_keeps_its_reason(on_each_loop: Callable[[Body], None]) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(lambda: Desk({0: RunNotFound("run 'x' not found")}))
        try:
            await ref.ask(Refuse(0))
        except Refused as refused:
            assert isinstance(refused, RunNotFound)
            assert (refused.reason, str(refused)) == ("not_found", "run 'x' not found")
        else:
            raise AssertionError("the ask should have been refused")

    on_each_loop(body)


def test_a_refusal_to_a_tell_is_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(lambda: Desk({0: Refused("no such account", "not_found")}))
        ref.tell(Refuse(0))
        ref.tell(ARefuse(0))
        assert await ref.ask(Now(1)) == 1
        info = system.info(ref)
        assert (info.processed, info.last_crash, ref.alive) == (3, None, True)

    with caplog.at_level(logging.DEBUG, logger="lightflow_actors"):
        run("asyncio", body)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2, refused
    assert "with no asker waiting (not_found): no such account" in refused[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_refused_carries_a_reason_from_the_closed_set() -> None:
    assert Refused("x").reason == "invalid"  # the base default
    assert Refused("x", "conflict").reason == "conflict"
    assert RunNotFound("gone").reason == "not_found"
    overridden: Refused = RunNotFound("gone", "forbidden")
    assert overridden.reason == "forbidden"  # the argument wins over the class's
    assert repr(RunNotFound("gone")) == "RunNotFound('gone', reason='not_found')"
    with pytest.raises(ValueError, match="'missing' is not a RefusalReason; use one of"):
        Refused("x", "missing")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Typo\.reason: 'notfound' is not a RefusalReason"):

        class Typo(Refused):
            reason = "notfound"  # type: ignore[assignment]


# -- the example of specs/kernel.md ----------------------------------------------------------


class Acquire(Ask[bool], frozen=True):
    owner: str


class Release(msgspec.Struct, frozen=True):
    pass


class Lock(Actor[Acquire | Release]):
    def __init__(self) -> None:
        self.holder: str | None = None
        self.waiting: deque[tuple[Reply[bool], str]] = deque()

    @handler
    def acquire(self, msg: Acquire) -> bool:
        if msg.owner == self.holder:
            raise Refused(f"{msg.owner} already holds the lock", "conflict")
        if self.holder is None:
            self.holder = msg.owner
            return True  # answered now
        self.waiting.append((self.defer(msg), msg.owner))  # answered by a later Release
        return False  # ignored: the reply was deferred

    @handler
    def release(self, msg: Release) -> None:
        self.holder = None
        while self.waiting:
            reply, owner = self.waiting.popleft()
            if reply.send(True):  # False: that asker gave up (timeout) or is gone
                self.holder = owner
                return


def test_the_lock_of_the_spec(on_each_loop: Callable[[Body], None]) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        lock = system.spawn(Lock)
        assert await lock.ask(Acquire("a")) is True
        with pytest.raises(Refused, match="a already holds the lock") as caught:
            await lock.ask(Acquire("a"))
        assert caught.value.reason == "conflict"
        with pytest.raises(AskTimeout):
            await lock.ask(Acquire("b"), timeout=0.01)  # b gives up
        c = lock.ask(Acquire("c"))
        lock.tell(Release())  # skips b's stale reply, hands the lock to c
        assert await c is True
        lock.tell(Release())
        assert await lock.ask(Acquire("d")) is True

    on_each_loop(body)


# -- property: every ask ends with exactly its expected outcome ---------------------------------

Op = Literal["now", "later", "alater", "flush", "refuse", "arefuse", "crash"]
OPS: list[Op] = ["now", "later", "alater", "flush", "refuse", "arefuse", "crash"]


def expected_outcomes(ops: list[Op]) -> list[tuple[str, object]]:
    """The model: asks are handled in order; a crash fails every held and queued ask."""
    out: list[tuple[str, object]] = []
    held: list[int] = []  # indexes of deferred asks not yet flushed
    dead = False
    for i, op in enumerate(ops):
        if dead:
            out.append(("exited", None))
        elif op == "now":
            out.append(("value", i))
        elif op in ("later", "alater"):
            out.append(("pending", None))
            held.append(i)
        elif op == "flush":
            for j in held:
                out[j] = ("value", j)
            out.append(("value", [True] * len(held)))
            held = []
        elif op in ("refuse", "arefuse"):
            out.append(("refused", i))
        else:
            out.append(("exited", "crash"))
            dead = True
    for j in held:
        out[j] = ("exited", None)  # failed when the actor crashed or was stopped at the end
    return out


def message_for(op: Op, i: int) -> Ask[object]:
    made: dict[Op, Ask[object]] = {
        "now": Now(i),  # type: ignore[dict-item]
        "later": Later(i),  # type: ignore[dict-item]
        "alater": ALater(i),  # type: ignore[dict-item]
        "flush": Flush(),  # type: ignore[dict-item]
        "refuse": Refuse(i),  # type: ignore[dict-item]
        "arefuse": ARefuse(i),  # type: ignore[dict-item]
        "crash": Crash(f"crash {i}"),  # type: ignore[dict-item]
    }
    return made[op]


@pytest.mark.parametrize("loop", LOOPS)
@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=12))
def test_every_ask_ends_with_exactly_its_expected_outcome(loop: str, ops: list[Op]) -> None:
    refusals = {i: Refused(f"refusal {i}", "conflict") for i in range(len(ops))}

    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(lambda: Desk(refusals))
        futures = [ref.ask(message_for(op, i), timeout=None) for i, op in enumerate(ops)]
        ref.tell(Quit())  # stops after every ask: fails whatever is still held
        outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 5.0)
        got: list[tuple[str, object]] = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, Refused):
                assert outcome is refusals[i]
                got.append(("refused", i))
            elif isinstance(outcome, ActorExited):
                crashed = isinstance(outcome.reason, RuntimeError) and str(outcome.reason) == (
                    f"crash {i}"
                )
                got.append(("exited", "crash" if crashed else None))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                got.append(("value", outcome))
        assert got == expected_outcomes(ops)

    run(loop, body)


class HowLong(Ask["float | None"], frozen=True):
    pass


class Clocked(Actor[HowLong]):
    """Answers how long its asker still waits (``Reply.time_left``)."""

    @handler
    def how_long(self, msg: HowLong) -> None:
        reply = self.defer(msg)
        reply.send(reply.time_left())


def test_a_reply_tells_how_long_its_asker_still_waits(
    on_each_loop: Callable[[Body], None],
) -> None:
    async def body(system: kernel.ActorSystem) -> None:
        ref = system.spawn(Clocked)
        left = await ref.ask(HowLong(), timeout=30.0)
        assert left is not None and 0 < left <= 30.0  # system time, not a fixed default
        assert await ref.ask(HowLong(), timeout=None) is None  # no deadline: None
        short = await ref.ask(HowLong(), timeout=0.5)
        assert short is not None and 0 < short <= 0.5

    on_each_loop(body)
