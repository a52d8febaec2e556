"""The generators' templates: package data under ``templates/``, filled by
`string.Template` (``$name``; ``$$`` is a literal dollar). ADR 0103 says why not Jinja.

A template names every value it uses and `render` refuses a missing one (a bug in the
generator, never in the user's input), so a half-filled file is never written.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(path: str) -> Template:
    text = resources.files(__package__).joinpath("templates", *path.split("/")).read_text("utf-8")
    return Template(text)


def render(path: str, **values: str) -> str:
    """The template `path` (e.g. ``project/app.py.tmpl``) filled with `values`."""
    return _template(path).substitute(values)
