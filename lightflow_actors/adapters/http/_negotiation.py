"""Content negotiation for the routes a browser may open: HTML for a browser, JSON for
everyone else.

``GET /runs`` answers a browser (``Accept: text/html,...``) with the runs page and any
other client with the JSON it always had: only an ``Accept`` that names ``text/html``
with a quality at least that of ``application/json`` (and above 0) gets HTML; ``*/*``
(curl, httpx, the CLI) and a missing header get JSON. The page itself lives in a layer
above this one (``observer.runs``), so the routes take it as an ``HtmlRuns``.
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

MAX_ACCEPT_CHARS = 4096
"""An ``Accept`` header longer than this is read only this far."""


class HtmlRuns(Protocol):
    """The runs pages a browser gets instead of JSON (while ``serving``: a page not mounted
    in an app leaves every client the JSON)."""

    @property
    def serving(self) -> bool: ...

    async def runs_html(self, request: Request) -> Response: ...

    async def run_html(self, request: Request, run_id: str) -> Response: ...


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def prefers_html(accept: str | None) -> bool:
    """Whether ``Accept`` asks for HTML before JSON (RFC 9110 §12.5.1, simplified: exact
    types only, and a tie goes to HTML)."""
    if not accept:
        return False
    html = json = 0.0
    for item in accept[:MAX_ACCEPT_CHARS].split(",")[:64]:
        kind, *params = item.split(";")
        kind = kind.strip().lower()
        if kind == "text/html":
            html = max(html, _quality(params))
        elif kind == "application/json":
            json = max(json, _quality(params))
    return html > 0.0 and html >= json
