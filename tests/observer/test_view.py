"""The observer live view driven by the test DSL: real actors, real wire, no browser.

The view runs on a `live_test` hub with the observer's feed and action desk added to it,
next to the demo tree and an operator app whose gateway runs the actions.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Never, cast

import msgspec
import pytest

from lightflow_actors import Actor, ActorRef, ActorSystem, handler
from lightflow_actors.adapters.http import create_app, start_demo
from lightflow_actors.live import encode_patch
from lightflow_actors.observer import observer_page, observer_view, start_observer_actors
from lightflow_actors.supervision import (
    Backoff,
    ChildSpec,
    Supervisor,
    start_subsystem,
    stop_subsystem,
)
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, live_test

pytestmark = pytest.mark.anyio

CHECKOUT = str(Path(__file__).resolve().parents[2])
"""This checkout's directory: never shown in a traceback on the page."""

TOKEN = "observer-token"
ROW = re.compile(
    r'<li id="actor-(\d+)" class="[^"]*" data-id="\d+" data-label="([^"]*)" '
    r'data-status="([^"]*)" data-restarts="(\d+)"'
)


class Idle(Actor[Never]):
    """An actor that only exists (for names and storms)."""


@contextlib.asynccontextmanager
async def observed(
    token: str | None = TOKEN, interval: float = 0.05
) -> AsyncIterator[tuple[ActorSystem, LiveTest]]:
    """The demo tree, an operator app (its gateway and guard), and the observer on a hub."""
    async with ActorSystem("observed") as system:
        await start_demo(system)
        app = create_app(system, token=token, pages=[observer_page()])
        await app.start()
        try:
            views = {"observer": observer_view(system, app.guard, hub_name="live")}
            async with live_test(views, system=system) as live:
                # refresh: an hour, so every snapshot in these tests comes from a lifecycle event.
                await start_observer_actors(live.hub, app.link, interval=interval, refresh=3600.0)
                yield system, live
        finally:
            await app.stop()


def rows(view: LiveViewHandle) -> dict[str, tuple[int, str, int]]:
    """label -> (actor id, status, restarts), for the tree rows now on the page."""
    return {label: (int(i), status, int(r)) for i, label, status, r in ROW.findall(view.html())}


async def wait_row(view: LiveViewHandle, label: str, restarts: int) -> int:
    await view.wait_for(
        lambda: rows(view).get(label, (0, "", -1))[2] == restarts,
        f"{label} with {restarts} restarts",
    )
    return rows(view)[label][0]


async def act(view: LiveViewHandle, action: str) -> None:
    await view.click("act", id=f"act-{action}")


async def test_mount_shows_the_tree_and_a_crash_patches_only_the_changed_rows() -> None:
    async with observed() as (system, live):
        view = await live.mount("observer")
        tree = rows(view)
        assert {"demo", "pool", "worker-1", "worker-2", "worker-3", "flaky"} <= set(tree)
        assert 'id="live" class="live on"' in view.html()
        old_id = tree["worker-3"][0]
        before = len(view.patches)

        # worker-3 crashes (killed behind the page's back); pool restarts it.
        ref = system.get(old_id)
        assert ref is not None
        system.kill(ref)
        new_id = await wait_row(view, "worker-3", 1)
        assert new_id != old_id and f'id="actor-{old_id}"' not in view.html()
        # Tree order, not id order: the new worker-3 sits under pool, before flaky.
        order = list(rows(view))
        assert order.index("pool") < order.index("worker-3") < order.index("flaky")
        assert len(view.patches) > before
        # The patches carry the changed rows and log lines, not the whole tree again.
        sent = b"".join(encode_patch(p) for p in view.patches[before:])
        assert b"worker-3" in sent and b"worker-1" not in sent and b"ticker" not in sent
        assert len(sent) < len(view.html()) / 4
        assert "exited" in view.html() and "killed" in view.html()


async def test_a_storm_of_lifecycle_events_is_one_render() -> None:
    # A long coalescing interval: the storm is over well before the one snapshot is taken.
    async with observed(interval=0.5) as (system, live):
        view = await live.mount("observer")
        before = len(view.patches)
        refs = [system.spawn(Idle) for _ in range(200)]
        for ref in refs:
            system.kill(ref)
        await view.wait_for(lambda: len(view.patches) > before, "the storm's patch")
        await view.settle()
        # 800 lifecycle events (spawned, started, exited x 200, give or take) -> one snapshot.
        assert len(view.patches) - before == 1


