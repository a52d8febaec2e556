"""Stateful property: a DynamicSupervisor against a model of simple_one_for_one / Elixir's
DynamicSupervisor: restart types, restart intensity with retried failing starts,
``max_children``, ``terminate_child`` by ref, and giving up (all children stopped)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from itertools import count
from typing import TypeVar, cast

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lightflow_actors import SHUTDOWN, ActorRef, AnyRef, StartFailed
from lightflow_actors.supervision import (
    GAVE_UP,
    ChildNotFound,
    ChildSpec,
    DynamicSupervisor,
    MaxChildrenReached,
    Restart,
    SupervisorRef,
    start_child,
    terminate_child,
    which_children,
)

from ..conftest import Runtime
from ._actors import Crash, Event, ManualClock, Quit, Worker, exited

T = TypeVar("T")
PERIOD = 10.0


@dataclass
class MChild:
    id: str
    restart: Restart


class DynamicModel:
    def __init__(self, intensity: int, max_children: int | None) -> None:
        self.intensity = intensity
        self.max_children = max_children
        self.fail: dict[str, int] = {}
        self.children: list[MChild] = []
        self.restarts: list[float] = []
        self.alive = True
        self.now = 0.0
        self.log: list[Event] = []

    def try_start(self, cid: str) -> bool:
        if self.fail.get(cid, 0) > 0:
            self.fail[cid] -= 1
            return False
        self.log.append(("start", cid))
        return True

    def start_child(self, cid: str, restart: Restart) -> type[Exception] | None:
        if self.max_children is not None and len(self.children) >= self.max_children:
            return MaxChildrenReached
        if not self.try_start(cid):
            return StartFailed
        self.children.append(MChild(cid, restart))
        return None

    def child_exit(self, child: MChild, how: str) -> None:
        self.log.append(("stop", child.id))
        if child.restart == "permanent" or (child.restart == "transient" and how == "crash"):
            while True:  # restart/2 then try_again_restart until it starts or gives up
                self.restarts = [t for t in self.restarts if t >= self.now - PERIOD]
                self.restarts.append(self.now)
                if len(self.restarts) > self.intensity:
                    self.children.remove(child)
                    self.alive = False
                    self.log.extend(("stop", c.id) for c in self.children)
                    return
                if self.try_start(child.id):
                    return
        else:
            self.children.remove(child)

    def terminate(self, child: MChild) -> None:
        self.log.append(("stop", child.id))
        self.children.remove(child)


class DynamicMachine(RuleBasedStateMachine):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.loop = runtime.open()  # one loop for the whole example, driven step by step
        self.clock = ManualClock()
        self.system = runtime.system(root=False, clock=self.clock)
        self.run(self.system.start())
        self.log: list[Event] = []
        self.fail: dict[str, int] = {}
        self.names = count()
        self.refs: dict[str, AnyRef] = {}  # child id -> current ref
        self.dead_refs: list[AnyRef] = []
        self.sup: SupervisorRef
        self.model: DynamicModel

    def run(self, coro: Coroutine[object, object, T]) -> T:
        return self.loop.run(coro)

    def spec(self, cid: str, restart: Restart) -> ChildSpec[Crash | Quit]:
        log, fail = self.log, self.fail

        def start() -> Worker:
            failing = fail.get(cid, 0) > 0
            if failing:
                fail[cid] -= 1
            return Worker(log, cid, fail_start=failing)

        return ChildSpec(id=cid, start=start, restart=restart, shutdown=5.0)

    @initialize(
        intensity=st.integers(min_value=0, max_value=4),
        max_children=st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
    )
    def start(self, intensity: int, max_children: int | None) -> None:
        logging.getLogger("lightflow_actors").setLevel(logging.CRITICAL)
        self.model = DynamicModel(intensity, max_children)
        self.model.now = self.clock.t
        self.sup = self.run(
            self.system.start_actor(
                lambda: DynamicSupervisor(
                    max_children=max_children, intensity=intensity, period=PERIOD
                )
            )
        )

    async def settle(self) -> None:
        for _ in range(10_000):
            if not self.sup.alive:
                await exited(self.system, self.sup)
                return
            try:
                rows = await which_children(self.sup)
            except Exception:
                continue
            if all(r.status != "restarting" for r in rows):
                return
            await asyncio.sleep(0)
        raise AssertionError("the supervisor never settled")

    def expect(
        self, call: Coroutine[object, object, object], error: type[Exception] | None
    ) -> None:
        async def act() -> Exception | None:
            try:
                await call
            except Exception as exc:
                return exc
            finally:
                await self.settle()
            return None

        got = self.run(act())
        if error is None:
            assert got is None, f"unexpected {got!r}"
        else:
            assert isinstance(got, error), f"expected {error.__name__}, got {got!r}"

    # -- rules --------------------------------------------------------------------------

    @precondition(lambda self: self.model.alive)
    @rule(
        restart=st.sampled_from(["permanent", "transient", "temporary"]),
        failing_starts=st.integers(min_value=0, max_value=2),
    )
    def add_child(self, restart: Restart, failing_starts: int) -> None:
        cid = f"d{next(self.names)}"
        self.fail[cid] = self.model.fail[cid] = failing_starts
        expected = self.model.start_child(cid, restart)
        self.expect(start_child(self.sup, self.spec(cid, restart)), expected)

    @precondition(lambda self: self.model.alive and bool(self.model.children))
    @rule(data=st.data(), how=st.sampled_from(["crash", "normal", "shutdown"]))
    def child_exits(self, data: st.DataObject, how: str) -> None:
        child = data.draw(st.sampled_from(self.model.children))
        ref = self.refs[child.id]

        async def act() -> None:
            message = Crash() if how == "crash" else Quit(how)
            cast(ActorRef[Crash | Quit], ref).tell(message)
            await exited(self.system, ref)
            await self.settle()

        self.run(act())
        self.dead_refs.append(ref)
        self.model.child_exit(child, how)

    @precondition(lambda self: self.model.alive and bool(self.model.children))
    @rule(data=st.data())
    def terminate(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.model.children))
        ref = self.refs[child.id]
        self.model.terminate(child)
        self.expect(terminate_child(self.sup, ref), None)
        self.dead_refs.append(ref)

    @precondition(lambda self: self.model.alive and bool(self.dead_refs))
    @rule(data=st.data())
    def terminate_a_dead_ref(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(self.dead_refs))
        self.expect(terminate_child(self.sup, ref), ChildNotFound)

    @precondition(lambda self: self.model.alive)
    @rule(cid=st.sampled_from(["d0", "d1", "d2", "d3"]), times=st.integers(1, 3))
    def next_starts_fail(self, cid: str, times: int) -> None:
        self.fail[cid] = self.model.fail[cid] = times

    @rule(seconds=st.sampled_from([0.0, 4.0, PERIOD + 1.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.t += seconds
        self.model.now = self.clock.t

    # -- checks -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        model = self.model
        if not model.alive:
            assert not self.sup.alive and self.sup.exit_reason == GAVE_UP
            assert self.system.actor_count() == 0
            # dynamic children are stopped together: compare without order
            assert sorted(self.log) == sorted(model.log)
            return
        assert self.log == model.log
        rows = self.run(which_children(self.sup))
        assert [(r.id, r.status) for r in rows] == [(c.id, "running") for c in model.children]
        self.refs = {r.id: r.ref for r in rows if r.ref is not None}

    def teardown(self) -> None:
        async def stop() -> None:
            if hasattr(self, "sup") and self.sup.alive:
                await self.system.terminate(self.sup, SHUTDOWN, None)
            await self.system.shutdown()

        self.run(stop())
        self.loop.close()
        logging.getLogger("lightflow_actors").setLevel(logging.NOTSET)


def test_dynamic_supervisor_agrees_with_the_model(runtime: Runtime) -> None:
    run_state_machine_as_test(
        lambda: DynamicMachine(runtime),
        settings=settings(max_examples=150, stateful_step_count=30, deadline=None),
    )
