"""Deterministic schedules: operator actions racing with crashes never break the gateway.

A restart through the API and a crash of the same child interleave in every order the
explorer picks; whatever happens, the gateway answers (an ActionResult, or a conflict or
unavailable refusal), is never restarted itself, and the supervisor ends with exactly one
running child.
"""

from __future__ import annotations

import functools
from typing import cast

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import ActionResult, Gateway, OperatorRefused
from lightflow_actors.adapters.http._inputs import TreeQuery
from lightflow_actors.adapters.http._messages import GetTree, Operate
from lightflow_actors.adapters.http._operations import Perform
from lightflow_actors.adapters.http._supervision import start_gateway_tree
from lightflow_actors.adapters.operator_api import TreePage
from lightflow_actors.supervision import ChildSpec, Supervisor, SupervisorRef, which_children
from lightflow_actors.testing import explore, scenario

from ._actors import Worker


@scenario
async def restart_races_a_crash(system: ActorSystem) -> None:
    await start_gateway_tree(
        system, factory=functools.partial(Gateway, "gw"), supervisor_name="gw.sup"
    )
    gateway = system.lookup("gw", Gateway)
    sup = cast(
        SupervisorRef,
        await system.start_actor(
            lambda: Supervisor([ChildSpec(id="w", start=Worker)], intensity=100, period=1.0)
        ),
    )
    (child,) = system.info(sup).children
    target = system.get(child)
    assert target is not None

    operation = await gateway.ask(Operate(child, "restart", None))
    assert operation.id == child
    performed = operation.runner.ask(Perform(), timeout=60)
    system.kill(target)  # the child crashes while the restart is under way
    page = await gateway.ask(GetTree(TreeQuery()))
    assert isinstance(page, TreePage)
    try:
        outcome = await performed
    except OperatorRefused as refused:
        assert refused.reason in ("conflict", "unavailable"), refused
    else:
        assert isinstance(outcome, ActionResult), outcome
    rows = await which_children(sup)
    assert [(r.id, r.status) for r in rows] == [("w", "running")], rows
    assert system.info(gateway).restarts == 0 and gateway.alive


def test_restart_racing_a_crash_random_schedules() -> None:
    explore(
        restart_races_a_crash, seeds=200, strategy="random", out=lambda _: None
    ).raise_if_failed()


def test_restart_racing_a_crash_pct_schedules() -> None:
    explore(restart_races_a_crash, seeds=200, strategy="pct", out=lambda _: None).raise_if_failed()
