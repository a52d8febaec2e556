"""A rendered view's HTML as a small element tree, queried with CSS selectors.

What the live test DSL needs to find elements the way LiveViewTest's ``element/3`` and
``has_element?/3`` do, without a browser: parse the HTML the Python client shows,
match a selector, filter by text. Text is compared unescaped (``&lt;`` reads ``<``),
as a user reads the page.

Selectors: type (``li``), ``#id``, ``.class``, ``*``, attributes (``[name]``,
``[name=value]``, ``[name="v"]``, ``[name~=word]``, ``[name^=pre]``, ``[name$=suf]``,
``[name*=part]``), compounds of these, the descendant (space) and child (``>``)
combinators, and lists (``a, b``). Anything else is refused with `SelectorError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import escape
from html.parser import HTMLParser
from typing import Final

from ..isa import JSONValue

VOID: Final = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    | {"param", "source", "track", "wbr"}
)


class SelectorError(ValueError):
    """A selector the test DSL does not understand; the message shows where."""


class Node:
    """One element: tag, attributes, children, parent, and its text (unescaped)."""

    __slots__ = ("attrs", "children", "parent", "parts", "tag")

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node] = []
        # Text and child elements in document order: what `text` and `html` join.
        self.parts: list[str | Node] = []

    def text(self) -> str:
        """The text inside the element, unescaped, whitespace runs collapsed."""
        return " ".join(self._text().split())

    def _text(self) -> str:
        # Iterative: a page nested thousands of levels deep must not exhaust the stack.
        out: list[str] = []
        stack: list[str | Node] = [self]
        while stack:
            part = stack.pop()
            if isinstance(part, str):
                out.append(part)
            else:
                stack.extend(reversed(part.parts))
        return "".join(out)

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def walk(self) -> Iterator[Node]:
        """This element's descendants, in document order (iteratively, for deep pages)."""
        stack = list(reversed(self.children))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.open: list[Node] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.open[-1]
        node = Node(tag, dict(attrs), parent)
        parent.children.append(node)
        parent.parts.append(node)
        if tag not in VOID:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent = self.open[-1]
        node = Node(tag, dict(attrs), parent)
        parent.children.append(node)
        parent.parts.append(node)

    def handle_endtag(self, tag: str) -> None:
        # Close the nearest open element of that tag (and any left open inside it).
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.open[-1].parts.append(data)


def parse(html: str) -> Node:
    """The element tree of `html` under a ``#document`` node."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# -- selectors ---------------------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""\s*(?:
      (?P<comma>,)
    | (?P<child>>)
    | (?P<tag>[A-Za-z][A-Za-z0-9-]*|\*)
    | \#(?P<id>[A-Za-z0-9_\-:]+)
    | \.(?P<cls>[A-Za-z0-9_\-]+)
    | \[\s*(?P<attr>[A-Za-z_:][A-Za-z0-9_:.\-]*)\s*
        (?:(?P<op>[~^$*]?=)\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\]\s"']+))\s*)?\]
    )""",
    re.VERBOSE,
)


class _Compound:
    __slots__ = ("attrs", "classes", "id", "tag")

    def __init__(self) -> None:
        self.tag: str | None = None
        self.id: str | None = None
        self.classes: list[str] = []
        self.attrs: list[tuple[str, str | None, str]] = []

    def matches(self, node: Node) -> bool:
        if self.tag is not None and self.tag != "*" and node.tag != self.tag.lower():
            return False
        if self.id is not None and node.attrs.get("id") != self.id:
            return False
        if self.classes:
            have = node.classes()
            if any(c not in have for c in self.classes):
                return False
        for name, op, expected in self.attrs:
            if name not in node.attrs:
                return False
            if op is None:
                continue
            value = node.attrs[name] or ""
            if not _compare(op, value, expected):
                return False
        return True


def _compare(op: str, value: str, expected: str) -> bool:
    if op == "=":
        return value == expected
    if op == "~=":
        return expected in value.split()
    if op == "^=":
        return bool(expected) and value.startswith(expected)
    if op == "$=":
        return bool(expected) and value.endswith(expected)
    return bool(expected) and expected in value


# A selector is a list of alternatives; each is compounds joined by " " or ">".
_Chain = list[tuple[str, _Compound]]


