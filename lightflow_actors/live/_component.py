"""Live views: the component contract a session actor runs, and its typed events.

A view is a class with four callbacks (Phoenix LiveView's): ``mount(params, session)``
gives the first state, ``handle_event(event, state)`` answers a browser event,
``handle_info(message, state)`` answers any other message (pubsub, presence,
timers), ``render(state)`` returns the `Rendered` tree. The view object holds no
per-session data (the session actor holds the state), so one instance serves
every session. Events are msgspec structs named in the class's type arguments:

    class Inc(msgspec.Struct, frozen=True, tag="inc"):
        by: int = 1

    class Counter(LiveView[int, Inc]):
        def mount(self, params: Params, session: SessionInfo) -> int:
            return 0
        def handle_event(self, event: Inc, state: int) -> int:
            return state + event.by
        def render(self, state: int) -> Rendered:
            return COUNTER(count=state)
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar, Generic, Literal, TypeAlias, TypeVar, Union

import msgspec

from ._async import AsyncResult
from ._commands import Update
from ._cookie import SessionValue
from ._errors import EventError, ViewDefinitionError
from ._form import FormEvent
from ._rendered import Rendered
from ._template import Template
from ._upload import UploadEntry

S = TypeVar("S")
E = TypeVar("E")

Params: TypeAlias = Mapping[str, str]
"""The view's URL query parameters (after a live patch: the patched ones)."""


class SessionInfo(msgspec.Struct, frozen=True):
    """Who the view runs for, and what their request brought (Phoenix's ``session`` and
    ``connect_info``).

    `id` is the session id the page was served with (kept across reconnects);
    `connected` is False during the static render of the first GET, when commands
    are ignored (there is no session actor yet to carry them out). `signed` is the
    signed cookie session (what `PutSession` wrote; the browser cannot change it),
    `cookies` the request's other cookies and `headers` its headers (lower-case names,
    the cookie header left out): of the page's GET in the static render, of the
    WebSocket handshake once connected. `flash` holds the messages a redirect or a
    live navigation carried here; `assigns` what ``on_mount`` hooks assigned
    (`assign`); `live_session` the name of the view's `live_session` group.
    """

    id: str
    connected: bool
    signed: Mapping[str, SessionValue] = msgspec.field(default_factory=dict)
    cookies: Mapping[str, str] = msgspec.field(default_factory=dict)
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)
    flash: Mapping[str, str] = msgspec.field(default_factory=dict)
    assigns: Mapping[str, object] = msgspec.field(default_factory=dict)
    live_session: str = ""

    def assign(self, **values: object) -> SessionInfo:
        """This info with `values` added to `assigns` (what an ``on_mount`` hook returns)."""
        return msgspec.structs.replace(self, assigns={**self.assigns, **values})


class Halt(msgspec.Struct, frozen=True):
    """An ``on_mount`` hook's refusal: the view is not mounted; the browser goes to
    `redirect` (a URL; relative ones resolve against the page, so ``"login"`` is the
    view ``login`` of the same hub) with `flash` for the page it lands on.

    The first GET answers 303 with it; a WebSocket join answers a render that only
    redirects (specs/live-wire.md §13).
    """

    redirect: str
    flash: Mapping[str, str] = msgspec.field(default_factory=dict)


OnMountResult: TypeAlias = SessionInfo | Halt
OnMount: TypeAlias = Callable[[Params, SessionInfo], OnMountResult | Awaitable[OnMountResult]]
"""An ``on_mount`` hook (Phoenix's): called with the URL params and the session info
before ``mount``, on the first GET and on every WebSocket mount; returns the info to
mount with (``session.assign(user=...)``) or a `Halt`. May be ``async``."""