async def test_actions_need_the_token_and_go_through_the_gateway() -> None:
    async with observed() as (system, live):
        view = await live.mount("observer")
        worker = rows(view)["worker-2"][0]
        await view.live_patch({"actor": str(worker)})
        assert 'data-field="child id">worker-2<' in view.html()
        assert 'id="token-form"' in view.html()

        # No token yet: refused, visibly, and nothing happened.
        await act(view, "kill")
        assert f"kill #{worker} refused: enter the operator token" in view.html()
        assert 'class="result error"' in view.html()
        assert system.get(worker) is not None

        # A wrong token is refused and not kept.
        await view.submit("token", {"token": "nope"})
        assert "That token is wrong" in view.html()
        await act(view, "kill")
        assert system.get(worker) is not None

        # The right one: kept in the session, never rendered back.
        await view.submit("token", {"token": TOKEN})
        assert 'id="token-ok"' in view.html() and 'id="token-form"' not in view.html()
        await act(view, "kill")
        await view.wait_for(lambda: f"kill #{worker}: killed" in view.html(), "the kill outcome")
        new_worker = await wait_row(view, "worker-2", 1)
        # The selection followed worker-2 to its new actor (and the URL says so).
        await view.wait_for(
            lambda: f'data-field="id">{new_worker}<' in view.html(), "the followed selection"
        )
        assert view.client.navigations[-1].params == {"actor": str(new_worker)}

        # Restart goes through the supervisor: a new actor, one more restart.
        await act(view, "restart")
        await view.wait_for(lambda: "→ new actor #" in view.html(), "the restart outcome")
        await wait_row(view, "worker-2", 2)

        # Stop: the supervisor keeps the spec stopped; the row goes away.
        stopped = rows(view)["worker-2"][0]
        await view.live_patch({"actor": str(stopped)})
        await act(view, "stop")
        await view.wait_for(lambda: f"stop #{stopped}: shutdown" in view.html(), "the stop")
        await view.wait_for(lambda: "worker-2" not in rows(view), "worker-2 gone")
        assert f"Actor #{stopped} is no longer live" in view.html()

        # A refusal from the gateway is shown as it is.
        root = rows(view)["lightflow.root"][0]
        await view.live_patch({"actor": str(root)})
        await act(view, "restart")
        await view.wait_for(lambda: "is the root supervisor" in view.html(), "the refusal")
        assert 'class="result error"' in view.html()

        pages = [view.html(), *(str(p) for p in view.patches)]
        assert not any(TOKEN in page for page in pages)


async def test_without_a_token_configured_actions_need_none() -> None:
    async with observed(token=None) as (_, live):
        view = await live.mount("observer")
        assert 'id="token-form"' not in view.html()
        flaky = rows(view)["flaky"][0]
        await view.live_patch({"actor": str(flaky)})
        await act(view, "kill")
        await view.wait_for(lambda: f"kill #{flaky}: killed" in view.html(), "the kill outcome")
        await wait_row(view, "flaky", 1)


async def test_filters_live_in_the_url_and_hostile_names_are_escaped() -> None:
    async with observed() as (system, live):
        system.spawn(Idle, name='<img src=x onerror="alert(1)">')
        view = await live.mount("observer", {"q": "worker"})
        assert set(rows(view)) == {"worker-1", "worker-2", "worker-3"}
        await view.change("filter", {"status": "", "q": "onerror"}, target="q")
        assert view.client.navigations[-1].params == {"q": "onerror"}
        html = view.html()
        assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
        await view.change("filter", {"status": "busy", "q": "zzz-no-such"}, target="status")
        assert rows(view) == {} and "· 0 shown" in view.html()


async def test_bad_events_are_refused_and_the_session_lives_on() -> None:
    async with observed() as (_, live):
        view = await live.mount("observer")
        await view.push("act", {"action": "explode", "id": "1"})
        await view.push("act", {"action": "kill", "id": "not-a-number"})
        await view.push("nope", {})
        assert len(view.errors) == 3 and not view.closed
        assert "$.instruction.payload.action" in str(view.errors[0])
        await view.live_patch({"actor": "9" * 2000, "status": "bogus", "q": "x" * 2000})
        assert len(view.errors) == 3
        assert 'data-field="id"' not in view.html()
        assert 'value="' + "x" * 100 + '"' in view.html()


class Hold(msgspec.Struct, frozen=True):
    pass


