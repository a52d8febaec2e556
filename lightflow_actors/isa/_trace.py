"""The tracer: writes an instruction stream (with its effects) as JSONL, and reads it back.

One line per instruction: ``{"seq": 3, "at_ms": 1700000000000, "instruction": {...},
"effects": [...]}``. ``seq`` starts at 1 and increases by one per line, so a reader
notices lost or reordered lines. Replaying the instructions of a trace through a
``PureInterpreter`` must reproduce its effects: that is how a trace is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Annotated

import msgspec

from ._effects import Effect
from ._errors import TraceDecodeError
from ._instructions import Instruction

__all__ = ["TraceRecord", "Tracer", "read_trace"]

_MAX_LINE_BYTES = 16 * 1024 * 1024


class TraceRecord(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """One traced instruction and the effects it produced (a ``Rejected`` if refused)."""

    seq: Annotated[int, msgspec.Meta(ge=1)]
    at_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
    instruction: Instruction
    effects: list[Effect] = []


class Tracer:
    """Append trace records to ``write`` (e.g. a binary file's ``write``), one per line.

    ``now_ms`` stamps each record (pass ``system.clock.wall_ms``); without it
    ``at_ms`` is 0, which keeps traces of deterministic runs byte-identical.

    >>> import io
    >>> from lightflow_actors.isa import Render
    >>> out = io.BytesIO()
    >>> Tracer(out.write).record(Render())
    >>> out.getvalue()
    b'{"seq":1,"instruction":{"op":"render"}}\\n'
    """

    def __init__(
        self, write: Callable[[bytes], object], *, now_ms: Callable[[], int] | None = None
    ) -> None:
        self._write = write
        self._now_ms = now_ms
        self._seq = 0
        self._encoder = msgspec.json.Encoder()

    def record(
        self, instruction: Instruction, effects: Iterable[Effect] = (), *, at_ms: int | None = None
    ) -> None:
        """Write one line for ``instruction`` and the ``effects`` it produced.

        ``at_ms`` stamps the line with the time the host gave the instruction (a run's
        program reads its clock from it, so a replay needs that very value); without
        it the tracer's own ``now_ms`` stamps the line.
        """
        self._seq += 1
        if at_ms is None:
            at_ms = self._now_ms() if self._now_ms is not None else 0
        record = TraceRecord(
            seq=self._seq, at_ms=at_ms, instruction=instruction, effects=list(effects)
        )
        self._write(self._encoder.encode(record) + b"\n")


_DECODER = msgspec.json.Decoder(TraceRecord)


def read_trace(lines: Iterable[bytes | str]) -> Iterator[TraceRecord]:
    """Decode JSONL trace lines (a file opened in binary or text mode works).

    Blank lines are skipped. Raises ``TraceDecodeError`` naming the line number and
    the field's path for a malformed line, and for a ``seq`` that does not follow
    the previous one.
    """
    previous = 0
    for number, line in enumerate(lines, start=1):
        raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
        if not raw.strip():
            continue
        if len(raw) > _MAX_LINE_BYTES:
            raise TraceDecodeError(number, f"line is longer than {_MAX_LINE_BYTES} bytes")
        try:
            record = _DECODER.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise TraceDecodeError(number, str(exc)) from exc
        except RecursionError:
            raise TraceDecodeError(number, "line nests too deeply") from None
        if record.seq != previous + 1:
            raise TraceDecodeError(
                number, f"seq {record.seq} does not follow {previous}; lines were lost or reordered"
            )
        previous = record.seq
        yield record