class AnyLiveView:
    """The non-generic base of every `LiveView`: what a hub stores in its view table."""

    title: ClassVar[str] = "Live view"
    """The page title of the first GET (a view can change it with `PageTitle`)."""

    head: ClassVar[str] = ""
    """Extra trusted HTML for the page's ``<head>`` (a ``<style>``, a ``<meta>``)."""

    on_mount: ClassVar[tuple[OnMount, ...]] = ()
    """This view's ``on_mount`` hooks, run after those of its `live_session`, in order."""

    def layout(self, inner: Rendered, flash: Mapping[str, str]) -> Rendered:
        """The tree the page shows: `inner` (what ``render`` gave) inside a layout that
        may show `flash` (Phoenix's app layout). The default shows `inner` alone; a view
        (or an app's base class) that wants its flash shown returns e.g.
        ``LAYOUT(flash=flash_group(flash), inner=inner)``."""
        return inner

    rejoin: ClassVar[Literal["rehydrate", "remount"]] = "rehydrate"
    """What a rejoining browser gets when the hub keeps session snapshots (a cluster):
    ``"rehydrate"`` continues from the state last written (here after a restart, or on
    another node); ``"remount"`` mounts the view again (ADR 0020)."""

    transient: ClassVar[frozenset[str]] = frozenset()
    """Fields of a Struct state left out of snapshots (restored at their defaults)."""

    preload: ClassVar[tuple[Template, ...]] = ()
    """Templates whose statics go out with every full render (the join, a rejoin, a
    resync), whether that render uses them or not: a part of the page that appears later
    (a panel opened, an answer arriving) then comes as values alone, its statics held
    already. Worth it for templates whose first use falls in a patch that must stay small
    or cheap; each costs its statics' bytes in the full render."""

    temporary_assigns: ClassVar[Mapping[str, object]] = {}
    """Top-level fields of the state reset to the given value after every render the
    browser gets (Phoenix's ``temporary_assigns``): a one-shot notice, a form's last
    submission, a batch of rows just sent. The render is a function of the state, so
    the next render shows the reset value; what must stay on the page after its field
    is reset belongs in a stream (``streamed``) or an ``lf-update="ignore"`` element."""


class LiveView(AnyLiveView, Generic[S, E]):
    """Base class of live views: ``S`` is the state type, ``E`` the union of event structs.

    ``mount`` may be ``async`` (to ask an actor for data); the other callbacks are
    synchronous, so a session handles one message at a time without awaiting.
    A callback may return a new state or the state it was given, changed in place:
    the session renders after each callback and sends what the diff finds (ADR 0070).
    Frozen structs are still the best state: returned unchanged, they skip the render.
    """

    def mount(
        self, params: Params, session: SessionInfo
    ) -> S | Update[S] | Awaitable[S | Update[S]]:
        """The first state, from the URL params; also called again on every reconnect."""
        raise NotImplementedError(f"{type(self).__qualname__} must define mount(params, session)")

    def render(self, state: S) -> Rendered:
        """The rendered tree of `state` (called after every change)."""
        raise NotImplementedError(f"{type(self).__qualname__} must define render(state)")

    def handle_event(self, event: E, state: S) -> S | Update[S]:
        """Answer a decoded browser event."""
        raise NotImplementedError(
            f"{type(self).__qualname__} declares events but does not define handle_event"
        )

    def handle_info(self, message: object, state: S) -> S | Update[S]:
        """Answer a pubsub message, a presence change or a timer; ignores them by default."""
        return state

    def handle_params(self, params: Params, state: S) -> S | Update[S]:
        """The URL params changed by a live patch (same view); ignores them by default."""
        return state

    def handle_async(self, name: str, result: AsyncResult[object], state: S) -> S | Update[S]:
        """The work started by ``StartAsync(name, fn)`` ended: `result` is ``ok`` with
        what ``fn`` returned, or ``failed`` with the reason (``"cancelled"`` for a
        `CancelAsync`). Ignored by default."""
        return state

    def handle_progress(self, upload: str, entry: UploadEntry, state: S) -> S | Update[S]:
        """A chunk of `entry` of the upload `upload` arrived (``entry.progress`` moved, or
        ``entry.done``); `state` already holds it. Phoenix's ``progress:`` callback: consume
        a file as soon as it is done, say. Returns `state` by default."""
        return state

    def presign_upload(
        self, upload: str, entry: UploadEntry, state: S
    ) -> Mapping[str, object] | None:
        """An entry of the external upload `upload` (``allow_upload(..., external=True)``)
        was chosen: the meta its client uploader needs (Phoenix's ``external:``
        function), a JSON object with ``"uploader"`` (the name of an uploader given to
        the client, ``uploaders: {Name: fn}``) and, say, a presigned ``"url"``; None
        refuses the entry (``external_failed``)."""
        raise ViewDefinitionError(
            f"{type(self).__qualname__} allows the external upload {upload!r} but does not "
            "define presign_upload(upload, entry, state)"
        )

    def handle_resync(self, state: S) -> S | Update[S]:
        """The browser asked this session for a full render (a patch it could not merge,
        specs/live-wire.md §4): it holds nothing now, the entries of its streams
        included, and ``mount`` does not run again. Return the state, or an ``Update``
        whose ``Stream`` commands fill the streams again for this render (ADR 0112). By
        default the streams start empty until the view streams into them again. It runs
        too when a rehydrating rejoin (a cluster's snapshot, ``rejoin = "rehydrate"``)
        continues the state without ``mount``: the new browser page holds no entry."""
        return state

    def terminate(self, reason: str, state: S) -> None:
        """The session stops (``reason`` in words); nothing to do by default."""
        return None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def event_name(event_type: type[msgspec.Struct]) -> str:
    """The wire name of an event struct: its msgspec ``tag`` if a string, else snake_case."""
    tag = event_type.__struct_config__.tag
    if isinstance(tag, str):
        return tag
    return _CAMEL.sub("_", event_type.__name__).lower()


