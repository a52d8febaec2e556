"""Commands: what a live view asks its session to do besides changing its state.

A view's callbacks stay pure: they return the new state, optionally wrapped in
`Update(state, commands)`. The session actor carries the commands out after the
callback returns (subscribe, broadcast, track presence, start a timer, change the
URL, navigate). Commands are data, so a test can assert on them without a system.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Generic, TypeAlias, TypeVar

import msgspec

from ..isa import JSONValue, PayloadError, check_json_value
from ..kernel import ActorRef
from ._async import AssignAsync, CancelAsync, StartAsync
from ._cookie import SessionValue
from ._errors import JSCommandError
from ._rendered import Rendered

S = TypeVar("S")

_FLASH_KIND: Final = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")

MetaValue: TypeAlias = str | int | float | bool | None
"""A presence metadata value: a JSON scalar, so presence can cross a broker."""


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    """Shared options: frozen and keyword-only, so a command reads like a sentence."""


class SubscribeTo(_Command, frozen=True):
    """Receive every message published on `topic` in `handle_info`."""

    topic: str


class UnsubscribeFrom(_Command, frozen=True):
    """Stop receiving `topic`."""

    topic: str


class Broadcast(_Command, frozen=True):
    """Publish `message` to every subscriber of `topic` (this session too, if subscribed).

    Local subscribers get the object itself; across a broker it must be msgspec-encodable.
    """

    topic: str
    message: object


class Track(_Command, frozen=True):
    """Appear in the presence list of `topic` as `key` until untracked or stopped.

    The session then receives a `PresenceState` (who is here now) and, once
    subscribed to `topic`, every `PresenceDiff`. A crash of the session removes it.
    """

    topic: str
    key: str
    meta: Mapping[str, MetaValue] = msgspec.field(default_factory=dict)


class Untrack(_Command, frozen=True):
    """Leave the presence list of `topic` (every entry this session tracked under `key`)."""

    topic: str
    key: str


class ListPresence(_Command, frozen=True):
    """Ask for a `PresenceState` of `topic` without tracking (a read-only observer)."""

    topic: str


class SendAfter(_Command, frozen=True):
    """Deliver `message` to this session's `handle_info` after `delay` seconds."""

    delay: float
    message: object


class SendTo(_Command, frozen=True):
    """Tell `message` to the actor `to` (Phoenix's ``send(pid, message)``, kept pure).

    For a view that shares state through an actor it owns none of: a chat room that
    keeps the history, a store. The answer, if any, comes back through `handle_info`
    (the actor publishes it, or tells the session a message it knows).
    """

    to: ActorRef[Any]
    message: object


class PushPatch(_Command, frozen=True):
    """Change the URL's query to `params` without a reload (same view).

    The browser updates its history (`replace` instead of push if asked); a later
    reconnect mounts with these params, so state kept in them survives a crash.
    """

    params: Mapping[str, str]
    replace: bool = False


class PushNavigate(_Command, frozen=True):
    """Switch the browser to another live view without a full page load."""

    view: str
    params: Mapping[str, str] = msgspec.field(default_factory=dict)
    replace: bool = False


class Redirect(_Command, frozen=True):
    """Leave live navigation: the browser loads `url` (a full page load)."""

    url: str


class PutFlash(_Command, frozen=True):
    """Show `message` as the flash of `kind` (``"info"``, ``"error"``) in the view's
    `layout` (Phoenix's ``put_flash``). It stays through live patches and goes with the
    browser to the view a `PushNavigate`, `Redirect` or `PutSession` of the same callback
    leads to; `ClearFlash`, or a click on ``lf-click="lf:clear-flash"``, removes it."""

    kind: str
    message: str

    def __post_init__(self) -> None:
        if not _FLASH_KIND.match(self.kind):
            raise ValueError(
                f"PutFlash.kind {self.kind!r} must be 1-32 lower-case letters, digits, _ or - "
                "starting with a letter (e.g. 'info', 'error')"
            )
        if len(self.message) > 1024:
            raise ValueError(f"PutFlash.message has {len(self.message)} characters, at most 1024")


class ClearFlash(_Command, frozen=True):
    """Remove the flash of `kind`, or every flash when `kind` is None (``clear_flash``)."""

    kind: str | None = None


class PutSession(_Command, frozen=True):
    """Write the signed cookie session, then load `to` (Phoenix's ``put_session`` and
    ``configure_session``, done from a live view).

    A WebSocket cannot set a cookie, so the browser makes one GET of ``{base}/session``
    with a token signed for its own session (60 s), which sets the cookie and redirects
    to `to` (a view name with its query, ``"account?tab=2"``, relative to the hub). `put`
    adds or replaces keys, `drop` removes keys, `clear` empties the session first,
    `renew` gives it a new id (do it on log in and log out: pages served before are
    refused and reload, and a session id an attacker planted is worth nothing).
    """

    to: str
    put: Mapping[str, SessionValue] = msgspec.field(default_factory=dict)
    drop: tuple[str, ...] = ()
    clear: bool = False
    renew: bool = False

    def __post_init__(self) -> None:
        if not relative_target(self.to):
            raise ValueError(
                f"PutSession.to {self.to!r} must name a view of this hub with its query "
                "('account', 'account?tab=2'): no scheme, host, '/', '\\' or '..'"
            )
        size = len(msgspec.json.encode(dict(self.put)))
        if size > 2048 or len(self.put) > 64:
            raise ValueError(
                f"PutSession.put holds {len(self.put)} keys in {size} bytes (at most 64 in "
                "2048): a cookie is small; keep ids in the session, not whole objects"
            )


