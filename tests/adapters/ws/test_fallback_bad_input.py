"""Hostile input to the HTTP transports: POST bodies and poll queries (hypothesis).

Random bytes, invalid UTF-8, deeply nested JSON, oversized bodies, too many frames in
one POST, mutated frames, nonsense `conn` and `since` values: each gets a typed answer
(204, 400, 403, 410, 413 with ``{"error": …}``) or error frames on the connection,
never a crash; a connection that ends ends with a close code, and the server goes on
serving new connections.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem, is_crash
from lightflow_actors.adapters.ws import FallbackConfig, LiveRoutes
from lightflow_actors.live import LiveHub
from lightflow_actors.live_examples.counter import counter

HELLO = b'{"kind":"hello","v":1,"seq":1,"versions":[1]}'
LIMITS = FallbackConfig(poll_timeout=0.05, max_post_bytes=8192, max_post_frames=8)
KNOWN_CODES = {
    "malformed_frame",
    "unexpected_frame",
    "unsupported_version",
    "frame_too_large",
    "not_negotiated",
    "bad_sequence",
    "bad_ack",
    "too_many_errors",
    "heartbeat_timeout",
    "unauthorized",
}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _frame(instruction: object, seq: int) -> bytes:
    return json.dumps(
        {"kind": "instruction", "v": 1, "seq": seq, "instruction": instruction}
    ).encode()


LINES = st.one_of(
    st.binary(max_size=300),  # random bytes, invalid UTF-8 among them
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # deeply nested
    st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.builds(_frame, JSON_VALUES, st.integers(-5, 2**64)),
    st.sampled_from(
        [
            b'{"kind":"instruction","v":1,"seq":2,"instruction":{"op":"submit","event":"\xff\xfe","payload":{}}}',
            b'{"kind":"instruction","v":1,"seq":2,"instruction":{"op":"render"}}',
            b'{"kind":"ack","v":1,"seq":3,"upto":99}',
            b'{"kind":"ping","v":2,"seq":4}',
            b'{"kind":"close","v":1,"seq":5}',
            b"\xed\xa0\x80",  # a UTF-8-encoded surrogate
            b"\x00" * 64,
        ]
    ),
)
BODIES = st.one_of(
    st.lists(LINES, max_size=10).map(b"\n".join),
    st.integers(8193, 20_000).map(lambda n: b"x" * n),  # over max_post_bytes
)


async def _open(http: httpx.AsyncClient) -> str:
    opened = await http.post("/live/poll")
    assert opened.status_code == 200, opened.text
    conn: str = opened.json()["conn"]
    sent = await http.post("/live/poll", params={"conn": conn}, content=HELLO)
    assert sent.status_code == 204
    return conn


async def _drain(http: httpx.AsyncClient, conn: str) -> tuple[list[dict[str, object]], object]:
    """Every frame the server wrote, and its close (None while open)."""
    frames: list[dict[str, object]] = []
    since = 0
    while True:
        answer = await http.get("/live/poll", params={"conn": conn, "since": str(since)})
        if answer.status_code == 410:
            return frames, "gone"
        assert answer.status_code == 200, answer.text
        body = answer.json()
        frames.extend(json.loads(text) for text in body["frames"])
        since = body["next"]
        if body.get("close") is not None:
            return frames, body["close"]
        if not body["frames"]:
            return frames, None


def _run(body: bytes) -> None:
    async def run() -> None:
        async with ActorSystem(seed=1) as system:
            hub = LiveHub(system, {"counter": counter})
            routes = LiveRoutes(hub, fallback=LIMITS)
            from starlette.applications import Starlette
            from starlette.routing import Mount

            app = Starlette(routes=[Mount("/live", routes=routes.routes)])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                conn = await _open(http)
                posted = await http.post("/live/poll", params={"conn": conn}, content=body)
                assert posted.status_code in (204, 410, 413), posted.text
                if posted.status_code != 204:
                    assert isinstance(posted.json()["error"], str)
                frames, close = await _drain(http, conn)
                for frame in frames:
                    if frame["kind"] == "error":
                        assert frame["code"] in KNOWN_CODES, frame
                if posted.status_code == 413:
                    assert close == [1009, "a POST of frames was too large"] or close == "gone"
                # Nothing crashed: sessions and transports ended normally if at all.
                for ref in [*await hub.sessions(), *await hub.transports()]:
                    reason = system.info(ref).exit_reason
                    assert reason is None or not is_crash(reason), reason
                # The server still serves: a new connection is welcomed.
                again = await _open(http)
                welcome, _ = await _drain(http, again)
                assert welcome[0]["kind"] == "welcome"
            await hub.stop()

    asyncio.run(run())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODIES)
def test_hostile_post_bodies_get_typed_answers(body: bytes) -> None:
    _run(body)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80), st.text(max_size=40))
def test_hostile_poll_queries_get_typed_answers(conn: str, since: str) -> None:
    async def run() -> None:
        async with ActorSystem(seed=2) as system:
            hub = LiveHub(system, {"counter": counter})
            routes = LiveRoutes(hub, fallback=LIMITS)
            from starlette.applications import Starlette
            from starlette.routing import Mount

            app = Starlette(routes=[Mount("/live", routes=routes.routes)])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                real = await _open(http)
                for which in (conn, real):
                    answer = await http.get("/live/poll", params={"conn": which, "since": since})
                    assert answer.status_code in (200, 400, 410), answer.text
                    if answer.status_code != 200:
                        assert isinstance(answer.json()["error"], str)
                    else:
                        msgspec.json.decode(answer.content)
                    deleted = await http.delete("/live/sse", params={"conn": which})
                    assert deleted.status_code in (400, 410)  # a poll id is no SSE connection
            await hub.stop()

    asyncio.run(run())
