"""Templates: a source string compiled once into statics, fields and a fingerprint.

Python 3.11 has no t-strings, so a template is an explicit object built once
(at module level) from a `str.format`-style source: ``Template("<p>{count}</p>")``.
Compiling splits the source into statics and named fields and hashes the
statics into a fingerprint; each call then only builds the dynamics tuple.
`each` and `keyed` turn many calls of one template into a `Comprehension`.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable, Iterable, Sequence
from operator import is_not
from typing import Final, Generic, TypeAlias, TypeVar, cast

from ._errors import RenderedError, TemplateSyntaxError, TemplateValueError
from ._immutable import immutable_value
from ._markup import Markup, escape_text
from ._rendered import ComponentCall, Comprehension, Dynamic, Rendered, StreamSlot

Value: TypeAlias = (
    "str | int | float | Rendered | Comprehension | ComponentCall | StreamSlot | None"
)
"""What a template field accepts. `str` is escaped unless it is a `Markup`; None renders empty."""

Key: TypeAlias = "str | int"
"""A key of a keyed collection; ints are turned into their decimal string."""

T = TypeVar("T")

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# A field right after `=` is an unquoted attribute value: escaping cannot make
# that safe (a space or `>` ends it), so the compiler refuses it.
_UNQUOTED_ATTRIBUTE: Final = re.compile(r"=\s*\Z")


class Template:
    """A compiled template: `statics`, field names and a `fingerprint`, built once.

    Write fields as ``{name}`` (optionally ``{price:.2f}``); ``{{`` and ``}}`` are
    literal braces. Calling the template with every field as a keyword returns a
    `Rendered`; text is HTML-escaped unless wrapped in `safe(...)`.

    >>> from lightflow_actors.live import to_html
    >>> greeting = Template('<p class="hi">Hello {name}!</p>')
    >>> to_html(greeting(name="<Ada>"))
    '<p class="hi">Hello &lt;Ada&gt;!</p>'
    """

    __slots__ = ("_names", "_specs", "fields", "fingerprint", "source", "statics")

    source: str
    statics: tuple[str, ...]
    fields: tuple[str, ...]
    fingerprint: int

    def __init__(self, source: str) -> None:
        statics: list[str] = []
        fields: list[str] = []
        specs: list[str] = []
        pending = ""
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as error:
            raise TemplateSyntaxError(
                source, f"{error}; write literal braces as {{{{ and }}}}"
            ) from None
        for literal, field, spec, conversion in parsed:
            pending += literal
            if field is None:
                continue
            if not _IDENTIFIER.match(field):
                raise TemplateSyntaxError(
                    source, f"field {{{field}}} is not a plain name; pass each value as a keyword"
                )
            if conversion is not None:
                raise TemplateSyntaxError(
                    source,
                    f"field {{{field}!{conversion}}} uses a conversion; drop the !{conversion}",
                )
            if spec and ("{" in spec or "}" in spec):
                raise TemplateSyntaxError(source, f"field {{{field}}} has a nested format spec")
            if _UNQUOTED_ATTRIBUTE.search(pending):
                raise TemplateSyntaxError(
                    source,
                    f'field {{{field}}} is an unquoted attribute value; write ="{{{field}}}"',
                )
            statics.append(pending)
            fields.append(field)
            specs.append(spec or "")
            pending = ""
        statics.append(pending)
        self.source = source
        self.statics = tuple(statics)
        self.fields = tuple(fields)
        self._specs = tuple(zip(fields, specs, strict=True))
        self._names = frozenset(fields)
        self.fingerprint = fingerprint_of(self.statics)

    def __call__(self, **values: Value) -> Rendered:
        """Fill every field and return the `Rendered` (statics shared, dynamics new)."""
        if values.keys() != self._names:
            self._raise_for_names(values.keys())
        dynamics = tuple([_to_dynamic(name, values[name], spec) for name, spec in self._specs])
        return Rendered(self.fingerprint, self.statics, dynamics)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def _raise_for_names(self, given: Iterable[str]) -> None:
        given_set = set(given)
        missing = sorted(self._names - given_set)
        if missing:
            raise TemplateValueError(missing[0], "missing; pass every field as a keyword")
        extra = sorted(given_set - self._names)
        raise TemplateValueError(
            extra[0], f"not a field of this template (fields: {', '.join(sorted(self._names))})"
        )


def fingerprint_of(statics: tuple[str, ...]) -> int:
    """A 64-bit hash of `statics`, stable across processes (unlike `hash`)."""
    digest = hashlib.blake2b(digest_size=8)
    for static in statics:
        encoded = static.encode("utf-8", "surrogatepass")
        # Length-prefix each static so ("ab", "c") and ("a", "bc") never collide.
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return int.from_bytes(digest.digest(), "big")


def _to_dynamic(name: str, value: Value, spec: str) -> Dynamic:
    # Ordered by frequency: plain text and numbers dominate real views.
    try:
        if type(value) is str:
            return escape_text(format(value, spec) if spec else value)
        if type(value) is int or type(value) is float:
            return escape_text(format(value, spec))
        if value is None:
            return ""
        if isinstance(value, Markup):
            # Stored as a plain str: the tree holds HTML, the Markup type was only the pass.
            return format(str(value), spec) if spec else str(value)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return escape_text(format(value, spec))
    except (ValueError, TypeError) as error:
        raise TemplateValueError(
            name, f"format spec {spec!r} does not fit a {type(value).__name__} ({error})"
        ) from None
    if isinstance(value, bool):
        raise TemplateValueError(
            name, "a bool does not render; choose the text with a conditional expression"
        )
    if isinstance(value, Rendered | Comprehension | ComponentCall | StreamSlot):
        if spec:
            raise TemplateValueError(name, "a nested template cannot take a format spec")
        return value
    raise TemplateValueError(
        name,
        f"cannot render a {type(value).__name__}; pass str, int, float, None, "
        "safe(...), a Rendered, each(...)/keyed(...) for a list, live_component(...) "
        "or streamed(...)",
    )


def each(template: Template, items: Iterable[Rendered]) -> Comprehension:
    """A positional comprehension: calls of `template`, statics sent once."""
    entries: list[tuple[Dynamic, ...]] = []
    fingerprint = template.fingerprint
    for position, item in enumerate(items):
        if item.fingerprint != fingerprint:
            raise RenderedError(
                f"item {position} was not rendered by {template!r}; "
                "every entry of each(...) must come from its template"
            )
        entries.append(item.dynamics)
    return Comprehension(fingerprint, template.statics, tuple(entries))


def keyed(template: Template, items: Iterable[tuple[Key, Rendered]]) -> Comprehension:
    """A keyed collection: ``(key, rendered)`` pairs; the diff moves entries by key.

    Keys must be unique; ints become their decimal strings, so 7 and "7" collide.
    """
    pairs = items if isinstance(items, list | tuple) else list(items)
    raw = [key for key, _ in pairs]
    rendered = [item for _, item in pairs]
    fingerprint = template.fingerprint
    # The checks run over whole lists (C loops); a failure is located afterwards.
    if {item.fingerprint for item in rendered} - {fingerprint}:
        for key, item in pairs:
            if item.fingerprint != fingerprint:
                raise RenderedError(
                    f"entry {str(key)!r} was not rendered by {template!r}; "
                    "every entry of keyed(...) must come from its template"
                )
    kinds = set(map(type, raw))
    keys: tuple[str, ...]
    if kinds == {str}:
        keys = tuple(cast("list[str]", raw))
    elif kinds == {int}:
        keys = tuple(map(_INT_TEXT.__getitem__, cast("list[int]", raw)))
    elif kinds <= _KEY_TYPES:
        keys = tuple([key if type(key) is str else str(key) for key in raw])
    else:  # subclasses (an IntEnum, a str enum) and refusals: the careful path
        for key in raw:
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise RenderedError(f"key {key!r} is not a str or int; use a stable id")
        keys = tuple([key if isinstance(key, str) else str(key) for key in raw])
    return Comprehension(
        fingerprint, template.statics, tuple([item.dynamics for item in rendered]), keys
    )


_KEY_TYPES: Final = frozenset({str, int})


class _IntText(dict[int, str]):
    """An int key's decimal text, made once: later renders reuse the same str objects, so
    comparing two renders' keys is mostly identity checks. Bounded: cleared when full."""

    def __missing__(self, key: int) -> str:
        if len(self) >= _INT_TEXT_LIMIT:
            self.clear()
        text = self[key] = str(key)
        return text


