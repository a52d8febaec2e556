"""Live components: stateful parts of a view, with their own id, state and events.

Phoenix's LiveComponent. A component is a class with ``mount(props)`` (the first
state), ``update(props, state)`` (the parent rendered it with new props),
``handle_event(event, state)`` (an event whose element says ``lf-target="{myself}"``)
and ``render(state, myself)``. Like a view, the component object holds no per-session
data: build it once and place it with ``live_component(COMPONENT, id, props)``.

`Components` is one session's table of mounted components: cid (a small integer the
session assigns, the ``myself`` of the component, never reused) -> `Mounted`. The diff
asks it to resolve each call it meets and renders the components it marks dirty, each
as its own subtree in the patch's ``"c"`` table (specs/live-diff.md §7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from heapq import heappop, heappush
from typing import Generic, TypeVar

import msgspec

from ._commands import Update
from ._component import declared_events, decode_event
from ._errors import EventError, RenderedError, ViewDefinitionError
from ._immutable import immutable_value
from ._rendered import ComponentCall, Rendered
from ._upload import UploadEntry

P = TypeVar("P")
S = TypeVar("S")
E = TypeVar("E")


class LiveComponent(Generic[P, S, E]):
    """Base class of live components: props ``P`` from the parent, state ``S``, events ``E``.

    ::

        class Toggle(msgspec.Struct, frozen=True, tag="toggle"):
            pass

        class Item(LiveComponent[Todo, Todo, Toggle]):
            def mount(self, props: Todo) -> Todo:
                return props
            def handle_event(self, event: Toggle, state: Todo) -> Todo:
                return msgspec.structs.replace(state, done=not state.done)
            def render(self, state: Todo, myself: int) -> Rendered:
                return ITEM(id=state.id, text=state.text, myself=myself)

    ``mount`` and ``update`` run while the session renders, so they return a state
    only; ``handle_event`` may return `Update(state, commands)` (`SendUpdate`,
    `NotifyParent`, and every view command).
    """

    def mount(self, props: P) -> S:
        """The first state, from the props of the first call with this id."""
        raise NotImplementedError(f"{type(self).__qualname__} must define mount(props)")

    def update(self, props: P, state: S) -> S:
        """The parent rendered this component with other props (or sent `SendUpdate`).

        By default the component starts over from the new props (``mount(props)``);
        override it to keep state of its own across prop changes.
        """
        return self.mount(props)

    def handle_event(self, event: E, state: S) -> S | Update[S]:
        """Answer an event targeted at this component."""
        raise NotImplementedError(
            f"{type(self).__qualname__} declares events but does not define handle_event"
        )

    def handle_progress(self, upload: str, entry: UploadEntry, state: S) -> S | Update[S]:
        """An entry of the component's upload `upload` (a field of its state, its input
        rendered with ``live_file_input(..., target=myself)``) made progress; `state`
        already holds it. Phoenix's ``progress:`` callback; by default nothing more."""
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

    def render(self, state: S, myself: int) -> Rendered:
        """The component's tree; `myself` is its cid, for ``lf-target="{myself}"``."""
        raise NotImplementedError(f"{type(self).__qualname__} must define render(state, myself)")


AnyComponent = LiveComponent[object, object, object]


def live_component(component: LiveComponent[P, S, E], id: str | int, props: P) -> ComponentCall:
    """Place `component` with `id` in a tree (a template field value), passing `props`.

    `id` names the component among those of its class in this session: the same id in
    the next render is the same component (its state kept); ids must be unique per
    class in one render.
    """
    if not isinstance(component, LiveComponent):
        raise ViewDefinitionError(
            f"{component!r} is not a LiveComponent instance; pass an instance such as Item()"
        )
    if isinstance(id, bool) or not isinstance(id, str | int):
        raise RenderedError(f"component id {id!r} is not a str or int; use a stable id")
    return ComponentCall(component, id if isinstance(id, str) else str(id), props)


