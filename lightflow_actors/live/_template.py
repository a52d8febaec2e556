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
from collections.abc import Iterable
from typing import Final, TypeAlias

from ._errors import RenderedError, TemplateSyntaxError, TemplateValueError
from ._markup import Markup, escape_text
from ._rendered import ComponentCall, Comprehension, Dynamic, Rendered, StreamSlot

Value: TypeAlias = (
    "str | int | float | Rendered | Comprehension | ComponentCall | StreamSlot | None"
)
"""What a template field accepts. `str` is escaped unless it is a `Markup`; None renders empty."""

Key: TypeAlias = "str | int"
"""A key of a keyed collection; ints are turned into their decimal string."""

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
    keys: list[str] = []
    entries: list[tuple[Dynamic, ...]] = []
    fingerprint = template.fingerprint
    for key, item in items:
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise RenderedError(f"key {key!r} is not a str or int; use a stable id")
        text = key if isinstance(key, str) else str(key)
        if item.fingerprint != fingerprint:
            raise RenderedError(
                f"entry {text!r} was not rendered by {template!r}; "
                "every entry of keyed(...) must come from its template"
            )
        keys.append(text)
        entries.append(item.dynamics)
    return Comprehension(fingerprint, template.statics, tuple(entries), tuple(keys))