def compile_selector(selector: str) -> list[_Chain]:
    """Parse `selector` or raise `SelectorError` naming where it stops making sense."""
    alternatives: list[_Chain] = []
    chain: _Chain = []
    current: _Compound | None = None
    combinator = " "
    position = 0
    text = selector.strip()
    if not text:
        raise SelectorError("an empty selector matches nothing; write e.g. '#todo-1' or 'li.done'")
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise SelectorError(
                f"cannot read the selector {selector!r} at {text[position:]!r}; "
                "use tags, #id, .class, [attr=value], ' ', '>' and ','"
            )
        gap = found.group(0)[: len(found.group(0)) - len(found.group(0).lstrip())]
        if gap and current is not None:
            chain.append((combinator, current))
            current, combinator = None, " "
        position = found.end()
        if found.group("comma"):
            if current is None and not chain:
                raise SelectorError(f"selector {selector!r} has an empty alternative")
            if current is not None:
                chain.append((combinator, current))
            alternatives.append(chain)
            chain, current, combinator = [], None, " "
            continue
        if found.group("child"):
            if current is not None:
                chain.append((combinator, current))
                current = None
            if not chain:
                raise SelectorError(f"selector {selector!r} starts with '>'")
            combinator = ">"
            continue
        if current is None:
            current = _Compound()
        if found.group("tag"):
            if current.tag is not None or current.id or current.classes or current.attrs:
                raise SelectorError(f"selector {selector!r}: a type must come first in a compound")
            current.tag = found.group("tag")
        elif found.group("id"):
            current.id = found.group("id")
        elif found.group("cls"):
            current.classes.append(found.group("cls"))
        else:
            op = found.group("op")
            expected = found.group("dq")
            if expected is None:
                expected = found.group("sq")
            if expected is None:
                expected = found.group("bare") or ""
            current.attrs.append((found.group("attr").lower(), op, expected))
    if current is not None:
        chain.append((combinator, current))
    elif combinator == ">":
        raise SelectorError(f"selector {selector!r} ends with '>'")
    if not chain:
        raise SelectorError(f"selector {selector!r} ends with ','")
    alternatives.append(chain)
    return alternatives


def _chain_matches(chain: _Chain, node: Node) -> bool:
    """Whether `node` matches the chain's last compound with its ancestors matching the rest
    (recursion depth: the selector's length, never the page's depth)."""
    combinator, compound = chain[-1]
    if not compound.matches(node):
        return False
    if len(chain) == 1:
        return True
    rest = chain[:-1]
    parent = node.parent
    if combinator == ">":
        return parent is not None and parent.tag != "#document" and _chain_matches(rest, parent)
    while parent is not None and parent.tag != "#document":
        if _chain_matches(rest, parent):
            return True
        parent = parent.parent
    return False


def select(root: Node, selector: str, text: str | None = None) -> list[Node]:
    """Elements under `root` matching `selector` (document order); with `text`, only those
    whose unescaped text contains it."""
    alternatives = compile_selector(selector)
    found = [n for n in root.walk() if any(_chain_matches(chain, n) for chain in alternatives)]
    if text is not None:
        found = [n for n in found if text in n.text()]
    return found


def form_fields(form: Node) -> dict[str, JSONValue]:
    """What the client script would send for `form`: text as strings, checkboxes as
    booleans, the checked radio, the selected option(s)."""
    fields: dict[str, JSONValue] = {}
    for node in form.walk():
        name = node.attrs.get("name")
        if not name or "disabled" in node.attrs:
            continue
        kind = (node.attrs.get("type") or "text").lower()
        if node.tag == "input":
            if kind == "checkbox":
                fields[name] = "checked" in node.attrs
            elif kind == "radio":
                if "checked" in node.attrs:
                    fields[name] = node.attrs.get("value") or ""
            elif kind not in ("submit", "button", "file", "reset"):
                fields[name] = node.attrs.get("value") or ""
        elif node.tag == "textarea":
            fields[name] = node._text()
        elif node.tag == "select":
            options = [o for o in node.walk() if o.tag == "option"]
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            values = [o.attrs.get("value") or o.text() for o in chosen]
            if "multiple" in node.attrs:
                fields[name] = [
                    o.attrs.get("value") or o.text() for o in options if "selected" in o.attrs
                ]
            elif values:
                fields[name] = values[0]
    return fields


def outer_html(node: Node) -> str:
    """The element as HTML again (attributes and text escaped)."""
    out: list[str] = []
    stack: list[str | Node] = [node]
    while stack:
        part = stack.pop()
        if isinstance(part, str):
            out.append(part)  # already escaped, or a closing tag
            continue
        attrs = "".join(
            f" {name}" if value is None else f' {name}="{escape(value, quote=True)}"'
            for name, value in part.attrs.items()
        )
        out.append(f"<{part.tag}{attrs}>")
        if part.tag in VOID:
            continue
        stack.append(f"</{part.tag}>")
        for inner in reversed(part.parts):
            stack.append(escape(inner, quote=False) if isinstance(inner, str) else inner)
    return "".join(out)
