"""The root page a newcomer lands on, and the files shipped in ``static/``.

Plain HTML with the stylesheet it shares with the observer (``static/observer.css``; no CDN,
no framework). Every link is relative to where the app is mounted (``root_path``), so the
page works at ``/`` and under a host service's ``/ops`` alike. The observer itself is a
live view (``_observer.py``).

To add a page to the root page, add a ``RootLink`` to ``ROOT_LINKS`` (or pass ``links`` to
``create_app``). Link only to what exists.
"""

from __future__ import annotations

import html
from importlib import resources

import msgspec


class RootLink(msgspec.Struct, frozen=True):
    """A link on the root page. ``href`` is relative to the app root (``observer``)."""

    title: str
    href: str
    description: str


ROOT_LINKS: tuple[RootLink, ...] = (
    RootLink("OpenAPI document", "openapi.yaml", "Every route of this server, as OpenAPI 3.1."),
    RootLink("System summary", "system", "JSON: actors, supervisors, messages/s, memory, uptime."),
    RootLink("Supervision tree", "system/tree", "JSON: the tree, paginated (?root=, ?status=)."),
    RootLink("Health", "health", "JSON: the server and its event loop answer (liveness)."),
    RootLink("Ready", "ready", "JSON: every subsystem runs (readiness; 503 names those down)."),
)
"""The links on the root page, in order. Other areas append theirs here."""


def static_file(name: str) -> bytes:
    """A file shipped in ``static/`` (the stylesheet, the OpenAPI document)."""
    return resources.files(__package__).joinpath("static", name).read_bytes()


def root_page(base: str, system_name: str, links: tuple[RootLink, ...]) -> str:
    """The root page: what this server is and where to go from here."""
    items = "\n".join(
        f'    <li><a href="{html.escape(base)}/{html.escape(link.href)}">'
        f"{html.escape(link.title)}</a> <span>{html.escape(link.description)}</span></li>"
        for link in links
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>lightflow · {html.escape(system_name)}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{html.escape(base)}/observer.css">
</head>
<body class="root">
  <h1>lightflow <small>{html.escape(system_name)}</small></h1>
  <p>An actor system modelled on Erlang/OTP supervision. Start here:</p>
  <ul class="links">
{items}
  </ul>
</body>
</html>
"""
