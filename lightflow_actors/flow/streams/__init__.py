"""Run streams: `LFRS` FlatBuffers RuntimeFrames (snapshots, events), their byte-stream
framing, and the SSE/NDJSON lines a watcher of a run receives (the run's Patch stream).
"""

from ._frame import (
    FILE_IDENTIFIER,
    RUNTIME_FBS,
    FrameKind,
    RuntimeFrame,
    decode_runtime_frame,
    encode_runtime_frame,
)
from ._run_frames import (
    FRAMES_MEDIA_TYPE,
    RunStreamInfo,
    StreamsInfo,
    event_frame,
    run_stream_info,
    snapshot_frame,
    sse_end,
    sse_event,
    streams_info,
)
from ._stream import RuntimeStreamReader, RuntimeStreamWriter, decode_runtime_stream

__all__ = [
    "FILE_IDENTIFIER",
    "FRAMES_MEDIA_TYPE",
    "RUNTIME_FBS",
    "FrameKind",
    "RunStreamInfo",
    "RuntimeFrame",
    "RuntimeStreamReader",
    "RuntimeStreamWriter",
    "StreamsInfo",
    "decode_runtime_frame",
    "decode_runtime_stream",
    "encode_runtime_frame",
    "event_frame",
    "run_stream_info",
    "snapshot_frame",
    "sse_end",
    "sse_event",
    "streams_info",
]
