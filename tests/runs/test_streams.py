"""Run streams: the tail follows events.jsonl (complete lines only, long lines, a torn
tail) and ends when the run settles; frames carry increasing sequence numbers."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.flow import AssetCatalog, FlowService, RunStore, RunView, cancel_run
from lightflow_actors.flow.streams import (
    RuntimeStreamReader,
    decode_runtime_frame,
    event_frame,
    snapshot_frame,
)
from lightflow_actors.flow.streams._run_frames import sse_end, sse_event
from lightflow_actors.runs import CloseTail, CreateRun, OpenStream, RunTail

from ._support import ASSETS, RunsEnv

pytestmark = pytest.mark.anyio


class Clock:
    def wall_ms(self) -> int:
        return 1_800_000_000_000


def planned_run(state: Path, run_id: str = "s1") -> RunStore:
    store = RunStore(state)
    service = FlowService(AssetCatalog.scan(ASSETS), store, Clock(), random.Random(0))
    try:
        service.create("greet", b'{"name": "s"}', run_id=run_id)
    finally:
        service.evaluator.close()  # its fork server is a process: not left to the GC
    return store


async def drain(queue: asyncio.Queue[bytes | None]) -> list[bytes]:
    out = []
    while (item := await asyncio.wait_for(queue.get(), 10)) is not None:
        out.append(item)
    return out


async def test_the_tail_waits_for_complete_lines_and_ends_when_settled(tmp_path: Path) -> None:
    store = planned_run(tmp_path)
    events = store.run_dir("s1") / "events.jsonl"
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    async with ActorSystem() as system:
        system.spawn(lambda: RunTail(store, "s1", 0, "frames", queue, poll_interval_s=0.01))
        first = await asyncio.wait_for(queue.get(), 5)
        assert first is not None
        # A torn (unterminated) line, as a crash leaves it: never streamed.
        with events.open("ab") as f:
            f.write(b'{"event": "step.subm')
        await asyncio.sleep(0.05)
        assert queue.empty()
        # The next append cuts the torn tail off first; the run settles (cancelled) with
        # an event line longer than the tail's read window.
        store.update("s1", lambda m: cancel_run(m, reason="x" * 300_000, now_ms=2))
        rest = await drain(queue)
    frames = RuntimeStreamReader().feed(first + b"".join(rest))
    assert [f.sequence for f in frames] == [1, 2]
    assert frames[1].payload()["event"] == "run.cancelled"  # type: ignore[index]
    assert frames[1].status == "cancelled"


async def test_a_closed_tail_ends_its_stream(tmp_path: Path) -> None:
    store = planned_run(tmp_path)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    async with ActorSystem() as system:
        tail = system.spawn(lambda: RunTail(store, "s1", 1, "sse", queue, poll_interval_s=0.01))
        await asyncio.sleep(0.05)
        tail.tell(CloseTail())
        assert await drain(queue) == []  # after=1: the only event was skipped


async def test_streams_through_the_host(runs_env: RunsEnv, host) -> None:
    async with host() as hosting:
        await hosting.call(CreateRun("chain", b"{}", "c1"))
        handle = await hosting.call(OpenStream("c1", 0, "sse"))
        text = b"".join(await drain(handle.queue)).decode()
    ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert ids == list(range(1, 22))
    assert text.endswith('event: end\ndata: {"status":"succeeded"}\n\n')


def test_frames_and_sse_messages() -> None:
    line = b'{"event":"run.created","seq":1,"ts_ms":5}'
    frame = decode_runtime_frame(event_frame("r", "planned", 1, 5, line), size_prefixed=True)
    assert (frame.kind.name, frame.sequence, frame.timestamp_unix_ms) == ("RunEvent", 1, 5)
    assert frame.payload_json == line.decode()
    assert (
        sse_event(1, "run.created", line) == b"id: 1\nevent: run.created\ndata: " + line + b"\n\n"
    )
    assert sse_end("failed") == b'event: end\ndata: {"status":"failed"}\n\n'
    view = RunView("r", "w", "planned", False, 1, 2, 3, ())
    snap = decode_runtime_frame(snapshot_frame(view))
    assert msgspec.json.decode(snap.payload_json, type=RunView) == view