class Mounted:
    """One mounted component of a session.

    `rendered` is the tree the browser holds for it (None: not sent yet, or the browser
    was reset); `refs` counts the slots of the trees the browser holds that name it
    (the diff keeps it; 0 after a render means the component left the page).
    """

    __slots__ = ("cid", "component", "events", "id", "props", "refs", "rendered", "state")

    def __init__(
        self, cid: int, component: AnyComponent, id: str, props: object, state: object
    ) -> None:
        self.cid = cid
        self.component = component
        self.id = id
        self.props = props
        self.state = state
        self.rendered: Rendered | None = None
        self.refs = 0
        self.events = _events_of(type(component))


def _events_of(cls: type) -> dict[str, type[msgspec.Struct]]:
    events: dict[str, type[msgspec.Struct]] | None = cls.__dict__.get("_lightflow_events")
    if events is None:
        events = declared_events(cls, LiveComponent, 3)
        setattr(cls, "_lightflow_events", events)  # noqa: B010
    return events


class StreamMirror:
    """The keys of one stream whose entries hold live components, as the browser holds
    them (order, and the cids each entry names); never the entries themselves.

    The server keeps no stream entry (ADR 0084), but a component named by an entry must
    leave when its entry does: a delete, a replacement, a reset, or a ``limit`` that
    trims it. The mirror replays those operations on keys only, so the diff can uncount
    the entry's components exactly (ADR 0109). Only streams whose entries hold
    components have one: a stream of plain entries still costs nothing per entry.
    """

    __slots__ = ("cids", "keys")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.cids: dict[str, tuple[int, ...]] = {}

    def delete(self, key: str) -> tuple[int, ...]:
        """Drop `key` if held; the cids its entry named."""
        cids = self.cids.pop(key, None)
        if cids is None:
            return ()
        self.keys.remove(key)
        return cids

    def reset(self) -> tuple[int, ...]:
        """Drop every entry; the cids they named."""
        cids = tuple(cid for named in self.cids.values() for cid in named)
        self.keys.clear()
        self.cids.clear()
        return cids

    def insert(
        self, key: str, cids: tuple[int, ...], at: int, limit: int | None, update_only: bool
    ) -> tuple[int, ...]:
        """Apply an insert (or an update) as the browser does; the cids it no longer
        holds (a replaced entry's, a trimmed entry's, or `cids` when it ignores the op)."""
        old = self.cids.get(key)
        if old is not None:
            self.cids[key] = cids
            return old
        if update_only:
            return cids
        self.cids[key] = cids
        self.keys.insert(len(self.keys) if at < 0 else min(at, len(self.keys)), key)
        if limit is None:
            return ()
        keys = self.keys
        if limit >= 0:
            if len(keys) <= limit:
                return ()
            trimmed = keys[limit:]
            del keys[limit:]
        else:
            if len(keys) <= -limit:
                return ()
            trimmed = keys[:limit]
            del keys[:limit]
        return tuple(cid for k in trimmed for cid in self.cids.pop(k))


