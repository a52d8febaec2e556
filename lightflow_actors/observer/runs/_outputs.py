"""Outputs a human can judge: text and markdown rendered, JSON pretty-printed, images
shown, long text folded.

Everything is escaped: markdown is rendered with raw HTML turned off (a ``<script>`` in
a model's answer shows as text) and without images (no request leaves for a URL a model
wrote); JSON is indented and escaped in a ``<pre>``. An output that names an image file
(a ``.png``, ``.jpg``, ``.gif`` or ``.webp`` path, alone or as ``image``/``path``/``file``
of an object) is shown through ``GET /runs/{id}/steps/{step}/image``, which serves it only
from the run's folder or the ``/ctx`` tree. Text longer than ``FOLD_CHARS`` shows its
start and a button that unfolds it (per session).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final
from urllib.parse import quote

import msgspec
from markdown_it import MarkdownIt

from lightflow_actors.isa import JSONValue
from lightflow_actors.live import Rendered, Template, safe

from ._model import FileText

FOLD_CHARS: Final = 1500
"""Characters of a text shown before the "show all" button."""

IMAGE_TYPES: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
"""Image files an output may name (no SVG: it can carry script)."""

_MD = MarkdownIt("commonmark", {"html": False, "breaks": True}).disable("image")

MARKDOWN = Template('<div class="md" data-kind="markdown">{html}</div>{more}')
JSON = Template('<pre class="json" data-kind="json">{text}</pre>{more}')
IMAGE = Template(
    '<figure class="image" data-kind="image"><img src="{src}" alt="{alt}" loading="lazy">'
    "<figcaption>{alt}</figcaption></figure>"
)
MORE = Template(
    '<button type="button" class="fold" lf-click="unfold" lf-value-key="{key}">'
    "show all ({size} characters)</button>"
)
LESS = Template(
    '<button type="button" class="fold" lf-click="fold" lf-value-key="{key}">show less</button>'
)
PROBLEM = Template('<p class="problem">{path}: {text}</p>')
WITH_TEXT = Template('<div class="answer">{text}{toggle}{json}</div>')
SHOW_JSON = Template(
    '<button type="button" class="fold" lf-click="{event}" lf-value-key="{key}">{label}</button>'
)


def image_path(value: JSONValue) -> str | None:
    """The image file an output names, if it names one."""
    if isinstance(value, dict):
        for key in ("image", "path", "file"):
            found = value.get(key)
            if isinstance(found, str):
                return image_path(found)
        return None
    if isinstance(value, str) and 0 < len(value) <= 4096 and "\n" not in value:
        dot = value.rfind(".")
        if dot >= 0 and value[dot:].lower() in IMAGE_TYPES:
            return value
    return None


def markdown_html(text: str) -> str:
    """``text`` as HTML: markdown, raw HTML escaped, no images."""
    return str(_MD.render(text))


def _folded(text: str, key: str, unfolded: Collection[str]) -> tuple[str, Rendered | None]:
    if len(text) <= FOLD_CHARS:
        return text, None
    if key in unfolded:
        return text, LESS(key=key)
    return text[:FOLD_CHARS] + "…", MORE(key=key, size=len(text))


def render_text(text: str, key: str, unfolded: Collection[str]) -> Rendered:
    shown, more = _folded(text, key, unfolded)
    return MARKDOWN(html=safe(markdown_html(shown)), more=more)


def render_json(value: JSONValue, key: str, unfolded: Collection[str]) -> Rendered:
    text = msgspec.json.format(msgspec.json.encode(value), indent=2).decode()
    shown, more = _folded(text, key, unfolded)
    return JSON(text=shown, more=more)


def answer_text(value: JSONValue) -> str | None:
    """The text of a provider's answer (what a person reads), for the four API formats:
    ``openai.chat`` (``choices[0].message.content``), ``openai.responses``
    (``output_text``, else the ``output`` items' text), ``anthropic.messages`` (the
    ``text`` blocks of ``content``), ``google.generate_content`` (the first candidate's
    parts); None for anything else."""
    if not isinstance(value, dict):
        return None
    texts: list[str] = []
    choices, content, output = value.get("choices"), value.get("content"), value.get("output")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            texts.append(message["content"])  # type: ignore[arg-type]
    elif isinstance(value.get("output_text"), str):
        texts.append(value["output_text"])  # type: ignore[arg-type]
    elif isinstance(output, list):
        for item in output:
            if isinstance(item, dict) and isinstance(item.get("content"), list):
                texts += _texts(item["content"])  # type: ignore[arg-type]
    elif isinstance(content, list):
        texts += _texts(content)
    elif isinstance(value.get("candidates"), list) and value["candidates"]:
        first = value["candidates"][0]  # type: ignore[index]
        if isinstance(first, dict) and isinstance(first.get("content"), dict):
            parts = first["content"].get("parts")  # type: ignore[union-attr]
            if isinstance(parts, list):
                texts += _texts(parts)
    return "\n\n".join(texts) if texts else None


def _texts(blocks: list[JSONValue]) -> list[str]:
    return [
        block["text"]  # type: ignore[misc]
        for block in blocks
        if isinstance(block, dict) and isinstance(block.get("text"), str)
    ]


def output_text(value: JSONValue) -> str | None:
    """The text of an output object (its ``text`` field), if it has one."""
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]  # type: ignore[return-value]
    return None


def render_value(
    value: JSONValue,
    key: str,
    unfolded: Collection[str],
    image_src: str | None = None,
    text_of: Callable[[JSONValue], str | None] = output_text,
) -> Rendered:
    """An output (or answer) as the page shows it; ``image_src`` is where its image is
    served, when it may name one; an object whose ``text_of`` is a text shows that text
    with its JSON behind a button."""
    if image_src is not None and image_path(value) is not None:
        return IMAGE(src=image_src, alt=image_path(value) or "")
    if isinstance(value, str):
        return render_text(value, key, unfolded)
    text = text_of(value) if isinstance(value, dict) else None
    if text is not None:
        json_key = key + ":json"
        shown = json_key in unfolded
        return WITH_TEXT(
            text=render_text(text, key, unfolded),
            toggle=SHOW_JSON(
                event="fold" if shown else "unfold",
                key=json_key,
                label="hide the JSON" if shown else "show the JSON",
            ),
            json=render_json(value, json_key + ":all", unfolded) if shown else None,
        )
    return render_json(value, key, unfolded)


def render_file(
    found: FileText | None,
    key: str,
    unfolded: Collection[str],
    image_src: str | None = None,
    text_of: Callable[[JSONValue], str | None] = output_text,
) -> Rendered | None:
    """A request, answer or output file: its value, its text, or why it cannot be shown."""
    if found is None:
        return None
    if found.problem is not None:
        return PROBLEM(path=found.path, text=found.problem)
    if found.text is not None:
        note = " (truncated)" if found.truncated else ""
        return render_text(found.text + note, key, unfolded)
    return render_value(found.value, key, unfolded, image_src, text_of)


def image_src(run_id: str, step: str) -> str:
    """Where the page finds a step's output image (relative to ``/runs``)."""
    return f"runs/{quote(run_id, safe='')}/steps/{quote(step, safe='')}/image"
