"""`RunTail`: one open run stream, following `events.jsonl` and queueing encoded chunks.

The journal is the source of truth (a run may be driven by this process, another one, or
be finished), so the tail reads it: complete lines only, from a byte offset, a bounded
number per poll and only while its queue has room, so a slow client never makes it read
the file into memory. It ends the stream (None) once the manifest says the run settled
and every event up to the manifest's sequence was queued.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec

from lightflow_actors.flow import RunStore
from lightflow_actors.flow.streams import event_frame, sse_end, sse_event
from lightflow_actors.kernel import Actor, handler

from ._messages import CloseTail, StreamMode

__all__ = ["QUEUE_SIZE", "RunTail", "read_complete_lines"]

QUEUE_SIZE = 256
"""Chunks a tail queues ahead of its reader (plus the end marker and None)."""
_READ_BYTES = 256 * 1024
_MAX_READ_BYTES = 32 << 20
_SETTLED = ("succeeded", "failed", "cancelled")


class _Poll(msgspec.Struct, frozen=True):
    pass


class _EventHead(msgspec.Struct):
    """The fields of an event line a stream needs (the rest is passed through)."""

    seq: int
    event: str
    ts_ms: int = 0


_head = msgspec.json.Decoder(_EventHead)


class RunTail(Actor[_Poll | CloseTail]):
    """Queue the events of `run_id` after `after` (frames or SSE) until the run settles."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        after: int,
        mode: StreamMode,
        queue: asyncio.Queue[bytes | None],
        poll_interval_s: float = 0.05,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._last = after
        self._mode = mode
        self._queue = queue
        self._poll_interval_s = poll_interval_s
        self._path: Path = store.run_dir(run_id) / "events.jsonl"
        self._offset = 0

    def on_start(self) -> None:
        self.ref.tell(_Poll())

    @handler
    def close(self, msg: CloseTail) -> None:
        self.stop()

    @handler
    async def poll(self, msg: _Poll) -> None:
        room = QUEUE_SIZE - self._queue.qsize()
        if room > 0:
            lines, self._offset = await self.run_blocking(
                read_complete_lines, self._path, self._offset, room
            )
            manifest = await self.run_blocking(self._store.manifest, self._run_id)
            status = manifest.status
            for line in lines:
                try:
                    head = _head.decode(line)
                except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                    continue  # not written by the store; nothing to stream
                if head.seq <= self._last:
                    continue
                self._last = head.seq
                if self._mode == "frames":
                    chunk = event_frame(self._run_id, status, head.seq, head.ts_ms, line)
                else:
                    chunk = sse_event(head.seq, head.event, line)
                self._queue.put_nowait(chunk)
            if status in _SETTLED and self._last >= manifest.sequence:
                if self._mode == "sse":
                    self._queue.put_nowait(sse_end(status))
                self._queue.put_nowait(None)
                self.stop()
                return
        self.send_after(self._poll_interval_s, self.ref, _Poll())

    def on_stop(self, reason: object) -> None:
        # However the tail ends (closed, crashed), its reader must not wait forever; the
        # queue is unbounded (the tail bounds itself), so this never blocks or fails.
        self._queue.put_nowait(None)


def read_complete_lines(path: Path, offset: int, limit: int) -> tuple[list[bytes], int]:
    """Up to `limit` complete lines of a journal from byte `offset`; returns them and the
    offset after the last one (an unterminated tail is left for the next read)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = _READ_BYTES
        data = os.pread(fd, size, offset)
        while b"\n" not in data and len(data) == size and size < _MAX_READ_BYTES:
            size *= 2  # one line longer than the window: widen it
            data = os.pread(fd, size, offset)
    finally:
        os.close(fd)
    lines: list[bytes] = []
    start = 0
    while len(lines) < limit:
        end = data.find(b"\n", start)
        if end < 0:
            break  # an unterminated tail: being written, or torn by a crash
        if end > start:
            lines.append(data[start:end])
        start = end + 1
    return lines, offset + start
