"""The slow-handler watchdog (Erlang's ``system_monitor`` ``long_schedule``).

A handler "holds the loop" with ``time.sleep``: on the real loop it holds it at least that
long (a lower bound that always holds, so no flaky wall-clock threshold), and on the
deterministic loop it holds no virtual time at all, so nothing is reported there.
"""

from __future__ import annotations

import logging
import math
import time

import msgspec
import pytest

from lightflow_actors import Actor, ActorSystem, Ask, handler

from ..conftest import Runtime, quiesce

HOLD_S = 0.03
THRESHOLD_S = 0.01


class Hold(msgspec.Struct, frozen=True):
    crash: bool = False


class Quick(Ask[int], frozen=True):
    pass


class Holder(Actor[Hold | Quick]):
    @handler
    def hold(self, msg: Hold) -> None:
        time.sleep(HOLD_S)  # blocks the loop: the bug the watchdog exists to show
        if msg.crash:
            raise RuntimeError("slow and broken")

    @handler
    def quick(self, msg: Quick) -> int:
        return 1


async def test_a_handler_holding_the_loop_is_reported(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime.system(root=False) as system:
        system.watch_long_handlers(THRESHOLD_S)
        ref = system.spawn(Holder, name="holder")
        with caplog.at_level(logging.WARNING, logger="lightflow_actors"):
            ref.tell(Hold())
            await quiesce()  # its own batch
            assert await ref.ask(Quick()) == 1  # a fast batch: not reported
            ref.tell(Hold())
            assert await ref.ask(Quick()) == 1  # one batch of two messages
        events = [e for e in system.events(limit=0) if e.kind == "long_handler"]
        if runtime.deterministic:
            # Virtual time: the handler took none, so the watchdog costs and reports nothing.
            assert events == []
            return
        alone, both = events
        assert (alone.actor, alone.name, alone.actor_kind) == (ref.id, "holder", "Holder")
        assert alone.message_type == "Hold"
        assert alone.duration_ms is not None and alone.duration_ms >= HOLD_S * 1000
        assert both.message_type == "Hold (+1 more in the same batch)"
        assert "held the event loop" in caplog.text and "Hold" in caplog.text


async def test_a_slow_handler_that_crashes_is_reported_and_still_crashes(runtime: Runtime) -> None:
    if runtime.deterministic:
        return  # no virtual time passes in a handler: covered by the test above
    async with runtime.system(root=False) as system:
        system.watch_long_handlers(THRESHOLD_S)
        ref = system.spawn(Holder)
        ref.tell(Hold(crash=True))
        reason = await system.wait_exit(ref)
        assert isinstance(reason, RuntimeError)
        kinds = [e.kind for e in system.events(actor=ref.id, limit=0)]
        # The batch is timed as a whole, so the report comes right after the exit it ended in.
        assert kinds == ["spawned", "exited", "long_handler"]


async def test_the_watchdog_is_off_by_default_and_can_be_turned_off(runtime: Runtime) -> None:
    async with runtime.system(root=False) as system:
        assert system.long_handler is None
        ref = system.spawn(Holder)
        ref.tell(Hold())
        await ref.ask(Quick())
        system.watch_long_handlers(THRESHOLD_S)
        assert system.long_handler == THRESHOLD_S
        system.watch_long_handlers(None)
        ref.tell(Hold())
        await ref.ask(Quick())
        await quiesce()
        assert [e for e in system.events(limit=0) if e.kind == "long_handler"] == []


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "0.1"])
def test_a_bad_threshold_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="long-handler threshold"):
        ActorSystem(long_handler=bad)  # type: ignore[arg-type]


def test_the_threshold_is_a_constructor_argument_too() -> None:
    assert ActorSystem(long_handler=0.05).long_handler == 0.05
    assert ActorSystem().long_handler is None
