"""Fault plans: drop, delay, duplicate, crash, pause; each shows in the trace."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.testing import (
    Crash,
    Delay,
    Drop,
    Duplicate,
    FaultPlan,
    InjectedCrash,
    Pause,
    RunResult,
    Scenario,
    run_schedule,
)


class Note(msgspec.Struct, frozen=True):
    n: int


class Notes(Ask[list[tuple[float, int]]], frozen=True):
    pass


class Recorder(Actor[Note | Notes]):
    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []

    @handler
    def note(self, msg: Note) -> None:
        self.seen.append((self.system.clock.now(), msg.n))

    @handler
    def notes(self, msg: Notes) -> list[tuple[float, int]]:
        return self.seen


def _run(plan: FaultPlan, seed: int = 0, count: int = 5) -> tuple[RunResult, list]:
    box: list[list[tuple[float, int]]] = []

    async def body(system: ActorSystem) -> None:
        rec = system.spawn(Recorder, name="rec")
        for n in range(1, count + 1):
            rec.tell(Note(n))
        await asyncio.sleep(10)
        box.append(await rec.ask(Notes()))

    result = run_schedule(Scenario(body, faults=plan), seed=seed, quiet=True)
    return result, (box[0] if box else [])


def _faults(result: RunResult) -> list[str]:
    return [e.detail or "" for e in result.trace if e.kind == "fault"]


def test_drop_takes_the_nth_matching_message() -> None:
    result, seen = _run(FaultPlan((Drop(target="rec", message="Note", nth=2, count=2),)))
    assert result.ok, result.error
    assert [n for _, n in seen] == [1, 4, 5]
    assert _faults(result) == ["drop", "drop"]


def test_delay_queues_the_message_later_in_virtual_time() -> None:
    result, seen = _run(FaultPlan((Delay(target="rec", nth=3, by=2.5),)))
    assert result.ok, result.error
    assert seen[-1] == (2.5, 3)
    assert [n for _, n in seen[:-1]] == [1, 2, 4, 5]
    delivered = [e for e in result.trace if e.kind == "deliver"]
    assert len(delivered) == 1 and delivered[0].t == 2.5
    assert _faults(result) == ["delay 2.5s"]


def test_duplicate_queues_the_message_twice() -> None:
    result, seen = _run(FaultPlan((Duplicate(message="Note", nth=1),)))
    assert [n for _, n in seen] == [1, 1, 2, 3, 4, 5]
    assert _faults(result) == ["duplicate"]


def test_crash_raises_injected_crash_at_the_message_boundary() -> None:
    async def body(system: ActorSystem) -> None:
        rec = system.spawn(Recorder, name="rec")
        for n in range(1, 6):
            rec.tell(Note(n))
        reason = await system.wait_exit(rec)
        assert isinstance(reason, InjectedCrash)
        assert system.info(rec).processed == 4
        assert reason.nth == 4 and reason.message_type == "Note"

    result = run_schedule(Scenario(body, faults=FaultPlan((Crash(actor="rec", nth=4),))))
    assert result.ok, result.error
    assert _faults(result) == ["crash at message #4"]
    exits = [e for e in result.trace if e.kind == "exit"]
    assert exits and exits[0].detail is not None and "InjectedCrash" in exits[0].detail


def test_pause_holds_messages_and_releases_them_in_order() -> None:
    async def body(system: ActorSystem) -> None:
        rec = system.spawn(Recorder, name="rec")
        rec.tell(Note(1))
        await asyncio.sleep(1.0)
        for n in (2, 3, 4):
            rec.tell(Note(n))
            await asyncio.sleep(0.5)
        await asyncio.sleep(5.0)
        assert await rec.ask(Notes()) == [(0.0, 1), (3.0, 2), (3.0, 3), (3.0, 4)]

    plan = FaultPlan((Pause(actor="rec", at=0.5, duration=2.5),))
    result = run_schedule(Scenario(body, faults=plan))
    assert result.ok, result.error
    # The ask sent at 3.5 s is after the pause: only the three notes were held.
    assert _faults(result) == ["hold until 3s"] * 3
    assert [e.detail for e in result.trace if e.kind == "deliver"] == ["released after pause"] * 3


def test_probabilistic_faults_follow_the_seed() -> None:
    plan = FaultPlan((Drop(message="Note", count=100, probability=0.5),))
    outcomes = {}
    for seed in range(6):
        first, seen = _run(plan, seed=seed, count=20)
        again, seen_again = _run(plan, seed=seed, count=20)
        assert seen == seen_again and first.sha256() == again.sha256()
        outcomes[seed] = tuple(n for _, n in seen)
        assert 0 < len(seen) < 20
    assert len(set(outcomes.values())) > 1


def test_a_plan_round_trips_through_json() -> None:
    plan = FaultPlan(
        (
            Drop(sender="a", target="b", message="M", nth=2, count=3, probability=0.5),
            Delay(by=1.5),
            Duplicate(target="b"),
            Crash(actor="w", nth=3, times=2),
            Pause(actor="w", at=1.0, duration=2.0),
        )
    )
    assert FaultPlan.from_json(plan.to_json()) == plan
    assert b'{"kind":"crash","actor":"w","nth":3,"times":2}' in plan.to_json()


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"faults":[{"kind":"drop","nth":0}]}', "faults[0] (drop)"),
        (b'{"faults":[{"kind":"delay"}]}', "$.faults[0]"),
        (b'{"faults":[{"kind":"crash","actor":"w","nth":"x"}]}', "$.faults[0].nth"),
        (b'{"faults":[{"kind":"explode"}]}', "$.faults[0]"),
        (b'{"faults":[{"kind":"pause","actor":"w","at":1,"duration":0}]}', "faults[0]"),
        (b'{"faults":[{"kind":"drop","probability":2}]}', "probability"),
    ],
)
def test_bad_plans_name_the_field(data: bytes, where: str) -> None:
    with pytest.raises((msgspec.ValidationError, ValueError)) as info:
        FaultPlan.from_json(data)
    assert where in str(info.value)


@given(st.binary(max_size=512) | st.text(max_size=512).map(str.encode))
def test_hostile_plan_json_fails_only_with_typed_errors(data: bytes) -> None:
    with contextlib.suppress(msgspec.DecodeError, ValueError):
        FaultPlan.from_json(data)


@given(
    st.lists(
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["drop", "delay", "duplicate", "crash", "pause"])},
            optional={
                "nth": st.integers(-5, 10**12),
                "count": st.integers(-5, 10**12),
                "by": st.floats(allow_nan=True),
                "actor": st.text(max_size=300),
                "at": st.floats(),
                "duration": st.floats(),
                "probability": st.floats(),
            },
        ),
        max_size=20,
    )
)
def test_fuzzed_plans_decode_or_fail_cleanly(faults: list[dict[str, object]]) -> None:
    with contextlib.suppress(msgspec.ValidationError, ValueError):
        FaultPlan.from_json(msgspec.json.encode({"faults": faults}))
