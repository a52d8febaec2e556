"""The HTML page of a live view's first GET: the static render inside the live root.

The page works without JavaScript (it is the view's full HTML); with it, the
client script finds ``[data-lf-root]`` and joins over the WebSocket named there.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from lightflow_actors.live import escape_text

CLIENT_SCRIPT: Final = "lightflow-live.js"
"""File name of the client under ``live/static`` (served by `live_routes`)."""

LOADING_STYLE: Final = ".lf-loading{color:GrayText;cursor:progress}"
"""The default look of an element whose event waits for its answer (specs/live-wire.md §5).

Paint-only on purpose (ADR 0130): the frame that shows it can come just before the answer
is read. Text colour repaints the element alone; ``opacity`` (this rule's old look),
``transform`` or ``filter`` make the element an effect node, and that frame then redoes
the page's paint properties and paint (~10 ms of main thread on the 1 000-row table)."""

_BASE_STYLE: Final = (
    f"<style>{LOADING_STYLE}"
    "[data-lf-root].lf-disconnected{outline:2px dashed #c60;outline-offset:4px}</style>"
)


def client_script() -> bytes:
    """The client JavaScript, as shipped in the package."""
    return resources.files("lightflow_actors.live").joinpath("static", CLIENT_SCRIPT).read_bytes()


def page_html(
    *,
    body: str,
    title: str,
    head: str,
    script_url: str,
    socket_url: str,
    base: str,
    view: str,
    session_id: str,
    token: str,
    flash: str = "",
) -> str:
    """The whole document. `body` is the view's HTML (already escaped by its templates);
    `head` is trusted markup from the view class; everything else is escaped here."""
    attrs = {
        "data-lf-socket": socket_url,
        "data-lf-base": base,
        "data-lf-view": view,
        "data-lf-session": session_id,
        "data-lf-token": token,
    }
    if flash:
        attrs["data-lf-flash"] = flash  # the flash this render shows, for the join to carry
    root_attrs = "".join(f' {name}="{escape_text(value)}"' for name, value in attrs.items())
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape_text(title)}</title>{_BASE_STYLE}{head}"
        f'<script defer src="{escape_text(script_url)}"></script></head>'
        f"<body><main data-lf-root{root_attrs}>{body}</main></body></html>\n"
    )
