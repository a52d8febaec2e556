"""FlatBuffers ``lightflow.runtime.RuntimeFrame``: snapshot and event frames of a run.

The schema is ``specs/runtime.fbs`` (``RUNTIME_FBS`` below is the same text, served
at ``/runtime/streams/schema.fbs``). Encoding uses the ``flatbuffers`` builder;
decoding first verifies every offset, length and the ``LFRS`` identifier against
the buffer, because flatbuffers' Python reader does no bounds checking: arbitrary
bytes must raise ``RuntimeFrameError``, never IndexError or struct.error.
"""

from __future__ import annotations

import enum
import struct
from typing import Annotated, Final

import flatbuffers
import msgspec
from flatbuffers import number_types
from flatbuffers.table import Table

from lightflow_actors.isa import JSONValue, PayloadError, RuntimeFrameError, check_json_value

__all__ = [
    "FILE_IDENTIFIER",
    "RUNTIME_FBS",
    "FrameKind",
    "RuntimeFrame",
    "decode_runtime_frame",
    "encode_runtime_frame",
]

FILE_IDENTIFIER: Final = b"LFRS"
RUNTIME_FRAME_VERSION: Final = 1

RUNTIME_FBS: Final = """\
// LightFlow runtime frames: run snapshots, run events, run traces and previews.
// Normative; lightflow_actors/flow/streams/_frame.py encodes and decodes exactly this.
// A stream is a concatenation of size-prefixed buffers (flatc --size-prefixed):
// a little-endian uint32 length, then one finished RuntimeFrame buffer.
//
// `kind` is declared `= null` (an optional scalar): flatc rejects an enum field
// whose implicit default 0 is not an enum value. The binary layout is the one of
// `kind:FrameKind;` -- writers always store kind, and a reader treats a missing
// kind as an error instead of inventing one.

namespace lightflow.runtime;

enum FrameKind:ubyte {
  RunSnapshot = 1,
  RunEvent = 2,
  RunTrace = 3,
  Preview = 4
}

table RuntimeFrame {
  version:ushort = 1;
  kind:FrameKind = null;
  run_id:string;
  status:string;
  sequence:ulong;
  timestamp_unix_ms:ulong;
  payload_json:string;
}

root_type RuntimeFrame;
file_identifier "LFRS";
"""


class FrameKind(enum.IntEnum):
    """``lightflow.runtime.FrameKind``."""

    RunSnapshot = 1
    RunEvent = 2
    RunTrace = 3
    Preview = 4


U16 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
U64 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFF_FFFF_FFFF_FFFF)]


class RuntimeFrame(msgspec.Struct, frozen=True, kw_only=True):
    """One ``lightflow.runtime.RuntimeFrame`` table, field for field."""

    version: U16 = RUNTIME_FRAME_VERSION
    kind: FrameKind
    run_id: str
    status: str
    sequence: U64 = 0
    timestamp_unix_ms: U64 = 0
    payload_json: str = ""

    def payload(self) -> JSONValue:
        """``payload_json`` decoded; raises ``RuntimeFrameError`` if it is not JSON."""
        try:
            value: JSONValue = msgspec.json.decode(self.payload_json)
            check_json_value(value)
        except (msgspec.DecodeError, PayloadError, RecursionError) as exc:
            reason = str(exc) or "it nests too deeply"
            raise RuntimeFrameError(f"payload_json is not valid JSON: {reason}") from None
        return value


# Field slots in declaration order; the vtable offset of slot i is 4 + 2 * i.
_VERSION, _KIND, _RUN_ID, _STATUS, _SEQUENCE, _TIMESTAMP, _PAYLOAD = range(7)
_FIELD_SIZES: Final = (2, 1, 4, 4, 8, 8, 4)
_STRING_SLOTS: Final = (_RUN_ID, _STATUS, _PAYLOAD)


def encode_runtime_frame(frame: RuntimeFrame, *, size_prefixed: bool = False) -> bytes:
    """The finished FlatBuffer (identifier ``LFRS``), optionally size-prefixed."""
    _check_ranges(frame)
    try:
        strings = [s.encode("utf-8") for s in (frame.run_id, frame.status, frame.payload_json)]
    except UnicodeEncodeError as exc:
        raise RuntimeFrameError(f"frame holds a string that is not valid UTF-8: {exc}") from None
    builder = flatbuffers.Builder(64 + sum(len(s) for s in strings))
    # Strings are created before the table starts (FlatBuffers builds back to front).
    payload, status, run_id = (builder.CreateString(s) for s in reversed(strings))
    builder.StartObject(7)
    builder.PrependUint64Slot(_TIMESTAMP, frame.timestamp_unix_ms, 0)
    builder.PrependUint64Slot(_SEQUENCE, frame.sequence, 0)
    builder.PrependUOffsetTRelativeSlot(_PAYLOAD, payload, 0)
    builder.PrependUOffsetTRelativeSlot(_STATUS, status, 0)
    builder.PrependUOffsetTRelativeSlot(_RUN_ID, run_id, 0)
    builder.PrependUint16Slot(_VERSION, frame.version, RUNTIME_FRAME_VERSION)
    # Optional scalar: always stored (a default of None means "never omitted").
    builder.PrependUint8Slot(_KIND, int(frame.kind), None)
    root = builder.EndObject()
    if size_prefixed:
        builder.FinishSizePrefixed(root, FILE_IDENTIFIER)
    else:
        builder.Finish(root, FILE_IDENTIFIER)
    return bytes(builder.Output())


