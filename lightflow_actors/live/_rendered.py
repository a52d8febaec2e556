"""The rendered tree: statics kept apart from dynamics, one fingerprint per template.

A `Rendered` is one template call: the template's `statics` (shared, never
copied) interleaved with this call's `dynamics`. A dynamic is escaped text, a
nested `Rendered`, or a `Comprehension`: many entries of one template whose
statics are stored (and later sent) once, optionally keyed so the diff can
express inserts, deletes and moves. Two placeholders complete the tree: a
`ComponentCall` (a stateful live component, rendered by the session as its own
subtree) and a `StreamSlot` (a collection the server sends as operations and does
not keep). `to_html` renders a tree to the full HTML of a first GET, no
JavaScript needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import msgspec

from ._errors import RenderedError

Dynamic: TypeAlias = "str | Rendered | Comprehension | ComponentCall | StreamSlot"
"""One dynamic slot: escaped HTML text, a nested template, a comprehension, a live
component, or a stream."""


class Rendered(msgspec.Struct, frozen=True):
    """One call of a template: ``statics[0] + dynamics[0] + statics[1] + ... + statics[-1]``.

    `fingerprint` identifies the statics: two `Rendered` with the same
    fingerprint have the same statics, so only their dynamics need comparing.
    Build it by calling a `Template`; the struct checks the one invariant that
    the diff and the client rely on (one more static than dynamics).

    >>> from lightflow_actors.live import Template, to_html
    >>> to_html(Template("<p>{count}</p>")(count=5))
    '<p>5</p>'
    """

    fingerprint: int
    statics: tuple[str, ...]
    dynamics: tuple[Dynamic, ...]

    def __post_init__(self) -> None:
        if len(self.statics) != len(self.dynamics) + 1:
            raise RenderedError(
                f"Rendered has {len(self.statics)} statics and {len(self.dynamics)} dynamics; "
                "there must be exactly one more static than dynamics: build it with Template"
            )


class Comprehension(msgspec.Struct, frozen=True):
    """Entries sharing one template: statics once, then each entry's dynamics.

    `keys` is None for a positional list (`each`) and one unique string per entry
    for a keyed collection (`keyed`), whose diff sends inserts, deletes and moves
    by key instead of re-sending entries.
    """

    fingerprint: int
    statics: tuple[str, ...]
    entries: tuple[tuple[Dynamic, ...], ...]
    keys: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        width = len(self.statics) - 1
        if width < 0:
            raise RenderedError("a comprehension needs at least one static; use each/keyed")
        if set(map(len, self.entries)) - {width}:  # a C loop; the culprit is found after
            for position, entry in enumerate(self.entries):
                if len(entry) != width:
                    raise RenderedError(
                        f"entry {position} has {len(entry)} dynamics but the template has "
                        f"{width}; every entry must come from the comprehension's template"
                    )
        if self.keys is not None:
            if len(self.keys) != len(self.entries):
                raise RenderedError(
                    f"{len(self.keys)} keys for {len(self.entries)} entries; give one key per entry"
                )
            if len(set(self.keys)) != len(self.keys):
                seen: set[str] = set()
                for key in self.keys:
                    if key in seen:
                        raise RenderedError(
                            f"key {key!r} appears twice; keys of a keyed collection must be unique"
                        )
                    seen.add(key)


class ComponentCall(msgspec.Struct, frozen=True):
    """A live component placed in a tree: the `component` object, its `id`, its `props`.

    Build it with `live_component(...)`. The session mounts the component the first time
    its (type, id) appears, calls its ``update`` when `props` change, and renders it as
    its own subtree (specs/live-diff.md §7). Equal calls (same component object, id and
    equal props) are unchanged for the diff.
    """

    component: object
    id: str
    props: object


class StreamOp(msgspec.Struct, frozen=True):
    """One pending operation on a stream (specs/live-diff.md §8).

    `kind` is ``"i"`` (insert, or replace in place when the key is held; with
    `update_only`, replace only), ``"d"`` (delete the key if held) or ``"r"`` (reset:
    drop every entry). `at` is -1 (append) or the index to insert at; `limit` keeps the
    first `limit` entries (the last ``-limit`` when negative) after an insert.
    """

    kind: str
    key: str = ""
    entry: Rendered | None = None
    at: int = -1
    limit: int | None = None
    update_only: bool = False


class StreamSlot(msgspec.Struct, frozen=True):
    """A stream placed in a tree: entries of one template, sent as operations.

    Build it with `streamed(name, template)` inside ``render``. `ops` are the operations
    not sent yet; the session empties the list once a patch carried them, so after a
    render the server holds no entry of the stream (only its name and template).
    """

    name: str
    fingerprint: int
    statics: tuple[str, ...]
    ops: list[StreamOp]


ComponentResolver: TypeAlias = "Callable[[ComponentCall], Rendered]"
"""Renders a component call for `to_html` (the first GET mounts components one-off)."""


def to_html(rendered: Rendered, components: ComponentResolver | None = None) -> str:
    """Render a tree to its full HTML (the first GET, and the diff's reference).

    A tree holding live components needs `components`, which renders each call; a
    stream renders the entries its pending operations leave.
    """
    out: list[str] = []
    _write(rendered.statics, rendered.dynamics, out, components)
    return "".join(out)


def _write(
    statics: tuple[str, ...],
    dynamics: tuple[Dynamic, ...],
    out: list[str],
    components: ComponentResolver | None,
) -> None:
    append = out.append
    append(statics[0])
    for index, dynamic in enumerate(dynamics, 1):
        if isinstance(dynamic, str):
            append(dynamic)
        elif isinstance(dynamic, Rendered):
            _write(dynamic.statics, dynamic.dynamics, out, components)
        elif isinstance(dynamic, Comprehension):
            for entry in dynamic.entries:
                _write(dynamic.statics, entry, out, components)
        elif isinstance(dynamic, ComponentCall):
            if components is None:
                raise RenderedError(
                    f"live component {dynamic.id!r} in a tree rendered without a session; "
                    "render the view through its session (or LiveHub.static_render)"
                )
            inner = components(dynamic)
            _write(inner.statics, inner.dynamics, out, components)
        else:
            for streamed in stream_entries(dynamic):
                _write(dynamic.statics, streamed.dynamics, out, components)
        append(statics[index])


def stream_entries(slot: StreamSlot) -> list[Rendered]:
    """The entries `slot` shows when its operations apply to an empty stream (first GET)."""
    keys: list[str] = []
    entries: dict[str, Rendered] = {}
    for op in slot.ops:
        if op.kind == "r":
            keys.clear()
            entries.clear()
        elif op.kind == "d":
            if op.key in entries:
                del entries[op.key]
                keys.remove(op.key)
        elif op.entry is not None:
            check_stream_entry(slot, op.key, op.entry)
            if op.key in entries:
                entries[op.key] = op.entry
            elif not op.update_only:
                entries[op.key] = op.entry
                keys.insert(len(keys) if op.at < 0 else min(op.at, len(keys)), op.key)
                if op.limit is not None:
                    dropped = keys[op.limit :] if op.limit >= 0 else keys[: op.limit]
                    for key in dropped:
                        del entries[key]
                    keys = keys[: op.limit] if op.limit >= 0 else keys[op.limit :]
    return [entries[key] for key in keys]


def check_stream_entry(slot: StreamSlot, key: str, entry: Rendered) -> None:
    """Refuse an entry of `slot` not rendered by its template."""
    if entry.fingerprint != slot.fingerprint:
        raise RenderedError(
            f"stream {slot.name!r}: entry {key!r} was not rendered by the stream's template; "
            "insert entries rendered by the template given to streamed(...)"
        )
