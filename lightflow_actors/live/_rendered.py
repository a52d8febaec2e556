"""The rendered tree: statics kept apart from dynamics, one fingerprint per template.

A `Rendered` is one template call: the template's `statics` (shared, never
copied) interleaved with this call's `dynamics`. A dynamic is escaped text, a
nested `Rendered`, or a `Comprehension`: many entries of one template whose
statics are stored (and later sent) once, optionally keyed so the diff can
express inserts, deletes and moves. `to_html` renders a tree to the full HTML
of a first GET, no JavaScript needed.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from ._errors import RenderedError

Dynamic: TypeAlias = "str | Rendered | Comprehension"
"""One dynamic slot: escaped HTML text, a nested template, or a comprehension."""


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
        for position, entry in enumerate(self.entries):
            if len(entry) != width:
                raise RenderedError(
                    f"entry {position} has {len(entry)} dynamics but the template has {width}; "
                    "every entry must come from the comprehension's template"
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


def to_html(rendered: Rendered) -> str:
    """Render a tree to its full HTML (the first GET, and the diff's reference)."""
    out: list[str] = []
    _write(rendered.statics, rendered.dynamics, out)
    return "".join(out)


def _write(statics: tuple[str, ...], dynamics: tuple[Dynamic, ...], out: list[str]) -> None:
    append = out.append
    append(statics[0])
    for index, dynamic in enumerate(dynamics, 1):
        if isinstance(dynamic, str):
            append(dynamic)
        elif isinstance(dynamic, Rendered):
            _write(dynamic.statics, dynamic.dynamics, out)
        else:
            for entry in dynamic.entries:
                _write(dynamic.statics, entry, out)
        append(statics[index])