def _check_ranges(frame: RuntimeFrame) -> None:
    """Out-of-range scalars would make the builder raise struct.error; name them."""
    for name, value, bits in (
        ("version", frame.version, 16),
        ("sequence", frame.sequence, 64),
        ("timestamp_unix_ms", frame.timestamp_unix_ms, 64),
    ):
        if not 0 <= value < 1 << bits:
            raise RuntimeFrameError(f"{name}={value} does not fit an unsigned {bits}-bit field")
    if frame.kind not in FrameKind.__members__.values():
        raise RuntimeFrameError(f"kind={frame.kind!r} is not a FrameKind (1-4)")


def decode_runtime_frame(data: bytes, *, size_prefixed: bool = False) -> RuntimeFrame:
    """Verify and read one RuntimeFrame; raises ``RuntimeFrameError`` on any defect."""
    buf = bytes(data)
    if size_prefixed:
        if len(buf) < 4:
            raise RuntimeFrameError("size-prefixed frame is shorter than its 4-byte prefix")
        (size,) = struct.unpack_from("<I", buf, 0)
        if size != len(buf) - 4:
            raise RuntimeFrameError(
                f"size prefix says {size} bytes but {len(buf) - 4} follow; truncated or joined"
            )
        buf = buf[4:]
    table, fields = _verify(buf)
    return _read(table, fields)


def _verify(buf: bytes) -> tuple[Table, list[int]]:
    """Check identifier, root table, vtable and every field lies inside ``buf``.

    Returns the table and each slot's absolute position (0 when the slot is absent).
    """
    size = len(buf)
    if size < 8:
        raise RuntimeFrameError(f"{size} bytes is too short for a RuntimeFrame")
    if buf[4:8] != FILE_IDENTIFIER:
        found = buf[4:8]
        raise RuntimeFrameError(f"file identifier is {found!r}, expected {FILE_IDENTIFIER!r}")
    (root,) = struct.unpack_from("<I", buf, 0)
    table_pos = root
    if root < 8 or table_pos + 4 > size:
        raise RuntimeFrameError(f"root table offset {root} lies outside the {size}-byte buffer")
    (soffset,) = struct.unpack_from("<i", buf, table_pos)
    vtable_pos = table_pos - soffset
    if vtable_pos < 0 or vtable_pos + 4 > size or vtable_pos % 2:
        raise RuntimeFrameError(f"vtable position {vtable_pos} lies outside the buffer")
    vtable_size, table_size = struct.unpack_from("<HH", buf, vtable_pos)
    if vtable_size < 4 or vtable_size % 2 or vtable_pos + vtable_size > size:
        raise RuntimeFrameError(f"vtable size {vtable_size} is invalid for this buffer")
    if table_size < 4 or table_pos + table_size > size:
        raise RuntimeFrameError(f"table size {table_size} runs past the end of the buffer")
    positions: list[int] = []
    for slot, width in enumerate(_FIELD_SIZES):
        entry = 4 + 2 * slot
        voffset = struct.unpack_from("<H", buf, vtable_pos + entry)[0] if entry < vtable_size else 0
        if voffset and (voffset < 4 or voffset + width > table_size):
            raise RuntimeFrameError(f"field {slot} at offset {voffset} runs past its table")
        positions.append(table_pos + voffset if voffset else 0)
    for slot in _STRING_SLOTS:
        if positions[slot]:
            _verify_string(buf, positions[slot], slot)
    return Table(bytearray(buf), table_pos), positions


def _verify_string(buf: bytes, field_pos: int, slot: int) -> None:
    (offset,) = struct.unpack_from("<I", buf, field_pos)
    string_pos = field_pos + offset
    if offset == 0 or string_pos + 4 > len(buf):
        raise RuntimeFrameError(f"string field {slot} points outside the buffer")
    (length,) = struct.unpack_from("<I", buf, string_pos)
    end = string_pos + 4 + length
    if end + 1 > len(buf) or buf[end] != 0:
        raise RuntimeFrameError(
            f"string field {slot} of {length} bytes runs past the buffer or lacks its NUL"
        )


def _read(table: Table, positions: list[int]) -> RuntimeFrame:
    """Read the verified fields through flatbuffers' own accessors."""
    version = (
        table.Get(number_types.Uint16Flags, positions[_VERSION])
        if positions[_VERSION]
        else RUNTIME_FRAME_VERSION
    )
    if version != RUNTIME_FRAME_VERSION:
        raise RuntimeFrameError(
            f"RuntimeFrame version {version} is not supported; this reader knows version 1"
        )
    if not positions[_KIND]:
        raise RuntimeFrameError("RuntimeFrame has no kind; writers must always store it")
    kind = table.Get(number_types.Uint8Flags, positions[_KIND])
    if kind not in FrameKind.__members__.values():
        raise RuntimeFrameError(f"kind {kind} is not a FrameKind (1-4)")
    texts: list[str] = []
    for slot in _STRING_SLOTS:
        raw = table.String(positions[slot]) if positions[slot] else b""
        try:
            texts.append(bytes(raw).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise RuntimeFrameError(f"string field {slot} is not valid UTF-8: {exc}") from None
    run_id, status, payload_json = texts
    return RuntimeFrame(
        version=version,
        kind=FrameKind(kind),
        run_id=run_id,
        status=status,
        sequence=(
            table.Get(number_types.Uint64Flags, positions[_SEQUENCE]) if positions[_SEQUENCE] else 0
        ),
        timestamp_unix_ms=(
            table.Get(number_types.Uint64Flags, positions[_TIMESTAMP])
            if positions[_TIMESTAMP]
            else 0
        ),
        payload_json=payload_json,
    )
