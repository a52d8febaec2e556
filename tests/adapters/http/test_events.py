"""The lifecycle event stream: the stream actor, SSE framing, resume, gaps, lag, drain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest

from lightflow_actors import ActorSystem, LifecycleEvent
from lightflow_actors.adapters.http import EventStream, StreamEnd, StreamGap
from lightflow_actors.adapters.http._events import CloseStream, StreamItem, sse_frame

from ._actors import Worker

AUTH = {"Authorization": "Bearer test-token"}


async def drain(outbox: asyncio.Queue[StreamItem]) -> list[StreamItem]:
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    items = []
    while not outbox.empty():
        items.append(outbox.get_nowait())
    return items


@pytest.mark.anyio
async def test_fresh_stream_gets_only_new_events() -> None:
    async with ActorSystem() as system:
        system.spawn(Worker)
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = await system.start_actor(lambda: EventStream(outbox, None))
        assert await drain(outbox) == []
        later = system.spawn(Worker)
        items = await drain(outbox)
        assert [(e.kind, e.actor) for e in items if isinstance(e, LifecycleEvent)] == [
            ("spawned", later.id)
        ]
        stream.tell(CloseStream())
        await system.wait_exit(stream)
        assert (await drain(outbox))[-1] == StreamEnd(reason="closed")


@pytest.mark.anyio
async def test_resume_replays_the_ring_after_last_event_id_without_duplicates() -> None:
    async with ActorSystem() as system:
        workers = [system.spawn(Worker) for _ in range(5)]
        seqs = [e.seq for e in system.events(limit=0)]
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        await system.start_actor(lambda: EventStream(outbox, seqs[1]))
        system.kill(workers[0])
        await system.wait_exit(workers[0])
        items = await drain(outbox)
        got = [e.seq for e in items if isinstance(e, LifecycleEvent)]
        assert got == sorted(set(got))
        assert got[: len(seqs) - 2] == seqs[2:]
        assert items[-1].kind == "exited" and items[-1].reason == "killed"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_gap_when_the_ring_no_longer_holds_the_requested_events() -> None:
    async with ActorSystem(event_history=4) as system:
        for _ in range(10):
            system.spawn(Worker)
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        await system.start_actor(lambda: EventStream(outbox, 2))
        ring = system.events(limit=0)  # the stream's own spawn is in it too
        items = await drain(outbox)
        assert items[0] == StreamGap(requested=2, oldest=ring[0].seq)
        assert [i.seq for i in items[1:]] == [e.seq for e in ring]  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_lagging_client_is_cut_off() -> None:
    async with ActorSystem() as system:
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = await system.start_actor(lambda: EventStream(outbox, None, max_pending=5))
        for _ in range(20):
            system.spawn(Worker)
        assert await system.wait_exit(stream) == "normal"  # linked to the gateway: exit quietly
        items = await drain(outbox)
        assert len(items) == 6 and items[-1] == StreamEnd(reason="lagged")


@pytest.mark.anyio
async def test_a_killed_stream_unsubscribes_on_the_next_event() -> None:
    async with ActorSystem() as system:
        outbox: asyncio.Queue[StreamItem] = asyncio.Queue()
        stream = await system.start_actor(lambda: EventStream(outbox, None))
        system.kill(stream)
        await system.wait_exit(stream)
        before = system.dead_letters
        system.spawn(Worker)
        system.spawn(Worker)
        assert system.dead_letters == before  # the listener removed itself, nothing sent


def test_sse_frames() -> None:
    event = LifecycleEvent(
        seq=7, at_ms=1, kind="exited", actor=3, name=None, actor_kind="W", parent=1, reason="x"
    )
    frame = sse_frame(event).decode()
    assert frame.startswith("id: 7\nevent: exited\ndata: {")
    assert frame.endswith("}\n\n") and frame.count("\n") == 4
    assert msgspec.json.decode(frame.split("data: ", 1)[1]) == msgspec.to_builtins(event)
    assert sse_frame(StreamGap(1, 5)).decode() == 'event: gap\ndata: {"requested":1,"oldest":5}\n\n'
    assert sse_frame(StreamEnd("lagged")).decode() == 'event: end\ndata: {"reason":"lagged"}\n\n'


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str, Any]]:
    """Parse (id, event, data) frames from a streaming response."""
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        while "\n\n" in buffer:
            frame, buffer = buffer.split("\n\n", 1)
            fields: dict[str, str] = {}
            for line in frame.split("\n"):
                if line and not line.startswith(":") and ":" in line:
                    key, value = line.split(":", 1)
                    fields[key] = value.removeprefix(" ")
            if "data" in fields:
                yield fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])


@pytest.mark.anyio
async def test_sse_over_a_real_server_resumes_and_ends_on_shutdown(
    live_server: Callable[..., Any],
) -> None:
    async with (
        live_server(token="test-token", keepalive=0.2) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        assert (await client.get("/system/events")).status_code == 401
        tree = (await client.get("/system/tree")).json()
        start = (await client.get("/system")).json()["last_event_id"]
        headers = {**AUTH, "Last-Event-ID": "0"}
        seen: list[tuple[str | None, str, Any]] = []
        async with client.stream("GET", "/system/events", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for item in sse_events(response):
                seen.append(item)
                if item[0] is not None and int(item[0]) >= start:
                    break
        ids = [int(i) for i, _, _ in seen if i is not None]
        assert ids == list(range(1, start + 1))
        assert {d["actor"] for _, kind, d in seen if kind == "spawned"} >= {
            n["id"] for n in tree["nodes"] if n["actor_class"] != "EventStream"
        }

        # A stream left open ends with `event: end` when the server shuts down.
        ended: list[str] = []
        opened = asyncio.Event()

        async def follow() -> None:
            async with client.stream("GET", "/system/events", headers=AUTH) as response:
                opened.set()  # headers are sent once the stream actor exists
                async for _, kind, data in sse_events(response):
                    if kind == "end":
                        ended.append(data["reason"])

        follower = asyncio.create_task(follow())
        await asyncio.wait_for(opened.wait(), 10)
        stopped = await server.stop()
        await asyncio.wait_for(follower, 10)
        assert ended == ["closed"]
        assert stopped.actors_left == 0
