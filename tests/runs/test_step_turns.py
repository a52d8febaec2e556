"""A tenant's run steps take turns within its `steps` budget (ADR 0134): its run actor
waits for each step's turn, shown to operators in its ``remark`` in the tree,
counted in the ledger; another tenant's run of the same workflow goes at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.flow._run_actor import WAITING_FOR_STEPS
from lightflow_actors.host import RunsHosting
from lightflow_actors.runs import AwaitSettled, CancelRun, CreateRun
from lightflow_actors.supervision import TreeNode, system_tree
from lightflow_actors.tenants import Budgets, TenantLedger, TenantsConfig

pytestmark = pytest.mark.anyio

CONFIG = TenantsConfig(tenants={"slow": Budgets(steps_per_s=5, steps_burst=1)})


def _nodes(system: ActorSystem) -> list[TreeNode]:
    found, stack = [], list(system_tree(system).roots)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


async def test_a_tenants_steps_wait_for_their_turn_and_another_tenants_do_not(
    host: Callable[..., contextlib.AbstractAsyncContextManager[RunsHosting]],
) -> None:
    ledgers: list[TenantLedger] = []

    def ledger(system: ActorSystem) -> TenantLedger:
        ledgers.append(TenantLedger(CONFIG, clock=system.clock))
        return ledgers[-1]

    async with host(tenants=ledger) as hosting:
        await hosting.call(CreateRun("chain", b'{"seed": "a"}', "slow-1", tenant="slow"))
        await hosting.call(CreateRun("chain", b'{"seed": "b"}', "quick-1", tenant="quick"))
        waiting: set[tuple[str | None, str | None]] = set()
        settled = asyncio.ensure_future(hosting.call(AwaitSettled("slow-1")))
        while not settled.done():  # the tree, as an operator polls it, until the run ends
            waiting |= {(n.tenant, n.remark) for n in _nodes(hosting.system) if n.remark}
            await asyncio.sleep(0.005)
        assert (await settled).status == "succeeded"
        assert (await hosting.call(AwaitSettled("quick-1"))).status == "succeeded"
    assert waiting == {("slow", WAITING_FOR_STEPS)}
    usage = {u.tenant: u for u in ledgers[0].usage()}
    # Ten steps each: nine look-ups served from nothing cached, one commit each... every
    # step counted once; the slow tenant's waited for their turn, the quick one's never.
    assert usage["slow"].steps == 10 and usage["slow"].steps_held >= 1
    assert usage["quick"].steps == 10 and usage["quick"].steps_held == 0
    held = [e for e in ledgers[0].events() if e.budget == "steps"]
    assert held and all(e.tenant == "slow" and e.kind == "throttled" for e in held)


async def test_a_run_waiting_for_its_steps_turn_is_cancelled_without_waiting_for_it(
    host: Callable[..., contextlib.AbstractAsyncContextManager[RunsHosting]],
) -> None:
    """A token every 1 000 s: the run's second step waits for it, and so, before
    `StepTurns.hurry`, did the cancel (the run handles nothing else while it waits). The
    cancel now gives the run its turn, owing the token, and the run ends cancelled."""
    config = TenantsConfig(tenants={"slow": Budgets(steps_per_s=0.001, steps_burst=1)})

    def ledger(system: ActorSystem) -> TenantLedger:
        return TenantLedger(config, clock=system.clock)

    async with host(tenants=ledger) as hosting:
        await hosting.call(CreateRun("chain", b'{"seed": "c"}', "held-1", tenant="slow"))
        for _ in range(12_000):  # its first step took the one token; the next waits
            if any(n.remark == WAITING_FOR_STEPS for n in _nodes(hosting.system)):
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("the run never waited for its step's turn")
        # The bound only stops a hang: without the hurry the cancel waits 1 000 s.
        view = await asyncio.wait_for(hosting.call(CancelRun("held-1")), timeout=60)
        assert view.status == "cancelled"
        assert (await hosting.call(AwaitSettled("held-1"))).status == "cancelled"
        assert not any(n.remark for n in _nodes(hosting.system))
