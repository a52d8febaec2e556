"""Liveness monitors (hot/cold, Coyote's model) and hang detection."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import (
    Hang,
    LivenessViolation,
    Monitor,
    Scenario,
    explore,
    monitor,
    notify,
    replay,
    run_schedule,
)

from .conftest import Example


def test_a_planted_liveness_bug_is_found_with_its_seed_and_trace(example: Example) -> None:
    sc = example("liveness.py:jobs")
    assert explore(sc, seeds=1, strategy="fifo", out=None).ok, "plain order hides the bug"
    exploration = explore(sc, seeds=500, out=None)
    failure = exploration.failure
    assert failure is not None, "the stranded job must be found within 500 seeds"
    error = failure.error
    assert isinstance(error, LivenessViolation)
    assert error.monitor == "EveryJobIsDone" and error.state == "jobs [2] not done"
    assert "past its bound of 0.5s" in str(error) and "last trace events" in str(error)
    assert f"seed {failure.seed}" in exploration.report()
    assert "Dispatcher<" in str(error)  # the tail of the trace names the actors
    again = replay(sc, seed=failure.seed, strategy=failure.strategy, check=False, out=None)
    assert again.sha256() == failure.result.sha256()
    assert isinstance(again.error, LivenessViolation)


def test_the_fixed_dispatcher_keeps_every_monitor_cold(example: Example) -> None:
    explore(example("liveness.py:fixed_jobs"), seeds=300, out=None).raise_if_failed()


def test_an_ask_cycle_is_a_hang_naming_both_actors_and_asks(example: Example) -> None:
    sc = example("liveness.py:audit")
    assert explore(sc, seeds=1, strategy="fifo", out=None).ok
    failure = explore(sc, seeds=500, out=None).failure
    assert failure is not None
    error = failure.error
    assert isinstance(error, Hang)
    text = str(error)
    assert "in a cycle" in text
    assert "awaits its ask Balance() to Ledger<" in text
    assert "awaits its ask Approve(amount=30) to Auditor<" in text
    # Found at once, not after the asks' 5 s timeouts.
    assert failure.result.virtual_time == 0.0


def test_the_fixed_audit_never_hangs(example: Example) -> None:
    explore(example("liveness.py:fixed_audit"), seeds=300, out=None).raise_if_failed()


class Ping(msgspec.Struct, frozen=True):
    pass


class Echo(Actor[Ping]):
    def __init__(self) -> None:
        self.peer: ActorRef[Ping] | None = None

    @handler
    def ping(self, msg: Ping) -> None:
        if self.peer is not None:
            self.peer.tell(Ping())


class Busy(Monitor):
    """Hot from the first Ping on: a livelock keeps it hot forever."""

    def on_message(self, actor: str | None, message: object) -> None:
        if isinstance(message, Ping):
            self.go_hot("pinging")


async def _ping_pong(system: ActorSystem) -> None:
    a, b = Echo(), Echo()
    ra = system.spawn(lambda: a, name="a")
    rb = system.spawn(lambda: b, name="b")
    a.peer, b.peer = rb, ra
    ra.tell(Ping())
    await asyncio.sleep(10)


def test_a_monitor_hot_past_its_step_bound_fails_the_run() -> None:
    sc = Scenario(_ping_pong, monitors=(Busy,), liveness_steps=200)
    result = run_schedule(sc, seed=1, strategy="random")
    assert isinstance(result.error, LivenessViolation)
    assert "steps (bound 200)" in str(result.error)
    assert result.steps < 1_000


class Requested(msgspec.Struct, frozen=True):
    n: int


class Answered(msgspec.Struct, frozen=True):
    n: int


class Open(Monitor):
    """Fed by notify(): hot while a request has no answer."""

    def __init__(self) -> None:
        super().__init__()
        self.open: set[int] = set()

    def on_event(self, event: object) -> None:
        if isinstance(event, Requested):
            self.open.add(event.n)
        elif isinstance(event, Answered):
            self.open.discard(event.n)
        if self.open:
            self.go_hot("open")
        else:
            self.go_cold()


def test_notify_feeds_monitors_and_a_hot_end_is_a_violation() -> None:
    async def answered(system: ActorSystem) -> None:
        notify(system, Requested(1))
        assert monitor(system, Open).hot
        notify(system, Answered(1))
        assert not monitor(system, Open).hot

    async def unanswered(system: ActorSystem) -> None:
        notify(system, Requested(2))

    assert run_schedule(Scenario(answered, monitors=(Open,)), seed=0).ok
    result = run_schedule(Scenario(unanswered, monitors=(Open,)), seed=0)
    assert isinstance(result.error, LivenessViolation)
    assert "until the end of the run" in str(result.error)


def test_notify_is_a_no_op_on_a_plain_system() -> None:
    async def main() -> None:
        async with ActorSystem() as system:
            notify(system, Requested(1))  # nothing to notify: no error

    asyncio.run(main())


class Stuck(Ask[int], frozen=True):
    pass


class Silent(Actor[Stuck]):
    @handler
    def stuck(self, msg: Stuck) -> None:
        self.defer(msg)  # never answered: not provably a hang, the ask times out


def test_a_deferred_reply_is_not_reported_as_a_hang() -> None:
    async def main(system: ActorSystem) -> None:
        ref = system.spawn(Silent, name="silent")
        with pytest.raises(Exception, match=r"timed out|Timeout"):
            await ref.ask(Stuck(), timeout=1.0)

    result = run_schedule(Scenario(main), seed=0)
    assert result.ok, result.describe_error()
    assert result.virtual_time >= 1.0


@pytest.mark.parametrize(("name", "error"), [("jobs", LivenessViolation), ("audit", Hang)])
def test_a_failed_run_is_cleaned_up_without_pending_tasks(
    example: Example, name: str, error: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clean-up after a liveness or hang failure runs without those checks (they would
    fail again and leave the shutdown half done, its tasks pending)."""
    from lightflow_actors.testing import DeterministicLoop

    left: list[str] = []
    close = DeterministicLoop.close

    def recording_close(self: DeterministicLoop) -> None:
        left.extend(repr(t.get_coro()) for t in asyncio.all_tasks(self) if not t.done())
        close(self)

    sc = example(f"liveness.py:{name}")
    failure = explore(sc, seeds=500, out=None).failure
    assert failure is not None and isinstance(failure.error, error)
    monkeypatch.setattr(DeterministicLoop, "close", recording_close)
    result = run_schedule(sc, seed=failure.seed, strategy=failure.strategy, quiet=True)
    assert isinstance(result.error, error)
    assert left == []
