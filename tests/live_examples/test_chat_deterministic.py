"""Concurrency claims of live sessions, under many deterministic schedules.

Two browsers chat at the same time while one session is killed mid-way: under every
schedule, each message reaches the surviving browser once, the killed session leaves
the presence list, and the page built from patches equals a full render of the same
state (a Render from the browser resyncs to exactly what it already shows).
"""

from __future__ import annotations

import asyncio

import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.isa import Render
from lightflow_actors.live import GetPresences

from .examples_test import examples_test


@pytest.mark.deterministic(seeds=25, strategy="random")
async def test_chat_under_any_schedule(sim_system: ActorSystem) -> None:
    async with examples_test(sim_system) as live:
        ada = await live.mount("chat", {"name": "ada"})
        bob = await live.mount("chat", {"name": "bob"})  # sessions() lists them in this order
        await ada.wait_for(lambda: 'id="person-bob"' in ada.html(), "bob in ada's list")
        await asyncio.gather(
            ada.submit("send", {"text": "one"}),
            bob.submit("send", {"text": "two"}),
            ada.submit("send", {"text": "three"}),
        )
        [_, bob_session] = await live.hub.sessions()
        sim_system.kill(bob_session)
        await ada.wait_for(lambda: 'id="person-bob"' not in ada.html(), "bob leaving")
        for text in ("one", "two", "three"):
            await ada.wait_for(lambda t=text: f"</b>: {t}</li>" in ada.html(), text)
            assert ada.html().count(f"</b>: {text}</li>") == 1
        presences = await live.hub.services.presence.ask(GetPresences("chat:lobby"))
        assert list(presences) == ["ada"]
        patched = ada.html()
        renders = ada.client.renders
        await ada.send(Render())
        await ada.wait_for(lambda: ada.client.renders > renders, "a full render")
        assert ada.html() == patched
