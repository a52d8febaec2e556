"""Streams: collections the session sends as operations and does not keep (Phoenix ``stream``).

A view places a stream in its tree with ``streamed("songs", SONG)`` and fills it with
the commands `Stream`, `StreamInsert` and `StreamDelete`. The session turns each command
into `StreamOp`s pending for that name; while ``render`` runs, `streamed` picks the
pending operations up, so the `StreamSlot` in the tree carries them to the diff. Once
a patch carried them, the session empties the list: after a render the server holds
no entry of the stream, whatever its length (specs/live-diff.md §8, ADR 0084).

Why a context variable: ``render(state)`` takes only the state, and the operations are
not state (keeping them there would keep the items). The session sets the pending
operations around each ``render`` call it makes; outside that, a stream renders empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from ._commands import Stream, StreamDelete, StreamInsert
from ._errors import RenderedError
from ._rendered import StreamOp, StreamSlot
from ._template import Template

_NO_OPS: Final[Mapping[str, list[StreamOp]]] = {}
_PENDING: ContextVar[Mapping[str, list[StreamOp]]] = ContextVar(
    "lightflow_live_stream_ops", default=_NO_OPS
)


def streamed(name: str, template: Template) -> StreamSlot:
    """The stream `name` at this place of the tree; its entries are calls of `template`.

    Call it inside ``render`` (each render): the slot it returns carries the operations
    the view's commands left for `name` since the last patch.
    """
    ops = _PENDING.get().get(name)
    return StreamSlot(name, template.fingerprint, template.statics, ops if ops is not None else [])


@contextmanager
def pending_ops(ops: Mapping[str, list[StreamOp]]) -> Iterator[None]:
    """Make `ops` what `streamed` picks up while the block runs (a session's render)."""
    token = _PENDING.set(ops)
    try:
        yield
    finally:
        _PENDING.reset(token)


def _key(name: str, key: object) -> str:
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise RenderedError(f"stream {name!r}: key {key!r} is not a str or int; use a stable id")
    return key if isinstance(key, str) else str(key)


def _at(name: str, at: int) -> int:
    if isinstance(at, bool) or not isinstance(at, int) or at < -1:
        raise RenderedError(f"stream {name!r}: at={at!r}; use -1 (append) or an index >= 0")
    return at


def add_ops(
    pending: dict[str, list[StreamOp]], command: Stream | StreamInsert | StreamDelete
) -> None:
    """Queue the operations of one stream command (a reset drops what was queued before it)."""
    ops = pending.setdefault(command.name, [])
    if isinstance(command, StreamDelete):
        ops.append(StreamOp("d", _key(command.name, command.key)))
        return
    if isinstance(command, StreamInsert):
        ops.append(
            StreamOp(
                "i",
                _key(command.name, command.key),
                command.entry,
                _at(command.name, command.at),
                command.limit,
                command.update_only,
            )
        )
        return
    if command.reset:
        # Nothing queued before a reset can matter to the browser: forget it now.
        ops.clear()
        ops.append(StreamOp("r"))
    at = _at(command.name, command.at)
    for key, entry in command.entries:
        ops.append(StreamOp("i", _key(command.name, key), entry, at, command.limit))


def sent(pending: dict[str, list[StreamOp]]) -> None:
    """A patch carried every pending operation: forget them (the slots share the lists)."""
    for ops in pending.values():
        ops.clear()
    pending.clear()