class Holder(Actor[Hold]):
    @handler
    def hold(self, msg: Hold) -> None:
        time.sleep(0.03)  # holds the loop (a lower bound; no threshold on the test's side)


class Fail(msgspec.Struct, frozen=True):
    pass


class Failing(Actor[Fail]):
    """Fails its start while ``budget`` lasts; crashes on ``Fail``."""

    def __init__(self, budget: list[int]) -> None:
        self.budget = budget

    def on_start(self) -> None:
        if self.budget[0] > 0:
            self.budget[0] -= 1
            raise RuntimeError("cannot start")

    @handler
    def fail(self, msg: Fail) -> None:
        raise RuntimeError("crashed")


async def test_a_restarting_subsystem_and_a_slow_handler_are_on_the_page() -> None:
    async with observed() as (system, live):
        view = await live.mount("observer")
        system.watch_long_handlers(0.01)
        system.spawn(Holder, name="holder").tell(Hold())
        await view.wait_for(lambda: "held the event loop" in view.html(), "the long_handler event")
        assert re.search(r"holder #\d+ held the event loop [\d.]+ ms handling Hold", view.html())
        # A tenant's refusals, summarised (specs/tenants.md §3), are in the same log.
        system.record_refusals("acme", "session_events", 41)
        system.record_refusals(None, "runs_in_flight", 1)
        await view.wait_for(
            lambda: "other tenants refused once for runs_in_flight" in view.html(),
            "the over_budget events",
        )
        assert "over_budget: tenant acme refused 41 times for session_events" in view.html()

        budget = [0]
        spec = ChildSpec(id="w", start=lambda: Failing(budget), name="failing.w")
        slow = Backoff(min_delay=60.0, max_delay=60.0, jitter=0.0)
        sub = await start_subsystem(
            system, "payments", lambda: Supervisor([spec], intensity=0), backoff=slow
        )
        worker = system.whereis("failing.w")
        assert worker is not None
        budget[0] = 1
        cast(ActorRef[Fail], worker).tell(Fail())
        await system.wait_exit(sub)
        await view.wait_for(lambda: 'data-child="payments"' in view.html(), "the pending row")
        html = view.html()
        assert re.search(
            r'data-child="payments" data-status="restarting" data-restart-at="\d+">'
            r"payments \(supervisor\) restarting · next attempt \d\d:\d\d:\d\d\.\d{3} UTC"
            r" · after shutdown: &#39;reached_max_restart_intensity&#39;",
            html,
        ), html
        assert re.search(
            r"restart_scheduled lightflow\.root #\d+: child payments restarts in 6\d", html
        )
        assert "escalated" in html
        await stop_subsystem(system, "payments")


async def test_a_restarted_actor_shows_its_last_crash_and_traceback() -> None:
    async with observed() as (system, live):
        spec = ChildSpec(id="w", start=lambda: Failing([0]), name="failing.crashy")
        await start_subsystem(system, "crashy", lambda: Supervisor([spec], intensity=5))
        view = await live.mount("observer")
        worker = system.whereis("failing.crashy")
        assert worker is not None
        cast(ActorRef[Fail], worker).tell(Fail())
        new_id = await wait_row(view, "failing.crashy", 1)
        # The row says why it was restarted, though the new actor never crashed.
        assert re.search(
            rf'id="actor-{new_id}".*?<span class="crash">restarted after RuntimeError: crashed'
            r"</span>",
            view.html(),
        )
        await view.live_patch({"actor": str(new_id)})
        html = view.html()
        assert re.search(r'data-field="last crash">RuntimeError: crashed \(\d\d:\d\d:', html)
        report = re.search(
            r'<details class="crash-report" data-child="w" data-at="\d+"><summary>'
            r"Traceback, last crash \([^)]*\): RuntimeError: crashed</summary>"
            r'<pre class="traceback">(.*?)</pre></details>',
            html,
            re.S,
        )
        assert report is not None, html
        assert report.group(1).startswith("Traceback (most recent call last):")
        assert "raise RuntimeError(&quot;crashed&quot;)" in report.group(1)
        # Frames are shown under their import root, not this machine's checkout.
        assert "File &quot;lightflow_actors/kernel/" in report.group(1), report.group(1)
        assert CHECKOUT not in report.group(1)
        assert report.group(1).rstrip().endswith("RuntimeError: crashed")
        await stop_subsystem(system, "crashy")
