"""Run streams on the wire: `LFRS` RuntimeFrames for snapshots and events, SSE lines.

- snapshot: one finished FlatBuffer (not size-prefixed), kind `RunSnapshot`, `sequence` =
  the manifest's sequence (the `seq` of the last event), payload = the run as `RunView`.
- live events: size-prefixed frames of kind `RunEvent`, `sequence` = the event's `seq`
  (1, 2, 3, ...: strictly increasing), `timestamp_unix_ms` = its `ts_ms`, payload = the
  event's JSON line as stored in `events.jsonl`.
- SSE: `id: <seq>`, `event: <event name>`, `data: <event JSON>`; a last `event: end`.
See specs/runs-http.md §4.
"""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from lightflow_actors.flow import RunStatus, RunView

from ._frame import FILE_IDENTIFIER, FrameKind, RuntimeFrame, encode_runtime_frame

__all__ = [
    "FRAMES_MEDIA_TYPE",
    "RunStreamInfo",
    "StreamsInfo",
    "event_frame",
    "run_stream_info",
    "snapshot_frame",
    "sse_end",
    "sse_event",
    "streams_info",
]

FRAMES_MEDIA_TYPE = "application/x-lightflow-frames"
_encoder = msgspec.json.Encoder()


class RunStreamInfo(msgspec.Struct, frozen=True):
    """Where one run's stream is, relative to the server root."""

    run_id: str
    status: RunStatus
    sequence: int
    snapshot: str
    events: str
    sse: str


class StreamsInfo(msgspec.Struct, frozen=True):
    """`GET /runtime/streams`, `lightflow stream info`: the frame format and every run."""

    namespace: str
    root_type: str
    file_identifier: str
    version: int
    kinds: dict[str, int]
    framing: str
    schema: str
    media_type: str
    runs: list[RunStreamInfo]


def run_stream_info(view: RunView) -> RunStreamInfo:
    base = f"runtime/streams/{quote(view.run_id, safe='')}"
    return RunStreamInfo(
        run_id=view.run_id,
        status=view.status,
        sequence=view.sequence,
        snapshot=f"{base}/snapshot.fb",
        events=f"{base}/events",
        sse=f"{base}/events.sse",
    )


def streams_info(views: list[RunView]) -> StreamsInfo:
    return StreamsInfo(
        namespace="lightflow.runtime",
        root_type="RuntimeFrame",
        file_identifier=FILE_IDENTIFIER.decode(),
        version=1,
        kinds={kind.name: int(kind) for kind in FrameKind},
        framing="snapshot.fb: one finished buffer; events: uint32 little-endian size prefix "
        "before each buffer (flatc --size-prefixed)",
        schema="runtime/streams/schema.fbs",
        media_type=FRAMES_MEDIA_TYPE,
        runs=[run_stream_info(v) for v in views],
    )


def snapshot_frame(view: RunView) -> bytes:
    """The run as one `RunSnapshot` FlatBuffer (identifier `LFRS`)."""
    frame = RuntimeFrame(
        kind=FrameKind.RunSnapshot,
        run_id=view.run_id,
        status=view.status,
        sequence=view.sequence,
        timestamp_unix_ms=view.updated_at_ms,
        payload_json=_encoder.encode(view).decode(),
    )
    return encode_runtime_frame(frame)


def event_frame(run_id: str, status: str, seq: int, ts_ms: int, line: bytes) -> bytes:
    """One size-prefixed `RunEvent` frame carrying the stored event line."""
    frame = RuntimeFrame(
        kind=FrameKind.RunEvent,
        run_id=run_id,
        status=status,
        sequence=seq,
        timestamp_unix_ms=max(0, ts_ms),
        payload_json=line.decode("utf-8", "replace"),
    )
    return encode_runtime_frame(frame, size_prefixed=True)


def sse_event(seq: int, name: str, line: bytes) -> bytes:
    """One SSE message for an event (its JSON line has no newline by construction)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, name.encode(), line)


def sse_end(status: str) -> bytes:
    """The last SSE message: the run settled with `status`."""
    return b"event: end\ndata: %s\n\n" % _encoder.encode({"status": status})