_INT_TEXT_LIMIT: Final = 1 << 16
# A call replacing more than one item in this many is answered by the full path.
_REPLACED_SHARE: Final = 8
# Positions looked at before the identity pass of `KeyedRows._replaced`.
_PROBES: Final = 16
_ABSENT: Final = object()
_INT_TEXT: Final = _IntText()


class KeyedRows(Generic[T]):
    """A keyed comprehension of items that renders only the items it has not seen.

    ``rows = KeyedRows(ROW, render=render_row, key=lambda r: r.id)`` at module level, then
    ``rows(state.rows)`` inside ``render`` gives what ``keyed(ROW, [(r.id, render_row(r))
    for r in state.rows])`` gives. Each rendered item is remembered by identity with its
    key and entry: an item seen before (the very same object) costs a dict lookup, not a
    call of `render`, and keeps the very same entry, which the diff skips at once. That
    is Phoenix's comprehension rule (statics once, unchanged entries not re-sent) made
    cheap on the server too.

    Only immutable items are remembered (frozen structs, tuples of immutables: judged
    once per type, as for view states); `render` and `key` must depend on the item alone.
    A mutable item is rendered on every call. The memory is shared by every session
    rendering through this object and bounded: when it holds more than `limit` items (or
    twice the current call's, if more) it keeps only the current call's.

    >>> item = Template("<li>{name}</li>")
    >>> names = KeyedRows(item, render=lambda n: item(name=n), key=lambda n: n)
    >>> names(("ada", "bob")).keys
    ('ada', 'bob')
    """

    __slots__ = ("_dynamics", "_held", "_keys", "_last", "key", "limit", "render", "template")

    def __init__(
        self,
        template: Template,
        *,
        render: Callable[[T], Rendered],
        key: Callable[[T], Key],
        limit: int = 10_000,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.template = template
        self.render = render
        self.key = key
        self.limit = limit
        # id(item) -> item, key text, entry; holding the item keeps its id from reuse.
        self._held: dict[int, object] = {}
        self._keys: dict[int, str] = {}
        self._dynamics: dict[int, tuple[Dynamic, ...]] = {}
        # The last call's items and its comprehension, when every item was immutable: a
        # next call replacing a few of them is answered from it (see `_replaced`).
        self._last: tuple[Sequence[T], Comprehension] | None = None

    def __repr__(self) -> str:
        return f"KeyedRows({self.template!r}, holding {len(self._held)})"

    def __call__(self, items: Iterable[T]) -> Comprehension:
        """The keyed comprehension of `items`, in their order."""
        listed = items if isinstance(items, list | tuple) else list(items)
        last = self._last
        if last is not None and len(last[0]) == len(listed):
            answer = self._replaced(last, listed)
            if answer is not None:
                return answer
        self._last = None
        ids = list(map(id, listed))
        held = self._held
        if len(held) > max(self.limit, 2 * len(ids)):
            self._forget_all_but(ids)
        known = list(map(held.__contains__, ids))
        mutable: list[int] = []
        try:
            if False in known:
                self._learn(listed, ids, known, mutable)
            keys = tuple(map(self._keys.__getitem__, ids))
            entries = tuple(map(self._dynamics.__getitem__, ids))
        finally:
            for ident in mutable:  # they may change in place before the next call
                self._forget(ident)
        template = self.template
        answer = Comprehension(template.fingerprint, template.statics, entries, keys)
        if not mutable:
            # A list may change in place after the call: its items are kept as they were.
            self._last = (listed if type(listed) is tuple else tuple(listed), answer)
        return answer

    def _replaced(
        self, last: tuple[Sequence[T], Comprehension], items: Sequence[T]
    ) -> Comprehension | None:
        """The comprehension of `items` from the last call's, when `items` is the last
        call's items with a few replaced in place; None for anything else.

        One C pass finds the replaced positions, so a 5-row change of 1 000 rows looks up
        and copies 5 rows instead of mapping every row's id through the memory four times;
        the keys and entries stay the very same tuples when no key changed and nothing
        did. Every item of the last call was immutable (else it is not remembered), so an
        item at the same position that is the same object renders the same.
        """
        before, previous = last
        count = len(items)
        if count >= _PROBES * _REPLACED_SHARE:
            # A re-order replaces nearly every position: a few probes tell it at once,
            # so it pays no identity pass over every item before the full path.
            step = count // _PROBES
            probed = sum(before[i] is not items[i] for i in range(0, count, step))
            if probed * _REPLACED_SHARE > _PROBES * 2:
                return None
        fresh = list(map(is_not, before, items))
        if type(items) is not tuple:
            items = tuple(items)  # as in `__call__`: kept as they are now
        if True not in fresh:
            self._last = (items, previous)
            return previous
        changed = len(fresh) - fresh.count(False)
        if changed * _REPLACED_SHARE > len(fresh):
            return None
        held = self._held
        if len(held) + changed > max(self.limit, 2 * len(fresh)):
            return None  # the full path forgets the rest of the memory
        keys = previous.keys
        assert keys is not None  # a KeyedRows comprehension is keyed
        new_keys: list[str] | None = None
        entries = list(previous.entries)
        position = fresh.index(True)
        while True:
            item = items[position]
            ident = id(item)
            if ident in held:
                text = self._keys[ident]
                dynamics = self._dynamics[ident]
            else:
                if not immutable_value(item):
                    return None  # the full path renders it and does not remember it
                text, dynamics = self._render_one(item)
                held[ident] = item
                self._keys[ident] = text
                self._dynamics[ident] = dynamics
            entries[position] = dynamics
            if text != keys[position]:
                if new_keys is None:
                    new_keys = list(keys)
                new_keys[position] = text
            try:
                position = fresh.index(True, position + 1)
            except ValueError:
                break
        template = self.template
        answer = Comprehension(
            template.fingerprint,
            template.statics,
            tuple(entries),
            keys if new_keys is None else tuple(new_keys),
        )
        self._last = (items, answer)
        return answer

    def _render_one(self, item: T) -> tuple[str, tuple[Dynamic, ...]]:
        """The key text and entry of `item`, its render checked against the template."""
        text = self._key_text(item)
        rendered = self.render(item)
        if type(rendered) is not Rendered or rendered.fingerprint != self.template.fingerprint:
            raise RenderedError(
                f"entry {text!r} was not rendered by {self.template!r}; "
                "the render of KeyedRows must call its template"
            )
        return text, rendered.dynamics

    def _learn(
        self, items: Sequence[T], ids: list[int], known: list[bool], mutable: list[int]
    ) -> None:
        """Render the items not `known`; add the ids of the mutable ones to `mutable`."""
        position = known.index(False)
        while True:
            item = items[position]
            text, dynamics = self._render_one(item)
            ident = ids[position]
            self._held[ident] = item
            self._keys[ident] = text
            self._dynamics[ident] = dynamics
            if not immutable_value(item):
                mutable.append(ident)
            try:
                position = known.index(False, position + 1)
            except ValueError:
                return

    def _key_text(self, item: T) -> str:
        key = self.key(item)
        if type(key) is str:
            return key
        if type(key) is int:
            return _INT_TEXT[key]
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise RenderedError(f"key {key!r} is not a str or int; use a stable id")
        return key if isinstance(key, str) else str(key)

    def _forget(self, ident: int) -> None:
        if self._held.pop(ident, _ABSENT) is not _ABSENT:
            del self._keys[ident]
            del self._dynamics[ident]

    def _forget_all_but(self, ids: list[int]) -> None:
        keep = set(ids)
        for ident in [ident for ident in self._held if ident not in keep]:
            self._forget(ident)
