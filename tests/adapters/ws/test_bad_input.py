"""Bad input meets an error frame or a clean close, never a crash.

Malformed frames, frames before negotiation, oversized frames, unknown events,
undecodable payloads, misordered instructions, forged tokens, a flood of events
(bounded by the in-flight window: the transport stops reading), a browser that
never acknowledges, a silent browser. Each case checks what the peer receives and
that nothing but (at most) this connection's transport ended, and never by a crash.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem, is_crash
from lightflow_actors.adapters.ws import Receive, start_transport
from lightflow_actors.isa import ErrorFrame, Mount, Render, Shutdown, Submit, Subscribe
from lightflow_actors.live import LiveConfig, LiveHub
from lightflow_actors.live_examples.counter import counter
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, MemorySocket, live_test

pytestmark = pytest.mark.anyio


def codes(view: LiveViewHandle) -> list[str]:
    return [e.code if isinstance(e, ErrorFrame) else e for e in view.errors]


async def raw_transport(live: LiveTest) -> tuple[MemorySocket, object]:
    socket = MemorySocket()
    return socket, await start_transport(live.hub, socket)


async def test_a_malformed_frame_gets_an_error_and_the_view_goes_on() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        await view.send_raw(b"{not json")
        await view.send_raw(b'{"kind":"instruction","v":1,"seq":99,"instruction":{"op":"x"}}')
        assert codes(view)[:2] == ["malformed_frame", "malformed_frame"]
        await view.click("inc")
        assert '<b id="count">1</b>' in view.html()


async def test_unknown_events_and_bad_payloads_name_the_problem() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        await view.push("explode", {})
        await view.push("inc", {"by": "lots"})
        await view.push("inc", [1, 2])
        unknown, bad, not_object = view.errors
        assert isinstance(unknown, ErrorFrame) and unknown.path == "$.instruction.event"
        assert "accepts: dec, inc, set" in unknown.message
        assert isinstance(bad, ErrorFrame) and bad.path == "$.instruction.payload.by"
        assert isinstance(not_object, ErrorFrame) and not not_object.fatal
        await view.click("inc")
        assert not view.closed


async def test_frames_before_hello_and_misordered_instructions() -> None:
    async with live_test({"counter": counter}) as live:
        socket, transport = await raw_transport(live)
        await transport.ask(Receive(b'{"kind":"ping","v":1,"seq":1}'))
        assert socket.close_code == 1002
        assert b"not_negotiated" in socket.frames[-1]

        view = await live.mount("counter")
        await view.send(Subscribe(topic="secrets"))
        await view.send(Mount(id="x", target="counter", params={}))
        assert codes(view) == ["unexpected_frame", "unexpected_frame"]
        assert "cannot subscribe" in view.errors[0].message
        assert "already mounted" in view.errors[1].message


async def test_forged_tokens_unknown_views_and_submit_before_mount() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        await view.navigate("counter")  # a fresh mount on the same connection works
        await view.send(Shutdown(reason="normal", detail="navigate"))
        await view.send(Submit(event="inc", ref="1"))
        await view.send(Mount(id="forged", target="counter", params={"token": "x"}))
        session_id = view.client.session_id or ""
        await view.send(Mount(id=session_id, target="nope", params={"token": view.token}))
        await view.send(Mount(id="s", target="counter", params={"token": 5}))
        submit, forged, unknown, typed = view.errors
        assert "send Mount before Submit" in submit.message
        assert (forged.code, forged.path) == ("unauthorized", "$.instruction.params.token")
        assert unknown.path == "$.instruction.target"
        assert typed.path == "$.instruction.params.token"
        assert not view.closed


async def test_an_oversized_frame_closes_with_1009() -> None:
    config = LiveConfig(max_frame_bytes=2048)
    async with live_test({"counter": counter}, config=config) as live:
        view = await live.mount("counter")
        data, _ = view.client.submit("inc", {"by": "1" + " " * 4096})
        await view.transport.ask(Receive(data))
        assert view.socket.close_code == 1009
        assert b"frame_too_large" in view.socket.frames[-1]
        await live.system.wait_exit(view.transport)
        assert live.system.info(view.transport).exit_reason == "normal"
        other = await live.mount("counter")  # the node serves on
        await other.click("inc")


async def test_too_many_bad_frames_close_the_connection() -> None:
    config = LiveConfig(max_errors=3)
    async with live_test({"counter": counter}, config=config) as live:
        view = await live.mount("counter")
        for _ in range(5):
            if view.closed:
                break
            await view.transport.ask(Receive(b"[]"))
        assert view.socket.close_code == 1008
        assert b"too_many_errors" in view.socket.frames[-1]


async def test_a_flood_of_events_is_held_back_by_the_window() -> None:
    config = LiveConfig(window=4)
    async with live_test({"counter": counter}, config=config) as live:
        view = await live.mount("counter")
        [session] = await live.hub.sessions()
        deepest = 0
        for _ in range(300):
            while view.socket.paused:  # the socket loop would stop reading here
                deepest = max(deepest, live.system.info(session).mailbox)
                await asyncio.sleep(0)
            await view.send_event("inc", {"by": 1})
            deepest = max(deepest, live.system.info(session).mailbox)
        await view.wait_for(lambda: '<b id="count">300</b>' in view.html(), "all 300 events")
        assert deepest <= config.window
        assert not view.errors


async def test_a_browser_that_stops_acknowledging_is_held_then_closed() -> None:
    config = LiveConfig(window=2, send_window=5, ack_timeout=0.3, heartbeat_interval=0.05)
    async with live_test({"counter": counter}, config=config) as live:
        view = await live.mount("counter")
        view.pump()
        view._replies.clear()  # from here on it acknowledges nothing
        patches = 0
        for _ in range(40):
            data, _ = view.client.submit("inc", {"by": 1})
            await view.transport.ask(Receive(data))
            patches = sum(b'"op":"patch"' in f for f in view.socket.frames)
        # held back once 5 frames wait for an ack (and the few events already in flight
        # to the session, at most `window`), and no close for that
        assert patches <= config.send_window + config.window
        assert view.socket.close_code is None
        await live.system.wait_exit(view.transport)  # ack_timeout later, still no ack
        assert view.socket.close_code == 1008
        assert "stopped reading" in view.socket.close_reason


async def test_an_acking_browser_that_sends_a_burst_is_never_cut_off() -> None:
    """10 000 events in a row, acks queued behind them (as TCP would deliver them):
    patches coalesce while the browser is behind, and it ends at the latest state."""
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        view.pump()
        last = ""
        for _ in range(10_000):
            data, last = view.client.submit("inc", {"by": 1})
            await view.transport.ask(Receive(data))  # every ack arrives after the burst
        patches = sum(b'"op":"patch"' in f for f in view.socket.frames)
        assert patches <= LiveConfig().send_window + LiveConfig().window  # coalesced
        await view.wait_for(lambda: '<b id="count">10000</b>' in view.html(), "the last state")
        assert not view.closed and not view.errors
        assert last in view.client.answered  # the coalesced patch answers the last event
        await view.click("inc")
        assert '<b id="count">10001</b>' in view.html()


FRAME_KINDS = st.sampled_from(
    ["hello", "instruction", "ack", "ping", "pong", "error", "close", "x"]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)
FRAMES = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda kind, seq, extra: msgspec.json.encode({"kind": kind, "v": 1, "seq": seq, **extra}),
        FRAME_KINDS,
        st.integers(-1, 12),
        st.dictionaries(
            st.sampled_from(["versions", "instruction", "upto", "echo", "code", "message"]),
            JSON_VALUES,
        ),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(FRAMES, max_size=12))
def test_hostile_frames_never_crash_anything(frames: list[bytes]) -> None:
    async def run() -> None:
        async with ActorSystem(seed=1) as system:
            hub = LiveHub(system, {"counter": counter})
            await hub.start()
            live = LiveTest(system, hub)
            bystander = await live.mount("counter")
            socket = MemorySocket()
            transport = await start_transport(hub, socket)
            hello = b'{"kind":"hello","v":1,"seq":1,"versions":[1]}'
            for data in [hello, *frames]:
                if not transport.alive:
                    break
                await transport.ask(Receive(data))
            await asyncio.sleep(0)
            if not transport.alive:
                reason = system.info(transport).exit_reason
                assert reason == "normal", reason
                assert socket.close_code is not None
            assert all(not is_crash(r) for r in [s.exit_reason for s in await hub.sessions()] if r)
            await bystander.click("inc")  # the node still serves
            await hub.stop()

    asyncio.run(run())


async def test_render_from_the_browser_resyncs_the_view() -> None:
    async with live_test({"counter": counter}) as live:
        view = await live.mount("counter")
        await view.click("inc")
        renders = view.client.renders
        await view.send(Render())
        await view.wait_for(lambda: view.client.renders > renders, "a full render")
        assert '<b id="count">1</b>' in view.html()
