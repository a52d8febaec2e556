"""The examples driven by the test DSL: real actors and wire, no browser."""

from __future__ import annotations

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.isa import Render
from lightflow_actors.live import GetPresences, LiveClient, encode_patch
from lightflow_actors.live_examples import TICKER, start_examples
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.live_examples.table import ROWS, Advance, Ticker
from lightflow_actors.testing.live import LiveTest, LiveTestError, live_test

from .examples_test import examples_test

pytestmark = pytest.mark.anyio


async def test_counter_click_values_keydown_and_url() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter", {"count": "3"})
        assert '<b id="count">3</b>' in view.html()
        await view.click("inc")
        assert view.patches[-1].root == {"0": "4"}
        await view.click("inc", id="inc10")
        assert '<b id="count">14</b>' in view.html()
        await view.click("dec")
        await view.keydown("set", "Enter", value="40")
        assert '<b id="count">40</b>' in view.html()
        # every change records the count in the URL (replace, not push)
        nav = view.client.navigations[-1]
        assert (nav.kind, nav.params, nav.replace) == ("patch", {"count": "40"}, True)
        with pytest.raises(LiveTestError, match="only reacts to 'Enter'"):
            await view.keydown("set", "a")


async def test_counter_live_patch_and_navigation_without_reload() -> None:
    async with examples_test() as live:
        view = await live.mount("counter")
        await view.live_patch({"count": "9"})
        assert '<b id="count">9</b>' in view.html()
        sessions_before = await live.hub.sessions()
        await view.navigate("chat", {"name": "ada"})
        assert '<b id="me">ada</b>' in view.html()
        after = await live.hub.sessions()
        assert len(after) == 1 and after != sessions_before  # the old session stopped
        with pytest.raises(LiveTestError, match="no element with lf-click='inc'"):
            await view.click("inc")


async def test_chat_two_browsers_see_messages_and_presence() -> None:
    async with examples_test() as live:
        ada = await live.mount("chat", {"name": "ada"})
        bob = await live.mount("chat", {"name": "bob"})
        await ada.wait_for(lambda: 'id="person-bob"' in ada.html(), "bob in ada's list")
        assert 'id="person-ada"' in bob.html()
        await ada.change("draft", {"text": "hel"}, target="text")
        assert 'value="hel"' in ada.html()
        await ada.submit("send", {"text": "hello bob"})
        await bob.wait_for(lambda: "hello bob" in bob.html(), "ada's message at bob")
        assert 'value=""' in ada.html()  # the draft is cleared on send
        await ada.wait_for(lambda: "hello bob" in ada.html(), "ada's own message")
        await ada.submit("send", {"text": "   "})  # blank: nothing sent
        presences = await live.hub.services.presence.ask(GetPresences("chat:lobby"))
        assert sorted(presences) == ["ada", "bob"]


async def test_a_killed_session_leaves_presence() -> None:
    async with examples_test() as live:
        ada = await live.mount("chat", {"name": "ada"})
        bob = await live.mount("chat", {"name": "bob"})
        await ada.wait_for(lambda: 'id="person-bob"' in ada.html(), "bob in ada's list")
        sessions = await live.hub.sessions()
        live.system.kill(sessions[1])  # bob's (sessions are listed in start order)
        await ada.wait_for(lambda: 'id="person-bob"' not in ada.html(), "bob leaving")
        # bob's browser was told its session crashed, so it can rejoin
        await bob.wait_for(lambda: bool(bob.client.shutdowns), "bob's shutdown")
        assert bob.client.shutdowns[-1].reason == "error"


async def test_a_killed_chat_session_rejoins_with_the_users_own_messages() -> None:
    async with examples_test() as live:
        ada = await live.mount("chat", {"name": "ada"})
        await ada.submit("send", {"text": "mine, before the crash"})
        await ada.wait_for(lambda: "mine, before the crash" in ada.html(), "ada's message")
        [session] = await live.hub.sessions()
        live.system.kill(session)
        await ada.wait_for(lambda: bool(ada.client.shutdowns), "ada's shutdown")
        renders = ada.client.renders
        sid = ada.client.session_id
        assert sid is not None
        # what the page does after its backoff: Mount and Render again on its socket
        await ada.send(LiveClient.mount_instruction("chat", sid, ada.token, {"name": "ada"}))
        await ada.send(Render())
        await ada.wait_for(lambda: ada.client.renders > renders, "the rejoin's render")
        assert "mine, before the crash" in ada.html()  # kept by the room, not the session
        bob = await live.mount("chat", {"name": "bob"})  # a newcomer sees the history too
        assert "mine, before the crash" in bob.html()
        await bob.submit("send", {"text": "after"})
        await ada.wait_for(lambda: "after" in ada.html(), "bob's message at ada")
        assert ada.html().count("mine, before the crash") == 1


async def test_live_table_of_a_thousand_rows_sends_only_changes() -> None:
    async with ActorSystem("table", seed=3) as system:
        routes = await start_examples(system, tick_interval=3600.0)
        live = LiveTest(system, routes.hub)
        view = await live.mount("table")
        assert view.html().count("<tr id=") == ROWS
        full = len(view.html())
        ticker = system.lookup(TICKER, Ticker)
        for _ in range(3):
            tick = await ticker.ask(Advance())
            await view.wait_for(lambda v=tick.version: f'id="version">{v}<' in view.html(), "tick")
            size = len(encode_patch(view.patches[-1]))
            assert size < full * 0.05, (size, full)
        await view.click("pause")
        assert ">resume<" in view.html()
        paused = view.html()
        await ticker.ask(Advance())
        await view.settle()
        assert view.html() == paused
        await view.click("sort", id="sort-price")
        rows = view.html().split("<tr id=")[1:]
        prices = [float(r.split('class="num">')[1].split("<")[0]) for r in rows]
        assert prices == sorted(prices, reverse=True)


def test_the_standalone_example_app_serves_the_views(tmp_path: object) -> None:
    """examples/live/app.py runs as written and answers the first GET with full HTML."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Path(__file__).resolve().parents[2] / "examples" / "live" / "app.py"
    code = (
        f"import asyncio, runpy; m = runpy.run_path({str(app)!r}); "
        f"asyncio.run(m['serve'](port={port}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "live examples on" in proc.stdout.readline()
        body = ""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/live/counter") as reply:
                    body = reply.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "<html" in body.lower() and "lightflow-live.js" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
