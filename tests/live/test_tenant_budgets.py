"""Tenant budgets on live sessions, through the test DSL (a real hub, transport and
session): the tenant comes from an ``on_mount`` hook or the signed cookie session; past
``live_sessions`` the join gets an ``over_budget`` error frame naming the Mount, past an
events-per-second budget the event gets one naming the event (not handled, the connection
stays open: these errors do not count toward ``max_errors``); each refusal is recorded;
the session's actor carries its tenant for operators. The buckets read the system's
clock (tests/tenants test them on a clock moved by hand).
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from lightflow_actors.adapters.ws import Receive
from lightflow_actors.isa import ErrorFrame
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import (
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    live_session,
)
from lightflow_actors.supervision import system_tree
from lightflow_actors.tenants import Budgets, TenantsConfig
from lightflow_actors.testing.live import LiveTestError, LiveViewHandle, live_test

SECRET = b"t" * 32
PAGE = Template('<p>n: <b id="n">{n}</b></p><button lf-click="inc">+</button>')


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    pass


class Counter(LiveView[int, Inc]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Inc, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return PAGE(n=state)


def tenant_from_param(params: Params, session: SessionInfo) -> SessionInfo:
    # What a product's hook does after looking the user up: assign their tenant.
    return session.assign(tenant=params.get("org", "default"))


VIEWS = {
    "counter": Counter(),
    **live_session("orgs", {"org": Counter()}, on_mount=[tenant_from_param]),
}


def over_budget(view: LiveViewHandle) -> list[ErrorFrame]:
    return view.over_budget


@pytest.mark.anyio
async def test_the_session_past_the_tenants_live_sessions_is_refused_and_others_join() -> None:
    config = TenantsConfig(tenants={"acme": Budgets(live_sessions=2)})
    async with live_test(VIEWS, secret=SECRET, tenants=config) as live:
        ledger = live.tenants
        first = await live.mount("org", {"org": "acme"})
        await live.mount("org", {"org": "acme"})
        with pytest.raises(LiveTestError, match="over_budget: tenant 'acme' is over its "):
            await live.mount("org", {"org": "acme"})
        for _ in range(3):  # another tenant (default budgets: unlimited) is not affected
            await live.mount("org", {"org": "quiet"})
        [event] = ledger.events()
        assert (event.kind, event.tenant, event.budget) == ("refused", "acme", "live_sessions")
        # A session that ends gives its place back.
        await first.close()
        await asyncio.sleep(0)
        for _ in range(2000):  # bounds a hang only (20 s), asserts nothing about speed
            if {u.tenant: u.live_sessions for u in ledger.usage()}["acme"] == 1:
                break
            await asyncio.sleep(0.01)
        await live.mount("org", {"org": "acme"})


@pytest.mark.anyio
async def test_a_refused_join_names_the_mount_frame_and_says_when_to_retry() -> None:
    config = TenantsConfig(default=Budgets(live_sessions=0))
    async with live_test(VIEWS, secret=SECRET, tenants=config) as live:
        with pytest.raises(LiveTestError, match="over_budget"):
            await live.mount("counter")
        [event] = live.hub.tenants.events() if live.hub.tenants else []
        assert (event.tenant, event.budget, event.retry_after) == ("default", "live_sessions", 1.0)


@pytest.mark.deterministic(seeds=3)
async def test_a_refused_session_is_not_read_again_until_its_budget_has_a_token(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(default=Budgets(session_events_per_s=1, session_events_burst=3))
    async with live_test(VIEWS, secret=SECRET, tenants=config, system=sim_system) as live:
        view = await live.mount("counter")
        for _ in range(4):
            await view.click("inc")
        [refused] = over_budget(view)
        assert not refused.fatal and refused.ref is not None
        assert refused.retry_after is not None and 0 < refused.retry_after <= 1.0
        assert "events a second per session" in refused.message
        assert view.has_element("#n", "3")  # the refused event was not handled
        # The transport stopped reading: the next click waits in the socket (virtual
        # time here) until a token is back, then is admitted, not refused.
        assert view.socket.paused
        before = sim_system.clock.now()
        await view.click("inc")
        assert sim_system.clock.now() - before >= refused.retry_after - 1e-6
        assert view.has_element("#n", "4") and len(over_budget(view)) == 1
        assert not view.socket.paused and not view.closed


@pytest.mark.deterministic(seeds=2)
async def test_events_read_before_the_pause_are_refused_by_the_transport_and_counted(
    sim_system: ActorSystem,
) -> None:
    config = TenantsConfig(default=Budgets(session_events_per_s=1, session_events_burst=1))
    async with live_test(VIEWS, secret=SECRET, tenants=config, system=sim_system) as live:
        view = await live.mount("counter")
        await view.click("inc")
        await view.click("inc")  # refused by the session: reading pauses
        [session] = await live.hub.sessions()
        handled = live.system.info(session).processed
        for _ in range(20):  # frames a socket loop had read already (more than max_errors)
            data, _ = view.client.submit("inc", {})
            await view.transport.ask(Receive(data))
            view.pump()
        refused = over_budget(view)
        assert len(refused) == 21 and not view.closed
        assert all(e.retry_after is not None and 0 < e.retry_after <= 1.0 for e in refused)
        assert all("session_events budget" in e.message for e in refused)
        # Answered without a trip to the session, and counted like its own refusals.
        assert live.system.info(session).processed == handled
        [usage] = live.tenants.usage()
        assert usage.refused == {"session_events": 21}
        assert {e.subject for e in live.tenants.events()} == {view.client.session_id}
        assert view.has_element("#n", "1")
        # The operators' event log got two entries for the 21 refusals: the first at
        # once, the other 20 when its second ended.
        await asyncio.sleep(1.1)
        logged = [e for e in sim_system.events(limit=0) if e.kind == "over_budget"]
        assert [(e.tenant, e.budget, e.count) for e in logged] == [
            ("default", "session_events", 1),
            ("default", "session_events", 20),
        ]


@pytest.mark.anyio
async def test_the_tenant_rate_is_shared_by_its_sessions_and_spares_other_tenants() -> None:
    config = TenantsConfig(tenants={"noisy": Budgets(tenant_events_per_s=1, tenant_events_burst=2)})
    async with live_test(VIEWS, secret=SECRET, tenants=config) as live:
        a = await live.mount("org", {"org": "noisy"})
        b = await live.mount("org", {"org": "noisy"})
        quiet = await live.mount("org", {"org": "quiet"})
        await a.click("inc")
        await b.click("inc")
        await a.click("inc")
        await b.click("inc")
        for _ in range(10):
            await quiet.click("inc")
        assert [len(over_budget(v)) for v in (a, b, quiet)] == [1, 1, 0]
        assert quiet.has_element("#n", "10")
        assert "tenant_events budget" in over_budget(a)[0].message


@pytest.mark.anyio
async def test_the_tenant_comes_from_the_signed_cookie_session_too() -> None:
    config = TenantsConfig(tenants={"acme": Budgets(live_sessions=1)})
    async with live_test(VIEWS, secret=SECRET, tenants=config) as live:
        await live.mount("counter", session={"tenant": "acme"})
        with pytest.raises(LiveTestError, match="over_budget"):
            await live.mount("counter")  # the same browser: the same cookie session


@pytest.mark.anyio
async def test_session_actors_carry_their_tenant_into_the_operator_tree() -> None:
    async with live_test(VIEWS, secret=SECRET) as live:
        await live.mount("org", {"org": "acme"})
        await live.mount("counter")
        nodes: list[tuple[str, str | None]] = []
        stack = list(system_tree(live.system).roots)
        while stack:
            node = stack.pop()
            nodes.append((node.actor_class, node.tenant))
            stack.extend(node.children)
        sessions = sorted(t or "" for cls, t in nodes if cls == "LiveSession")
        assert sessions == ["acme", "default"]
        assert all(t is None for cls, t in nodes if cls != "LiveSession")


@pytest.mark.parametrize("bad", ["../../etc", "", "a b", "x" * 65, "\u0430cme", "a\x00"])
@pytest.mark.anyio
async def test_a_hook_that_names_a_bad_tenant_is_refused_for_that_session_only(bad: str) -> None:
    async with live_test(VIEWS, secret=SECRET) as live:
        with pytest.raises(LiveTestError, match=r"unauthorized: assigns\.tenant: "):
            await live.mount("org", {"org": bad})
        ok = await live.mount("org", {"org": "fine"})
        await ok.click("inc")


@pytest.mark.anyio
async def test_the_dsl_names_the_ledger_only_when_the_hub_has_budgets() -> None:
    async with live_test(VIEWS, secret=SECRET) as live:
        with pytest.raises(LiveTestError, match=r"live_test\(tenants=\.\.\.\)"):
            _ = live.tenants
    config = TenantsConfig(default=Budgets(session_events_per_s=1, session_events_burst=1))
    async with live_test(VIEWS, secret=SECRET, tenants=config) as live:
        view = await live.mount("counter")
        await view.click("inc")
        await view.click("inc")
        [refused] = view.over_budget
        assert refused.code == "over_budget" and refused.retry_after is not None
        assert [u.refused for u in live.tenants.usage()] == [{"session_events": 1}]
        live.tenants.reconfigure(TenantsConfig())  # lifted mid-test, for new sessions
        fresh = await live.mount("counter")
        for _ in range(5):
            await fresh.click("inc")
        assert fresh.has_element("#n", "5") and fresh.over_budget == []