class Components:
    """One session's mounted components, by cid and by (class, id).

    `render_context` wraps every component ``render`` (the session's stream operations).
    `streams` mirrors the keys of each stream whose entries hold components; `plain`
    names the streams that received entries without components since their last reset
    (they keep no mirror, so a component may not join them until a reset).
    """

    __slots__ = (
        "_by_key",
        "_dirty",
        "_dirty_set",
        "_next",
        "by_cid",
        "plain",
        "render_context",
        "streams",
    )

    def __init__(
        self, render_context: Callable[[], AbstractContextManager[None]] = nullcontext
    ) -> None:
        self.by_cid: dict[int, Mounted] = {}
        self._by_key: dict[tuple[type, str], int] = {}
        self._dirty: list[int] = []
        self._dirty_set: dict[int, None] = {}  # dicts as sets: see ViewProgram.topics
        self._next = 1
        self.render_context = render_context
        self.streams: dict[str, StreamMirror] = {}
        self.plain: dict[str, None] = {}

    def __len__(self) -> int:
        return len(self.by_cid)

    def __iter__(self) -> Iterator[Mounted]:
        return iter(self.by_cid.values())

    # -- what the diff asks -------------------------------------------------------------

    def resolve(self, call: ComponentCall) -> int:
        """The cid of `call`: mounts it the first time, calls ``update`` on new props,
        and marks it dirty when its state changed or the browser does not hold it."""
        component = call.component
        if not isinstance(component, LiveComponent):
            raise RenderedError(f"component {call.id!r} is not a LiveComponent: use live_component")
        key = (type(component), call.id)
        cid = self._by_key.get(key)
        if cid is None:
            cid = self._next
            self._next += 1
            state = component.mount(call.props)
            self._check_state(component, "mount", state)
            self.by_cid[cid] = Mounted(cid, component, call.id, call.props, state)
            self._by_key[key] = cid
            self.mark_dirty(cid)
            return cid
        mounted = self.by_cid[cid]
        if mounted.props is not call.props and mounted.props != call.props:
            mounted.props = call.props
            self.set_state(mounted, component.update(call.props, mounted.state), "update")
        elif mounted.rendered is None:
            self.mark_dirty(cid)
        return cid

    def cid_of(self, call: ComponentCall) -> int:
        """The cid of a call the browser already holds (no callback runs)."""
        return self._by_key[(type(call.component), call.id)]

    def next_dirty(self) -> int | None:
        """The dirty component with the smallest cid (parents before their children)."""
        while self._dirty:
            cid = heappop(self._dirty)
            if cid in self._dirty_set:
                del self._dirty_set[cid]
                if cid in self.by_cid:
                    return cid
        return None

    def render(self, mounted: Mounted) -> Rendered:
        with self.render_context():
            rendered = mounted.component.render(mounted.state, mounted.cid)
        if not isinstance(rendered, Rendered):
            raise RenderedError(
                f"{type(mounted.component).__qualname__}.render returned a "
                f"{type(rendered).__name__}; return a Template call"
            )
        return rendered

    def remove(self, cid: int) -> Mounted:
        mounted = self.by_cid.pop(cid)
        del self._by_key[(type(mounted.component), mounted.id)]
        self._dirty_set.pop(cid, None)
        return mounted

    def client_reset(self) -> None:
        """The browser holds nothing any more (a full render): every component is resent."""
        for mounted in self.by_cid.values():
            mounted.rendered = None
            mounted.refs = 0
        # A full render starts every stream empty in the browser.
        self.streams.clear()
        self.plain.clear()

    @property
    def dirty(self) -> bool:
        return bool(self._dirty_set)

    # -- what the session asks ----------------------------------------------------------

    def find(self, component: type, id: str | int) -> Mounted | None:
        cid = self._by_key.get((component, id if isinstance(id, str) else str(id)))
        return None if cid is None else self.by_cid[cid]

    def target(self, target: str, event: str) -> Mounted:
        """The component an event's ``target`` names (its cid in decimal)."""
        cid = int(target) if target.isascii() and target.isdigit() and len(target) < 10 else -1
        mounted = self.by_cid.get(cid)
        if mounted is None:
            raise EventError(
                event,
                f"no live component has cid {target!r} in this session "
                f"(mounted: {', '.join(map(str, sorted(self.by_cid))) or 'none'}); "
                "lf-target must be the component's myself",
                "$.instruction.target",
            )
        return mounted

    def decode_event(self, mounted: Mounted, event: str, payload: object) -> object:
        return decode_event(type(mounted.component).__qualname__, mounted.events, event, payload)

    def set_state(self, mounted: Mounted, state: object, callback: str) -> None:
        """Take a callback's new state; dirty unless provably unchanged (ADR 0070)."""
        self._check_state(mounted.component, callback, state)
        previous, mounted.state = mounted.state, state
        if state is not previous or not immutable_value(state):
            self.mark_dirty(mounted.cid)

    def mark_dirty(self, cid: int) -> None:
        if cid not in self._dirty_set:
            self._dirty_set[cid] = None
            heappush(self._dirty, cid)

    @staticmethod
    def _check_state(component: object, callback: str, state: object) -> None:
        if isinstance(state, Update):
            raise ViewDefinitionError(
                f"{type(component).__qualname__}.{callback} returned an Update: mount and "
                "update run while the session renders and return a state only; give "
                "commands from handle_event"
            )