class PageTitle(_Command, frozen=True):
    """Set `document.title`."""

    title: str


class PushEvent(_Command, frozen=True):
    """Send `event` with `payload` to the browser, after the patch of this update:
    every client hook that called ``this.handleEvent(event, ...)`` gets it, and
    ``window`` gets a ``lf:<event>`` `CustomEvent` whose ``detail`` is the payload
    (Phoenix's ``push_event/3``). Events are not state: while the browser is held
    back (specs/live-wire.md §8) they queue, the oldest dropped past 256."""

    event: str
    payload: Mapping[str, JSONValue] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not 0 < len(self.event) <= 256:
            raise JSCommandError("event", f"expected 1..256 characters, got {self.event!r}")
        _check_payload(self.payload, [self.event, self.payload])


def _check_payload(payload: Mapping[str, JSONValue], sent: object) -> None:
    """Refuse `payload` unless it is JSON and `sent` (what goes on the wire with it)
    encodes: `JSCommandError` naming ``payload``."""
    try:
        check_json_value(dict(payload), "payload")
        msgspec.json.encode(sent)
    except PayloadError as error:
        raise JSCommandError("payload", str(error)) from None
    except UnicodeEncodeError:
        raise JSCommandError(
            "payload", "holds a string that is not valid UTF-8 (a lone surrogate)"
        ) from None


class EventReply(_Command, frozen=True):
    """Answer the browser event being handled with `payload` (Phoenix's
    ``{:reply, map, socket}``): a hook's ``pushEvent(event, payload, onReply)`` gets it
    (``onReply(payload, ref)``, and the Promise ``pushEvent`` returns resolves to it).

    Only ``handle_event`` (of a view or a live component) may reply; returning one from
    any other callback is a `ViewDefinitionError`. The reply rides on the patch that
    answers the event (the envelope's ``rp``, specs/live-wire.md), so it costs no frame
    of its own; the last reply of one callback wins.
    """

    payload: Mapping[str, JSONValue] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_payload(self.payload, self.payload)


# -- streams and live components (specs/live-diff.md §7-8) ------------------------------


class Stream(_Command, frozen=True):
    """Phoenix's ``stream/4``: send `entries` (``(key, rendered)`` pairs) to the stream `name`.

    The stream is placed in the tree with ``streamed(name, TEMPLATE)``; the entries go
    to the browser with the next patch and the session keeps none of them. `at` is -1
    (append) or the index each entry is inserted at; `limit` keeps the first `limit`
    entries of the browser's list (the last ``-limit`` if negative); `reset` empties the
    browser's list first. An entry whose key the browser holds is replaced in place.
    """

    name: str
    entries: Sequence[tuple[str | int, Rendered]] = ()
    at: int = -1
    limit: int | None = None
    reset: bool = False


class StreamInsert(_Command, frozen=True):
    """Phoenix's ``stream_insert/4``: insert (or replace in place) one entry of `name`.

    With `update_only`, an entry the browser does not hold is not inserted.
    """

    name: str
    key: str | int
    entry: Rendered
    at: int = -1
    limit: int | None = None
    update_only: bool = False


class StreamDelete(_Command, frozen=True):
    """Phoenix's ``stream_delete/3``: remove the entry `key` of `name` (if the browser holds it)."""

    name: str
    key: str | int


class SendUpdate(_Command, frozen=True):
    """Phoenix's ``send_update/3``: call ``update(props, state)`` of the live component
    of type `component` with `id` (in this session), then render it.

    Ignored when no such component is mounted (it left the page meanwhile).
    """

    component: type
    id: str | int
    props: object


class NotifyParent(_Command, frozen=True):
    """From a live component: deliver `message` to the view's ``handle_info``
    (Phoenix's ``send(self(), message)`` from a component). From a live child's view
    (`live_render`): to its parent view's ``handle_info`` (Phoenix's
    ``send(socket.parent_pid, message)``)."""

    message: object


class SendChild(_Command, frozen=True):
    """Deliver `message` to the ``handle_info`` of this view's live child `id` (Phoenix's
    ``send(child_pid, message)``); dropped when no child with that id runs (it left the
    render, or is being started again after a crash)."""

    id: str
    message: object


Command: TypeAlias = (
    SubscribeTo
    | UnsubscribeFrom
    | Broadcast
    | Track
    | Untrack
    | ListPresence
    | SendAfter
    | SendTo
    | SendChild
    | PushPatch
    | PushNavigate
    | Redirect
    | PageTitle
    | PushEvent
    | EventReply
    | PutFlash
    | ClearFlash
    | PutSession
    | AssignAsync
    | StartAsync
    | CancelAsync
    | Stream
    | StreamInsert
    | StreamDelete
    | SendUpdate
    | NotifyParent
)
"""Every command a view may return."""


class Update(msgspec.Struct, Generic[S], frozen=True):
    """A new state plus commands: ``return Update(state, (SubscribeTo("room"),))``.

    A callback that has no command to give returns the bare state instead.
    """

    state: S
    commands: tuple[Command, ...] = ()


def relative_target(to: str) -> bool:
    """Whether `to` is a view of the same hub with its query (``"login?next=account"``):
    no scheme, host, absolute path, backslash, ``..`` or control character, so a
    redirect through it never leaves the hub."""
    if not to or len(to) > 2048 or to.startswith(("/", ".")):
        return False
    path = to.split("?", 1)[0].split("#", 1)[0]
    return (
        bool(path)
        and ":" not in path
        and "/" not in path
        and "\\" not in to
        and ".." not in to
        and all(" " < c < "\x7f" for c in to)
    )
