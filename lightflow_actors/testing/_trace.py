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


RawEvent: TypeAlias = tuple[int, float, str, object, object, object, "str | None"]
"""What a run records: ``(step, t, kind, actor, peer, message, detail)``. ``actor`` and
``peer`` are labels or the kernel's cells (labelled when read: a cell's actor class, id and
name never change); ``message`` is the text, or a frozen struct whose text is taken when the
trace is read."""

RAW_FIELDS = 7
"""A ``RawEvent``'s length: the run's flat list (``Trace.raw``) holds that many items per event."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TraceEvent)
_LAZY: dict[type, bool] = {}
"""Per message type: is its text taken lazily (a frozen struct)? Filled by ``message_text``."""


def describe_message(message: object) -> str:
    """A short, replay-stable text of a message: its fields for structs, else its type."""
    if isinstance(message, msgspec.Struct):
        text = repr(message)
        if "0x" in text:
            text = _ADDRESS.sub("0x?", text)
    else:
        text = type(message).__qualname__
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def message_text(message: object) -> object:
    """What a run records for a message: a frozen struct itself (its text is taken when the
    trace is read; its fields cannot change), anything else its text now."""
    kind = type(message)
    lazy = _LAZY.get(kind)
    if lazy is None:
        config = getattr(kind, "__struct_config__", None)
        lazy = _LAZY[kind] = bool(config is not None and config.frozen)
    return message if lazy else describe_message(message)


class Trace:
    """The events of one run, in order.

    A run extends one flat list with each event's ``RawEvent`` fields (``record``);
    ``events`` turns them into ``TraceEvent`` structs when read, so a run pays for message
    texts only if its trace is looked at. Flat, not a tuple per event: a run records two
    events per message and keeps them all, and as many tuples kept alive would make the
    garbage collector run (and traverse them) every few hundred messages (issue 17: a
    fifth of an exploration's time went to the collector).
    """

    __slots__ = ("_events", "_raw")

    def __init__(self, events: list[TraceEvent] | None = None) -> None:
        self._raw: list[object] = []
        for e in events or ():
            self._raw.extend((e.step, e.t, e.kind, e.actor, e.peer, e.message, e.detail))
        self._events: list[TraceEvent] = list(events) if events is not None else []

    @property
    def raw(self) -> list[object]:
        """The flat list a run extends with each event's ``RawEvent`` fields, in order."""
        return self._raw

    @property
    def events(self) -> list[TraceEvent]:
        events = self._events
        raw = self._raw
        for i in range(len(events) * RAW_FIELDS, len(raw), RAW_FIELDS):
            step, t, kind, actor, peer, message, detail = raw[i : i + RAW_FIELDS]
            if message is not None and not isinstance(message, str):
                message = describe_message(message)
            if not isinstance(actor, str):
                actor = actor.label  # type: ignore[attr-defined]
            if peer is not None and not isinstance(peer, str):
                peer = peer.label  # type: ignore[attr-defined]
            events.append(
                TraceEvent(
                    step=step,  # type: ignore[arg-type]
                    t=t,  # type: ignore[arg-type]
                    kind=kind,  # type: ignore[arg-type]
                    actor=actor,
                    peer=peer,
                    message=message,
                    detail=detail,  # type: ignore[arg-type]
                )
            )
        return events

    def add(self, event: TraceEvent) -> None:
        e = event
        self._raw.extend((e.step, e.t, e.kind, e.actor, e.peer, e.message, e.detail))

    def record(
        self,
        step: int,
        t: float,
        kind: TraceKind,
        actor: str,
        peer: str | None = None,
        message: object = None,
        detail: str | None = None,
    ) -> None:
        self._raw.extend((step, t, kind, actor, peer, message, detail))

    def __len__(self) -> int:
        return len(self._raw) // RAW_FIELDS

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def of_kind(self, kind: TraceKind) -> list[TraceEvent]:
        return [e for e in self.events if e.kind == kind]

    def to_jsonl(self) -> bytes:
        """The trace as JSON lines (one event per line, each line ending in a newline)."""
        return _encoder.encode_lines(self.events)

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
