"""The live profile of the wire: what Mount params, Render views and Patch diffs hold.

The ISA frames (specs/wire.md) carry instructions whose payloads are plain JSON.
For a live session those payloads have a fixed shape, given here as msgspec
structs (the decoders) and builders (the hot path, which writes dicts directly).
specs/live-wire.md is the normative description.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, cast

import msgspec

from ..isa import JSONValue
from ._patch import Patch, decode_patch

MAX_PARAMS: Final = 64
"""Most query parameters a Mount or a live patch may carry."""

ParamText = Annotated[str, msgspec.Meta(max_length=2048)]
ParamsMap = Annotated[dict[ParamText, ParamText], msgspec.Meta(max_length=MAX_PARAMS)]


class MountParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``Mount.params`` sent by a browser: the signed session token, the URL query, and
    the flash the page or the navigation carried."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    params: ParamsMap = msgspec.field(default_factory=dict)
    flash: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    """A signed flash token (the page's ``data-lf-flash``, or a navigation's ``nav.flash``)."""


class ParamsChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``Patch.diff`` sent by a browser: a live patch changed the URL query (same view)."""

    params: ParamsMap


NavKind: TypeAlias = Literal["patch", "navigate", "redirect"]


class Nav(msgspec.Struct, frozen=True, omit_defaults=True):
    """Where the browser goes: same view new params (``patch``), another live view
    (``navigate``, ``to`` is the view name) or a full page load (``redirect``, a URL).
    ``flash``: a signed flash token a ``navigate`` hands to the next Mount."""

    kind: NavKind
    to: str = ""
    params: dict[str, str] = msgspec.field(default_factory=dict)
    replace: bool = False
    flash: str = ""


class LiveEnvelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """``Render.view`` and ``Patch.diff`` from the server.

    ``d`` is a live-diff patch (specs/live-diff.md; in a Render it starts from an empty
    client), ``ref`` the Submit it answers (ends the loading state), ``session`` the
    session id (Render only), ``nav`` and ``title`` side effects for the browser,
    ``e`` the events pushed to its hooks (`PushEvent`), in order, after the patch,
    ``rp`` the replies (`EventReply`) to the events it answers, by their ref.
    ``child`` names the live child (`live_render`) it is for, by path (``"clock"``, a
    grandchild ``"clock/hand"``); absent: the page's view (specs/live-wire.md §18).
    """

    d: dict[str, object] | None = None
    ref: str | None = None
    session: str | None = None
    nav: Nav | None = None
    title: str | None = None
    e: list[tuple[str, dict[str, object]]] | None = None
    rp: dict[str, dict[str, object]] | None = None
    child: str | None = None


ClientEvent: TypeAlias = tuple[str, dict[str, JSONValue]]
"""A `PushEvent` as the envelope's ``e`` carries it: ``[event, payload]``."""


def patch_json(patch: Patch) -> dict[str, JSONValue]:
    """A live-diff patch as the JSON object a frame carries (template ids as keys)."""
    out: dict[str, JSONValue] = {}
    if patch.templates:
        out["t"] = {str(tid): list(statics) for tid, statics in patch.templates.items()}
    if patch.root is not None:
        out["r"] = cast(JSONValue, patch.root)
    if patch.components:
        out["c"] = {str(cid): cast(JSONValue, value) for cid, value in patch.components.items()}
    return out


def render_view(
    patch: Patch,
    *,
    session: str,
    title: str | None,
    ref: str | None = None,
    events: list[ClientEvent] | None = None,
    replies: dict[str, dict[str, JSONValue]] | None = None,
) -> JSONValue:
    """The ``Render.view`` of a full render (the patch from an empty client); ``ref``:
    the last Submit it answers, when it replaces patches held back (backpressure)."""
    view: dict[str, JSONValue] = {"d": patch_json(patch), "session": session}
    if ref is not None:
        view["ref"] = ref
    if title is not None:
        view["title"] = title
    if events:
        view["e"] = [[name, payload] for name, payload in events]
    if replies:
        view["rp"] = dict(replies)
    return view


def patch_diff(
    patch: Patch | None,
    *,
    ref: str | None,
    nav: Nav | None,
    title: str | None,
    events: list[ClientEvent] | None = None,
    replies: dict[str, dict[str, JSONValue]] | None = None,
) -> JSONValue | None:
    """The ``Patch.diff`` of one update, or None when there is nothing to tell the browser."""
    diff: dict[str, JSONValue] = {}
    if patch is not None and not patch.is_empty:
        diff["d"] = patch_json(patch)
    if ref is not None:
        diff["ref"] = ref
    if nav is not None:
        diff["nav"] = nav_json(nav)
    if title is not None:
        diff["title"] = title
    if events:
        diff["e"] = [[name, payload] for name, payload in events]
    if replies:
        diff["rp"] = dict(replies)
    return diff or None


def nav_json(nav: Nav) -> JSONValue:
    """A `Nav` as JSON (defaults left out)."""
    return cast(JSONValue, msgspec.to_builtins(nav))


def decode_envelope(value: JSONValue) -> LiveEnvelope:
    """Read a ``Render.view`` / ``Patch.diff`` back (Python clients, tests)."""
    return msgspec.convert(value, LiveEnvelope)


def live_patch_of(envelope: LiveEnvelope) -> Patch | None:
    """The live-diff `Patch` inside an envelope (None if it carries none)."""
    if envelope.d is None:
        return None
    return decode_patch(msgspec.json.encode(envelope.d))
