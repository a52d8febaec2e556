"""HTML escaping by default, with `Markup` as the explicit "already safe" type.

Every value placed in a template is escaped unless it is a `Markup`. Escaping
covers text and quoted attribute values (both quote kinds), so a dynamic can
sit inside ``"..."`` or ``'...'`` without breaking out.
"""

from __future__ import annotations


class Markup(str):
    """A string of HTML that is trusted and inserted without escaping.

    Build one with `safe(...)` for literal HTML you wrote, or `escape(...)` for
    untrusted text. Concatenating a `Markup` with a `str` gives a plain `str`
    again, which is escaped when rendered: safety never spreads by accident.

    >>> str(escape("<b>"))
    '&lt;b&gt;'
    >>> safe("<b>x</b>") == "<b>x</b>"
    True
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Markup({str.__repr__(self)})"


def safe(html: str) -> Markup:
    """Mark `html` as trusted markup: it will be inserted verbatim."""
    return html if isinstance(html, Markup) else Markup(html)


def escape(text: str) -> Markup:
    """Escape `text` for HTML text and quoted attributes; `Markup` passes through."""
    if isinstance(text, Markup):
        return text
    return Markup(escape_text(text))


def escape_text(text: str) -> str:
    """Escape to a plain `str` (the hot path of template calls; no `Markup` wrapper)."""
    # Chained `replace` beats `str.translate` on CPython for mostly-clean text;
    # `&` must go first so the entities added after it are not escaped twice.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )
