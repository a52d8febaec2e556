"""Strategies, restart types and ordering: one row each in specs/supervision.md."""

from __future__ import annotations

from typing import cast

import pytest

from lightflow_actors import ActorRef, ActorSystem, StartFailed
from lightflow_actors.supervision import (
    ChildSpec,
    ChildStartFailed,
    DuplicateChildId,
    InvalidSupervisorFlags,
    Supervisor,
    which_children,
)

from ..conftest import Runtime
from ._actors import Event, Plain, Quit, child_ref, crash_and_settle, exited, settle, spec


async def _three(system: ActorSystem, log: list[Event], strategy: str) -> object:
    return await system.start_actor(
        lambda: Supervisor(
            [spec(log, "a"), spec(log, "b"), spec(log, "c")],
            strategy=strategy,  # type: ignore[arg-type]
            intensity=10,
        )
    )


async def test_children_start_in_order_and_stop_in_reverse_order(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _three(system, log, "one_for_one")
        assert log == [("start", "a"), ("start", "b"), ("start", "c")]
        log.clear()
        await system.terminate(sup, "shutdown", None)
        assert log == [("stop", "c"), ("stop", "b"), ("stop", "a")]
        assert system.actor_count() == 0


async def test_one_for_one_restarts_only_the_failed_child(runtime: Runtime) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _three(system, log, "one_for_one")
        a, b, c = [await child_ref(sup, x) for x in "abc"]
        log.clear()
        await crash_and_settle(system, sup, b)
        # The crash runs b's on_stop; then only b starts again.
        assert log == [("stop", "b"), ("start", "b")]
        rows = await which_children(sup)
        assert [r.ref for r in rows] == [a, rows[1].ref, c] and rows[1].ref != b
        assert [r.restarts for r in rows] == [0, 1, 0]
        assert system.info(rows[1].ref).restarts == 1  # type: ignore[arg-type]
        await system.terminate(sup, "shutdown", None)


async def test_one_for_all_stops_the_others_in_reverse_then_restarts_all_in_order(
    runtime: Runtime,
) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _three(system, log, "one_for_all")
        a = await child_ref(sup, "a")
        log.clear()
        await crash_and_settle(system, sup, a)
        assert log == [
            ("stop", "a"),  # the crash itself
            ("stop", "c"),
            ("stop", "b"),
            ("start", "a"),
            ("start", "b"),
            ("start", "c"),
        ]
        assert all(r.status == "running" for r in await which_children(sup))
        await system.terminate(sup, "shutdown", None)


async def test_rest_for_one_restarts_the_failed_child_and_those_started_after_it(
    runtime: Runtime,
) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _three(system, log, "rest_for_one")
        a = await child_ref(sup, "a")
        b = await child_ref(sup, "b")
        log.clear()
        await crash_and_settle(system, sup, b)
        assert log == [("stop", "b"), ("stop", "c"), ("start", "b"), ("start", "c")]
        assert await child_ref(sup, "a") == a
        await system.terminate(sup, "shutdown", None)


@pytest.mark.parametrize(
    ("restart", "how", "restarted", "kept"),
    [
        ("permanent", "crash", True, True),
        ("permanent", "normal", True, True),
        ("transient", "crash", True, True),
        ("transient", "normal", False, True),
        ("transient", "shutdown", False, True),
        ("temporary", "crash", False, False),
        ("temporary", "normal", False, False),
    ],
)
async def test_restart_types(
    runtime: Runtime, restart: str, how: str, restarted: bool, kept: bool
) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor([spec(log, "w", restart=restart)], intensity=5)  # type: ignore[arg-type]
        )
        ref = await child_ref(sup, "w")
        if how == "crash":
            await crash_and_settle(system, sup, ref)
        else:
            ref.tell(Quit(how))  # type: ignore[arg-type]
            await system.wait_exit(ref)
            await settle(system, sup)
        rows = await which_children(sup)
        assert (len(rows) == 1) is kept
        if kept:
            assert (rows[0].status == "running") is restarted
            assert rows[0].status in ("running", "stopped")
        await system.terminate(sup, "shutdown", None)


async def test_a_failing_start_unwinds_the_started_children_and_fails_the_supervisor(
    runtime: Runtime,
) -> None:
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        with pytest.raises(StartFailed) as info:
            await system.start_actor(
                lambda: Supervisor(
                    [spec(log, "a"), spec(log, "b", fail_start=True), spec(log, "c")]
                )
            )
        cause = info.value.reason
        assert isinstance(cause, ChildStartFailed) and cause.child_id == "b"
        assert "could not start child 'b'" in str(cause)
        assert log == [("start", "a"), ("stop", "a")]
        assert system.actor_count() == 0


async def test_a_factory_that_raises_is_a_start_failure(runtime: Runtime) -> None:
    def broken() -> Plain:
        raise ValueError("no config")

    async with runtime.system(root=False) as system:
        with pytest.raises(StartFailed) as info:
            await system.start_actor(lambda: Supervisor([ChildSpec(id="x", start=broken)]))
        assert isinstance(info.value.reason, ChildStartFailed)
        assert system.actor_count() == 0


def test_supervisor_flags_are_validated() -> None:
    with pytest.raises(InvalidSupervisorFlags, match="strategy must be one_for_one"):
        Supervisor([], strategy="all_for_one")  # type: ignore[arg-type]
    with pytest.raises(InvalidSupervisorFlags, match="intensity must be an int >= 0"):
        Supervisor([], intensity=-1)
    with pytest.raises(InvalidSupervisorFlags, match="period must be a finite number"):
        Supervisor([], period=0)
    with pytest.raises(DuplicateChildId, match="'a'"):
        Supervisor([ChildSpec(id="a", start=Plain), ChildSpec(id="a", start=Plain)])


async def test_a_child_exiting_itself_with_kill_is_restarted_and_its_siblings_live(
    runtime: Runtime,
) -> None:
    # OTP: exit(kill) from inside the child is an ordinary exit signal for the trapping
    # supervisor (only exit(Pid, kill) from outside is untrappable).
    log: list[Event] = []
    async with runtime.system(root=False) as system:
        sup = await _three(system, log, "one_for_one")
        a, b, c = [await child_ref(sup, x) for x in "abc"]
        log.clear()
        cast(ActorRef[Quit], b).tell(Quit("kill"))
        await exited(system, b)
        await settle(system, sup)
        assert sup.alive and a.alive and c.alive
        assert b.exit_reason == "kill"
        assert log == [("stop", "b"), ("start", "b")], "b's on_stop ran, then b restarted"
        rows = await which_children(sup)
        assert [r.restarts for r in rows] == [0, 1, 0]
        await system.terminate(sup, "shutdown", None)
