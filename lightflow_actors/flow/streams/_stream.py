"""Streams of RuntimeFrames on one byte stream: a sequencing writer and a framing reader.

On the byte stream every frame is a FlatBuffers size-prefixed buffer (a
little-endian uint32 length, then the frame), so ``flatc --size-prefixed`` and
other FlatBuffers readers understand it. The writer numbers frames 1, 2, 3, ...;
the reader reassembles frames from arbitrary chunks and checks the numbering.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

import msgspec

from lightflow_actors.isa import JSONValue, RuntimeFrameError

from ._frame import FrameKind, RuntimeFrame, decode_runtime_frame, encode_runtime_frame

__all__ = ["RuntimeStreamReader", "RuntimeStreamWriter", "decode_runtime_stream"]

DEFAULT_MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
_U64_MAX: Final = 0xFFFF_FFFF_FFFF_FFFF
_JSON = msgspec.json.Encoder()


class RuntimeStreamWriter:
    """Frames for one run's stream, with strictly increasing sequence numbers.

    ``now_ms`` stamps each frame (pass ``system.clock.wall_ms``). ``first`` is the
    sequence number of the first frame (continue a stream after a restart by
    passing the last number written + 1).

    >>> writer = RuntimeStreamWriter("run-1", now_ms=lambda: 1700000000000)
    >>> frame = writer.frame(FrameKind.RunEvent, "running", {"event": "run.created"})
    >>> decode_runtime_stream(frame)[0].sequence
    1
    """

    def __init__(self, run_id: str, *, now_ms: Callable[[], int], first: int = 1) -> None:
        if not 0 <= first <= _U64_MAX:
            raise RuntimeFrameError(f"first sequence {first} does not fit an unsigned 64-bit field")
        self.run_id = run_id
        self._now_ms = now_ms
        self._next = first

    @property
    def next_sequence(self) -> int:
        """The sequence number the next frame will carry."""
        return self._next

    def frame(self, kind: FrameKind, status: str, payload: JSONValue) -> bytes:
        """The next frame, size-prefixed, carrying ``payload`` as JSON."""
        try:
            payload_json = _JSON.encode(payload).decode("utf-8")
        except (TypeError, ValueError, OverflowError) as exc:
            raise RuntimeFrameError(f"payload is not JSON-encodable: {exc}") from None
        return self.encode(
            RuntimeFrame(
                kind=kind,
                run_id=self.run_id,
                status=status,
                sequence=self._next,
                timestamp_unix_ms=self._now_ms(),
                payload_json=payload_json,
            )
        )

    def encode(self, frame: RuntimeFrame) -> bytes:
        """``frame`` size-prefixed, its sequence replaced by the next number."""
        if self._next > _U64_MAX:
            raise RuntimeFrameError("sequence numbers of this stream are exhausted")
        data = encode_runtime_frame(
            msgspec.structs.replace(frame, sequence=self._next), size_prefixed=True
        )
        self._next += 1
        return data


class RuntimeStreamReader:
    """Reassemble size-prefixed RuntimeFrames from chunks of a byte stream.

    Every frame must have a higher ``sequence`` than the one before it. A length
    prefix above ``max_frame_bytes`` is rejected before anything is buffered.
    After a ``RuntimeFrameError`` the reader is poisoned: the stream cannot be
    resynchronised, so open a new one.
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.last_sequence: int | None = None
        self._buffer = bytearray()
        self._failed: RuntimeFrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RuntimeFrame]:
        """Frames completed by ``data`` (possibly none, possibly several)."""
        if self._failed is not None:
            raise RuntimeFrameError(f"stream already failed: {self._failed}")
        self._buffer += data
        frames: list[RuntimeFrame] = []
        try:
            while len(self._buffer) >= 4:
                (size,) = struct.unpack_from("<I", self._buffer, 0)
                if size > self.max_frame_bytes:
                    raise RuntimeFrameError(
                        f"frame of {size} bytes exceeds the limit of {self.max_frame_bytes}"
                    )
                if len(self._buffer) < 4 + size:
                    break
                chunk = bytes(self._buffer[: 4 + size])
                del self._buffer[: 4 + size]
                frame = decode_runtime_frame(chunk, size_prefixed=True)
                self._check_sequence(frame)
                frames.append(frame)
        except RuntimeFrameError as exc:
            self._failed = exc
            raise
        return frames

    def close(self) -> None:
        """Declare the end of the stream; raises if a frame was cut short."""
        if self._buffer:
            raise RuntimeFrameError(
                f"stream ended inside a frame ({len(self._buffer)} bytes left over)"
            )

    def _check_sequence(self, frame: RuntimeFrame) -> None:
        if self.last_sequence is not None and frame.sequence <= self.last_sequence:
            raise RuntimeFrameError(
                f"sequence {frame.sequence} does not increase on {self.last_sequence}"
            )
        self.last_sequence = frame.sequence


def decode_runtime_stream(
    data: bytes, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
) -> list[RuntimeFrame]:
    """Every frame of a complete stream; raises ``RuntimeFrameError`` if it is cut short."""
    reader = RuntimeStreamReader(max_frame_bytes=max_frame_bytes)
    frames = reader.feed(data)
    reader.close()
    return frames