class ViewSpec:
    """What the session needs to know about a view class, computed once per class.

    `events` maps each wire name to its struct; `decode_event` turns a browser
    payload into the typed event or raises `EventError` naming the bad field.
    """

    __slots__ = ("events", "hooks", "live_session", "name", "view")

    def __init__(
        self,
        name: str,
        view: AnyLiveView,
        *,
        live_session: str = "",
        on_mount: tuple[OnMount, ...] = (),
    ) -> None:
        if not isinstance(view, LiveView):
            raise ViewDefinitionError(
                f"view {name!r} is a {type(view).__name__}, not a LiveView instance; "
                "pass an instance such as Counter()"
            )
        self.name = name
        self.view: LiveView[object, object] = view
        self.live_session = live_session
        # The group's hooks first, then the view's own (Phoenix's order).
        self.hooks: tuple[OnMount, ...] = (*on_mount, *type(view).on_mount)
        cls = type(view)
        # Built once per class and kept on the class itself, as the kernel does for actors.
        events: dict[str, type[msgspec.Struct]] | None = cls.__dict__.get("_lightflow_events")
        if events is None:
            events = declared_events(cls)
            setattr(cls, "_lightflow_events", events)  # noqa: B010
        self.events = events

    def decode_event(self, event: str, payload: object) -> object:
        """The typed event for ``event`` with ``payload`` (a JSON object of the browser)."""
        return decode_event(self.name, self.events, event, payload)


def decode_event(
    owner: str, events: Mapping[str, type[msgspec.Struct]], event: str, payload: object
) -> object:
    """Decode a browser event for `owner` (a view or a live component) or raise `EventError`."""
    event_type = events.get(event)
    if event_type is None:
        known = ", ".join(sorted(events)) or "none"
        raise EventError(event, f"{owner} declares no such event (it accepts: {known})")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise EventError(event, f"the payload must be an object, got {type(payload).__name__}")
    if issubclass(event_type, FormEvent):
        payload = {"params": payload}  # the whole form, for to_form
    try:
        # strict=False: form values arrive as strings ("3" -> 3), as in any HTML form.
        return msgspec.convert(payload, event_type, strict=False)
    except msgspec.ValidationError as error:
        text = str(error)
        marker = " - at `"
        at = text.rfind(marker)
        path = text[at + len(marker) : -1] if at >= 0 and text.endswith("`") else "$"
        raise EventError(event, text, path) from None


def declared_events(
    cls: type, generic: type = LiveView, arity: int = 2
) -> dict[str, type[msgspec.Struct]]:
    """Event structs from ``class V(LiveView[S, A | B])`` (the last type argument of
    `generic`, which takes `arity` of them), by wire name."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is generic:
                args = typing.get_args(base)
                if len(args) != arity or isinstance(args[-1], TypeVar):
                    return {}
                return _events_of(cls, args[-1])
    return {}


def _events_of(cls: type, annotation: object) -> dict[str, type[msgspec.Struct]]:
    members: tuple[object, ...]
    if typing.get_origin(annotation) is Union or isinstance(annotation, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    events: dict[str, type[msgspec.Struct]] = {}
    for member in members:
        if member is None or member is type(None) or member is typing.Never:
            continue
        if not (isinstance(member, type) and issubclass(member, msgspec.Struct)):
            raise ViewDefinitionError(
                f"{cls.__qualname__}: event type {member!r} is not a msgspec.Struct; "
                "declare each event as a struct (class Inc(msgspec.Struct, tag='inc'))"
            )
        name = event_name(member)
        if name.startswith("lf:"):
            raise ViewDefinitionError(
                f"{cls.__qualname__}: event name {name!r} starts with 'lf:', which the live "
                "protocol keeps for itself (uploads); choose another tag"
            )
        if name in events:
            raise ViewDefinitionError(
                f"{cls.__qualname__}: events {events[name].__qualname__} and "
                f"{member.__qualname__} share the name {name!r}; give one a tag"
            )
        events[name] = member
    return events
