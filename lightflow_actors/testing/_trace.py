"""The trace of a simulated run: an ordered record of what happened, at which virtual time.

One ``TraceEvent`` per send, ask, handled message, spawn, exit, timer firing and injected
fault. The trace is JSON lines; the same scenario, seed and strategy give the same bytes, so
``Trace.sha256()`` identifies a schedule. Memory addresses are scrubbed from message texts
so an object's default ``repr`` cannot make two replays differ.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, TypeAlias

import msgspec

TraceKind: TypeAlias = Literal[
    "spawn", "send", "ask", "handle", "exit", "timer", "fault", "deliver", "dead"
]

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_MAX_TEXT = 240


class TraceEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing that happened.

    ``step`` is the number of loop callbacks run before it, ``t`` the virtual time in
    seconds. ``actor`` is the actor it happened to (the receiver of a message), ``peer`` the
    other party (the sender, or the parent of a spawned actor), ``message`` a short text of
    the message, ``detail`` the fault or exit reason.
    """

    step: int
    t: float
    kind: TraceKind
    actor: str
    peer: str | None = None
    message: str | None = None
    detail: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TraceEvent)


def describe_message(message: object) -> str:
    """A short, replay-stable text of a message: its fields for structs, else its type."""
    if isinstance(message, msgspec.Struct):
        text = repr(message)
        if "0x" in text:
            text = _ADDRESS.sub("0x?", text)
    else:
        text = type(message).__qualname__
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


class Trace:
    """The events of one run, in order."""

    __slots__ = ("events",)

    def __init__(self, events: list[TraceEvent] | None = None) -> None:
        self.events: list[TraceEvent] = events if events is not None else []

    def add(self, event: TraceEvent) -> None:
        self.events.append(event)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def of_kind(self, kind: TraceKind) -> list[TraceEvent]:
        return [e for e in self.events if e.kind == kind]

    def to_jsonl(self) -> bytes:
        """The trace as JSON lines (one event per line, each line ending in a newline)."""
        return b"".join(_encoder.encode(e) + b"\n" for e in self.events)

    def sha256(self) -> str:
        return hashlib.sha256(self.to_jsonl()).hexdigest()

    def write(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_bytes(self.to_jsonl())
        return target

    @classmethod
    def from_jsonl(cls, data: bytes) -> Trace:
        """Decode a trace written by ``to_jsonl``; a bad line raises ``msgspec.ValidationError``
        naming the field (and ``DecodeError`` for malformed JSON)."""
        events = [_decoder.decode(line) for line in data.splitlines() if line.strip()]
        return cls(events)
