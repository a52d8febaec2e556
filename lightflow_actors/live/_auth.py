"""Auth and session plumbing: what a request brings to a mount, `on_mount` hooks and
`live_session` groups (Phoenix LiveView's), and the flash a layout shows.

A request (the page's GET, or the WebSocket handshake) becomes a `RequestInfo`: its
cookies and headers, bounded. The hub reads the signed cookie session out of it
(`_cookie.py`) and builds the `SessionInfo` a view mounts with; the view's hooks
(`run_on_mount`: its group's, then its own) may assign to it or `Halt` the mount.
Views of one `live_session` share hooks; a live navigation never crosses groups (the
browser loads the page instead, so the new group's GET runs as for a first visit).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Final

import msgspec

from ._component import AnyLiveView, Halt, OnMount, Params, SessionInfo
from ._errors import ViewDefinitionError
from ._rendered import Rendered
from ._template import Template, each

MAX_HEADERS: Final = 64
"""Headers a `RequestInfo` keeps at most (the first ones)."""
MAX_HEADER_CHARS: Final = 8192
"""Longest header value kept; a longer one is left out (servers refuse them earlier)."""
MAX_COOKIES: Final = 64
"""Cookies a `RequestInfo` keeps at most."""


class RequestInfo(msgspec.Struct, frozen=True):
    """What a page's GET or a WebSocket handshake brings: `cookies` (name -> value),
    `headers` (lower-case name -> value, without ``cookie``), whether it came over
    https (`secure`). Build it with `from_request` so the limits hold."""

    cookies: Mapping[str, str] = msgspec.field(default_factory=dict)
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    secure: bool = False

    @classmethod
    def from_request(
        cls,
        cookies: Mapping[str, str],
        headers: Iterable[tuple[str, str]],
        *,
        secure: bool = False,
    ) -> RequestInfo:
        """Keep at most `MAX_COOKIES` cookies and `MAX_HEADERS` headers, each value at
        most `MAX_HEADER_CHARS` characters; the rest is dropped, never an error."""
        kept_cookies: dict[str, str] = {}
        for name, value in cookies.items():
            if len(kept_cookies) >= MAX_COOKIES:
                break
            if len(name) <= 256 and len(value) <= MAX_HEADER_CHARS:
                kept_cookies[name] = value
        kept: dict[str, str] = {}
        for name, value in headers:
            lower = name.lower()
            if lower == "cookie" or len(value) > MAX_HEADER_CHARS or len(lower) > 256:
                continue
            if lower not in kept and len(kept) >= MAX_HEADERS:
                break
            kept[lower] = (
                value if lower not in kept else f"{kept[lower]}, {value}"[:MAX_HEADER_CHARS]
            )
        return cls(kept_cookies, kept, secure)


class GroupedView(msgspec.Struct, frozen=True):
    """A view inside a `live_session` group (what `live_session` maps names to)."""

    view: AnyLiveView
    live_session: str
    on_mount: tuple[OnMount, ...] = ()


def live_session(
    name: str, views: Mapping[str, AnyLiveView], *, on_mount: Iterable[OnMount] = ()
) -> dict[str, GroupedView]:
    """Views that share `on_mount` hooks, as Phoenix's router ``live_session``::

        hub = LiveHub(system, {
            "login": Login(),
            **live_session("signed_in", {"account": Account()}, on_mount=[require_user]),
        })

    Live navigation (``lf-navigate``, `PushNavigate`) stays inside a group; to a view of
    another group the browser loads the page instead.
    """
    if not name:
        raise ViewDefinitionError("a live_session needs a name ('' is the views outside any)")
    hooks = tuple(on_mount)
    for hook in hooks:
        if not callable(hook):
            raise ViewDefinitionError(
                f"live_session {name!r}: on_mount hook {hook!r} is not callable"
            )
    return {view_name: GroupedView(view, name, hooks) for view_name, view in views.items()}


async def run_on_mount(
    hooks: tuple[OnMount, ...], params: Params, info: SessionInfo
) -> SessionInfo | Halt:
    """Run `hooks` in order; the first `Halt` stops them. A hook must return a
    `SessionInfo` or a `Halt`; anything else is a `ViewDefinitionError`."""
    for hook in hooks:
        result = hook(params, info)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Halt):
            return result
        if not isinstance(result, SessionInfo):
            raise ViewDefinitionError(
                f"on_mount hook {getattr(hook, '__qualname__', hook)!r} returned "
                f"{type(result).__name__}; return the session info (session.assign(...)) "
                "or Halt(redirect=...)"
            )
        info = result
    return info


_FLASH = Template(
    '<div class="lf-flash lf-flash-{kind}" role="alert" lf-click="lf:clear-flash" '
    'lf-value-kind="{kind}">{message}</div>'
)
_FLASH_GROUP = Template('<div class="lf-flash-group" aria-live="polite">{items}</div>')


def flash_group(flash: Mapping[str, str]) -> Rendered:
    """The flash messages as ``<div class="lf-flash lf-flash-info" role="alert">``, one
    per kind in sorted order; a click on one clears it (the built-in
    ``lf:clear-flash`` event). For a view's `layout`."""
    items = each(_FLASH, [_FLASH(kind=kind, message=flash[kind]) for kind in sorted(flash)])
    return _FLASH_GROUP(items=items)
