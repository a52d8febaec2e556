"""Wire codecs: frames to bytes and back, as JSON (text) or msgpack (binary).

Decoding is done once, by msgspec, against the ``Frame`` union; any failure raises
``FrameDecodeError`` carrying the error-frame code, msgspec's message and the path
of the bad field. No input bytes make a decoder raise anything else.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar, Final, Literal

import msgspec

from ._errors import FrameDecodeError, FrameEncodeError, PayloadError, validation_path
from ._frames import PROTOCOL_VERSION, Frame, InstructionFrame
from ._instructions import Mount, Patch, Render, Submit
from ._json import MAX_JSON_DEPTH, check_json_value

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "JsonCodec", "MsgpackCodec", "WireCodec"]

DEFAULT_MAX_FRAME_BYTES: Final = 1 << 20

# The frame envelope adds two levels (frame, instruction) above a payload.
_JSON_SCREEN_BRACKETS: Final = MAX_JSON_DEPTH + 2
# Twenty digits in a row, found by mapping every digit to "0" and every other byte to " "
# and searching for the run: a C-speed scan (a regex takes ~15x longer on a 40 KB frame of
# base64, as an upload chunk is).
_DIGITS_ONLY: Final = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS: Final = b"0" * 20

_VERSION_SETS: dict[tuple[int, ...], frozenset[int]] = {}


def version_set(versions: Collection[int]) -> frozenset[int]:
    """`versions` as a frozenset, one shared by every codec and connection given the same
    versions (a frozenset is 216 bytes, and a node holds a codec and a connection per
    open live socket). At most 64 distinct sets are kept; others are made anew."""
    key = tuple(versions)
    found = _VERSION_SETS.get(key)
    if found is None:
        found = frozenset(key)
        if len(_VERSION_SETS) < 64:
            _VERSION_SETS[key] = found
    return found


class _Envelope(msgspec.Struct):
    """The stable part of every frame, read leniently to explain a failed decode."""

    v: object = None
    seq: object = None


class WireCodec:
    """Encode and decode frames; subclasses choose the format.

    ``versions`` are the protocol versions this peer understands: a frame that
    fails to decode and names another version is reported as
    ``unsupported_version`` rather than as a malformed frame.
    """

    format: ClassVar[Literal["json", "msgpack"]]

    def __init__(
        self,
        *,
        versions: Collection[int] = (PROTOCOL_VERSION,),
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.versions = version_set(versions)
        self.max_frame_bytes = max_frame_bytes

    def _encode(self, frame: Frame) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> Frame:
        raise NotImplementedError

    def _decode_envelope(self, data: bytes) -> _Envelope:
        raise NotImplementedError

    def encode(self, frame: Frame) -> bytes:
        """The frame's bytes; raises ``FrameEncodeError`` for a non-encodable value."""
        try:
            return self._encode(frame)
        except (TypeError, ValueError, OverflowError) as exc:
            raise FrameEncodeError(
                f"cannot encode {type(frame).__name__} as {self.format}: {exc}"
            ) from exc

    def decode(self, data: bytes) -> Frame:
        """The frame in ``data``; raises ``FrameDecodeError`` (never anything else)."""
        if len(data) > self.max_frame_bytes:
            raise FrameDecodeError(
                "frame_too_large",
                f"frame of {len(data)} bytes exceeds the limit of {self.max_frame_bytes}",
            )
        try:
            frame = self._decode(data)
        except msgspec.ValidationError as exc:
            raise self._explain(data, str(exc), validation_path(str(exc))) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgpack strings that are not UTF-8 surface as UnicodeDecodeError.
            raise self._explain(data, str(exc), None) from None
        except RecursionError:
            # msgspec refuses about a thousand levels of nesting this way.
            raise FrameDecodeError("malformed_frame", "frame nests too deeply") from None
        if isinstance(frame, InstructionFrame) and self._may_hold_non_json(data):
            _check_payloads(frame)
        return frame

    def _may_hold_non_json(self, data: bytes) -> bool:
        """Whether decoded payloads must be walked by ``check_json_value``."""
        return True

    def _explain(self, data: bytes, message: str, path: str | None) -> FrameDecodeError:
        """Turn a msgspec failure into the error a peer should receive."""
        try:
            envelope = self._decode_envelope(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return FrameDecodeError("malformed_frame", message, path)
        ref = _seq_or_none(envelope.seq)
        version = envelope.v
        if (
            isinstance(version, int)
            and not isinstance(version, bool)
            and version not in self.versions
        ):
            spoken = ", ".join(str(v) for v in sorted(self.versions))
            return FrameDecodeError(
                "unsupported_version",
                f"protocol version {version} is not supported; this peer speaks {spoken}",
                "$.v",
                ref,
            )
        return FrameDecodeError("malformed_frame", message, path, ref)


def _seq_or_none(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63:
        return value
    return None


def _check_payloads(frame: InstructionFrame) -> None:
    """Reject non-JSON payload values a permissive decode let through (msgpack bin,
    ext, int keys; integers beyond 64 bits in JSON), naming their path."""
    instruction = frame.instruction
    try:
        match instruction:
            case Mount():
                check_json_value(instruction.params, "$.instruction.params")
            case Render():
                check_json_value(instruction.view, "$.instruction.view")
            case Patch():
                check_json_value(instruction.diff, "$.instruction.diff")
            case Submit():
                check_json_value(instruction.payload, "$.instruction.payload")
            case _:
                pass
    except PayloadError as exc:
        raise FrameDecodeError("malformed_frame", str(exc), exc.path, frame.seq) from None


class JsonCodec(WireCodec):
    """Frames as JSON text (WebSocket text messages, NDJSON lines)."""

    format = "json"

    def __init__(
        self,
        *,
        versions: Collection[int] = (PROTOCOL_VERSION,),
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        super().__init__(versions=versions, max_frame_bytes=max_frame_bytes)
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[Frame] = msgspec.json.Decoder(Frame)
        self._envelope = msgspec.json.Decoder(_Envelope)

    def _encode(self, frame: Frame) -> bytes:
        return self._encoder.encode(frame)

    def _decode(self, data: bytes) -> Frame:
        return self._decoder.decode(data)

    def _decode_envelope(self, data: bytes) -> _Envelope:
        return self._envelope.decode(data)

    def _may_hold_non_json(self, data: bytes) -> bool:
        # Decoded JSON holds only JSON types, and msgspec refuses non-finite numbers;
        # what remains is integers beyond 64 bits (20+ digits) and nesting deeper
        # than the limit (which needs more opening brackets than the limit). Both
        # screens run in C; a false alarm only costs the full walk.
        return data.count(b"[") + data.count(
            b"{"
        ) > _JSON_SCREEN_BRACKETS or _LONG_DIGITS in data.translate(_DIGITS_ONLY)


class MsgpackCodec(WireCodec):
    """Frames as msgpack (WebSocket binary messages)."""

    format = "msgpack"

    def __init__(
        self,
        *,
        versions: Collection[int] = (PROTOCOL_VERSION,),
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        super().__init__(versions=versions, max_frame_bytes=max_frame_bytes)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[Frame] = msgspec.msgpack.Decoder(Frame)
        self._envelope = msgspec.msgpack.Decoder(_Envelope)

    def _encode(self, frame: Frame) -> bytes:
        return self._encoder.encode(frame)

    def _decode(self, data: bytes) -> Frame:
        return self._decoder.decode(data)

    def _decode_envelope(self, data: bytes) -> _Envelope:
        return self._envelope.decode(data)
