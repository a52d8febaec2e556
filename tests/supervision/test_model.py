"""Stateful property: random exit/start/stop sequences against a model of OTP's supervisor.

The model is a direct reading of OTP's ``supervisor.erl`` (``do_restart``, ``add_restart``,
``restart/3`` per strategy, ``terminate_children``, ``try_again_restart``, and the
``handle_call`` clauses of the operations). After every step the test compares:
- the lifecycle log (which children stopped and started, in which order),
- ``which_children`` (ids in order, running or stopped),
- which refs changed (exactly the children the model restarted),
- whether the supervisor gave up, with ``("shutdown", "reached_max_restart_intensity")``.
Starts can be made to fail, to exercise OTP's try_again path (each retry counts as a
restart). Time is a manual clock the machine advances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
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
    ChildAlreadyPresent,
    ChildAlreadyStarted,
    ChildNotFound,
    ChildRunning,
    ChildSpec,
    Restart,
    Supervisor,
    SupervisorRef,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

from ..conftest import Runtime
from ._actors import Crash, Event, ManualClock, Quit, Worker, exited

T = TypeVar("T")
IDS = ["a", "b", "c", "d", "e"]
PERIOD = 10.0


# -- the reference model ---------------------------------------------------------------------


@dataclass
class MChild:
    id: str
    restart: Restart
    running: bool = True


class OtpModel:
    def __init__(self, strategy: str, intensity: int, fail: dict[str, int]) -> None:
        self.strategy = strategy
        self.intensity = intensity
        self.fail = fail  # shared with the real factories: starts left to fail, per id
        self.children: list[MChild] = []
        self.restarts: list[float] = []
        self.alive = True
        self.now = 0.0
        self.log: list[Event] = []

    def find(self, cid: str) -> MChild | None:
        return next((c for c in self.children if c.id == cid), None)

    def try_start(self, cid: str) -> bool:
        if self.fail.get(cid, 0) > 0:
            self.fail[cid] -= 1
            return False
        self.log.append(("start", cid))
        return True

    def add_restart(self) -> bool:
        self.restarts = [t for t in self.restarts if t >= self.now - PERIOD] + [self.now]
        return len(self.restarts) <= self.intensity

    def give_up(self) -> None:
        self.alive = False
        for c in reversed(self.children):
            if c.running:
                self.log.append(("stop", c.id))

    def group(self, child: MChild) -> list[MChild]:
        if self.strategy == "one_for_one":
            return [child]
        if self.strategy == "one_for_all":
            return list(self.children)
        return self.children[self.children.index(child) :]

    def child_exit(self, cid: str, how: str) -> None:
        child = self.find(cid)
        assert child is not None and child.running
        child.running = False
        self.log.append(("stop", cid))  # its own on_stop
        if child.restart == "permanent" or (child.restart == "transient" and how == "crash"):
            self.restart(child)
        elif child.restart == "temporary":
            self.children.remove(child)

    def restart(self, child: MChild) -> None:
        """OTP restart/2: add_restart, then the strategy; a failed start is retried."""
        while True:
            if not self.add_restart():
                self.give_up()
                return
            group = self.group(child)
            for sibling in reversed(group):
                if sibling is not child:
                    if sibling.running:
                        sibling.running = False
                        self.log.append(("stop", sibling.id))
                    if sibling.restart == "temporary":
                        self.children.remove(sibling)
            failed = None
            for member in [m for m in group if m in self.children]:
                if not self.try_start(member.id):
                    failed = member
                    break
                member.running = True
            if failed is None:
                return
            child = failed  # try_again: the failed member is the next child to restart

    # operations, as supervisor:handle_call

    def start_child(self, cid: str, restart: Restart) -> type[Exception] | None:
        existing = self.find(cid)
        if existing is not None:
            return ChildAlreadyStarted if existing.running else ChildAlreadyPresent
        if not self.try_start(cid):
            return StartFailed
        self.children.append(MChild(cid, restart))
        return None

    def terminate_child(self, cid: str) -> type[Exception] | None:
        child = self.find(cid)
        if child is None:
            return ChildNotFound
        if child.running:
            child.running = False
            self.log.append(("stop", cid))
        if child.restart == "temporary":
            self.children.remove(child)
        return None

    def restart_child(self, cid: str) -> type[Exception] | None:
        child = self.find(cid)
        if child is None:
            return ChildNotFound
        if child.running:
            return ChildRunning
        if not self.try_start(cid):
            return StartFailed
        child.running = True
        return None

    def delete_child(self, cid: str) -> type[Exception] | None:
        child = self.find(cid)
        if child is None:
            return ChildNotFound
        if child.running:
            return ChildRunning
        self.children.remove(child)
        return None


# -- the machine -----------------------------------------------------------------------------


class SupervisorMachine(RuleBasedStateMachine):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.loop = runtime.open()  # one loop for the whole example, driven step by step
        self.clock = ManualClock()
        self.system = runtime.system(root=False, clock=self.clock)
        self.run(self.system.start())
        self.log: list[Event] = []
        self.fail: dict[str, int] = {}
        self.model_fail: dict[str, int] = {}
        self.refs: dict[str, AnyRef] = {}
        self.sup: SupervisorRef
        self.model: OtpModel

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
        strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
        restarts=st.lists(
            st.sampled_from(["permanent", "transient", "temporary"]), min_size=1, max_size=4
        ),
        intensity=st.integers(min_value=0, max_value=4),
    )
    def start(self, strategy: str, restarts: list[Restart], intensity: int) -> None:
        logging.getLogger("lightflow_actors").setLevel(logging.CRITICAL)
        specs = [self.spec(IDS[i], r) for i, r in enumerate(restarts)]
        self.model = OtpModel(strategy, intensity, self.model_fail)
        self.model.now = self.clock.t
        for i, r in enumerate(restarts):
            self.model.children.append(MChild(IDS[i], r))
            self.model.log.append(("start", IDS[i]))
        self.sup = self.run(
            self.system.start_actor(
                lambda: Supervisor(specs, strategy=strategy, intensity=intensity, period=PERIOD)  # type: ignore[arg-type]
            )
        )
        self.refs = self.run(self.current_refs())

    # -- helpers ------------------------------------------------------------------------

    async def current_refs(self) -> dict[str, AnyRef]:
        rows = await which_children(self.sup)
        return {r.id: r.ref for r in rows if r.ref is not None}

    async def settle(self) -> None:
        """Wait until the supervisor has no restart pending (or has exited)."""
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

    def set_fail(self, cid: str, times: int) -> None:
        self.fail[cid] = times
        self.model_fail[cid] = times

    # -- rules --------------------------------------------------------------------------

    @precondition(lambda self: self.model.alive and any(c.running for c in self.model.children))
    @rule(data=st.data(), how=st.sampled_from(["crash", "normal", "shutdown"]))
    def child_exits(self, data: st.DataObject, how: str) -> None:
        running = [c.id for c in self.model.children if c.running]
        cid = data.draw(st.sampled_from(running))
        ref = self.refs[cid]

        async def act() -> None:
            message = Crash() if how == "crash" else Quit(how)
            cast(ActorRef[Crash | Quit], ref).tell(message)
            await exited(self.system, ref)
            await self.settle()

        self.run(act())
        self.model.child_exit(cid, how)

    @rule(seconds=st.sampled_from([0.0, 1.0, 4.0, PERIOD, PERIOD + 1.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.t += seconds
        self.model.now = self.clock.t

    @precondition(lambda self: self.model.alive)
    @rule(cid=st.sampled_from(IDS), times=st.integers(min_value=1, max_value=3))
    def next_starts_fail(self, cid: str, times: int) -> None:
        self.set_fail(cid, times)

    @precondition(lambda self: self.model.alive)
    @rule(
        op=st.sampled_from(["terminate", "restart", "delete"]),
        cid=st.sampled_from([*IDS, "zz"]),
    )
    def operation(self, op: str, cid: str) -> None:
        fn = {"terminate": terminate_child, "restart": restart_child, "delete": delete_child}[op]
        expected = getattr(self.model, f"{op}_child")(cid)
        self.expect(fn(self.sup, cid), expected)  # type: ignore[operator]

    @precondition(lambda self: self.model.alive)
    @rule(cid=st.sampled_from(IDS), restart=st.sampled_from(["permanent", "temporary"]))
    def add_child(self, cid: str, restart: Restart) -> None:
        expected = self.model.start_child(cid, restart)
        self.expect(start_child(self.sup, self.spec(cid, restart)), expected)

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

    # -- checks -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        model = self.model
        assert self.log == model.log
        if not model.alive:
            assert not self.sup.alive and self.sup.exit_reason == GAVE_UP
            assert self.system.actor_count() == 0
            return
        assert self.sup.alive
        rows = self.run(which_children(self.sup))
        assert [(r.id, r.status) for r in rows] == [
            (c.id, "running" if c.running else "stopped") for c in model.children
        ]
        refs = {r.id: r.ref for r in rows if r.ref is not None}
        assert all(ref.alive for ref in refs.values())
        self.refs = refs

    def teardown(self) -> None:
        async def stop() -> None:
            if hasattr(self, "sup") and self.sup.alive:
                await self.system.terminate(self.sup, SHUTDOWN, None)
            await self.system.shutdown()

        self.run(stop())
        self.loop.close()
        logging.getLogger("lightflow_actors").setLevel(logging.NOTSET)


def test_supervisor_agrees_with_the_otp_model(runtime: Runtime) -> None:
    run_state_machine_as_test(
        lambda: SupervisorMachine(runtime),
        settings=settings(max_examples=200, stateful_step_count=30, deadline=None),
    )
