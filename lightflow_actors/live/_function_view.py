"""A live view written as functions: `live_view(render, mount=...)` and ``@view.on(name)``.

The common case of a view, a state, a few events and a template, without a class or an
event struct per event (ADR 0107)::

    PAGE = Template('<p>Count: <b>{count}</b></p><button lf-click="inc">+</button>')
    counter = live_view(lambda n: PAGE(count=n), mount=lambda params: int(params.get("n", "0")))

    @counter.on("inc")
    def inc(n: int, by: int = 1) -> int:
        return n + by

Each handler's parameters after the state *are* its event: ``on`` builds a frozen
msgspec struct tagged with the event name from their annotations and defaults, so a
browser payload is validated once at the boundary as for a declared struct (a bad
``by`` is an `EventError` naming it). The value is a `LiveView` like any other: mount it
in a hub, drive it with the test DSL. ``handle_params`` (a live patch's URL) and
``handle_info`` (pubsub, timers, a component's `NotifyParent`) and ``handle_resync``
(the browser dropped what it held: stream the rows again) are functions given to
`live_view` too; what needs more (uploads, async work, a layout) is written as a
`LiveView` subclass.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import msgspec

from ._commands import Update
from ._component import LiveView, Params, SessionInfo
from ._errors import ViewDefinitionError
from ._rendered import Rendered

S = TypeVar("S")
H = TypeVar("H", bound=Callable[..., Any])


class FunctionView(LiveView[S, object], Generic[S]):
    """A `LiveView` made of functions (built by `live_view`); handlers join with `on`."""

    _lightflow_events: dict[str, type[msgspec.Struct]]

    def __init__(
        self,
        render: Callable[[S], Rendered],
        mount: Callable[..., S | Update[S] | Awaitable[S | Update[S]]],
        *,
        with_session: bool,
        handle_params: Callable[[Params, S], S | Update[S]] | None = None,
        handle_info: Callable[[object, S], S | Update[S]] | None = None,
        handle_resync: Callable[[S], S | Update[S]] | None = None,
    ) -> None:
        if "_lightflow_events" not in type(self).__dict__:
            raise ViewDefinitionError("build a FunctionView with live_view(render, mount=...)")
        self._render = render
        self._mount = mount
        self._with_session = with_session
        self._params = handle_params
        self._info = handle_info
        self._resync = handle_resync
        self._handlers: dict[type[msgspec.Struct], Callable[..., S | Update[S]]] = {}

    def on(self, event: str) -> Callable[[H], H]:
        """Register the decorated function as the handler of `event`: called with the
        state and the payload's fields as keyword arguments; returns the new state or an
        `Update`. Its parameters after the state need annotations (they are the event's
        fields, validated as a struct's)."""
        if not isinstance(event, str) or not 0 < len(event) <= 256 or event.startswith("lf:"):
            raise ViewDefinitionError(
                f"event name {event!r}: give 1..256 characters, not starting with 'lf:'"
            )
        events = type(self)._lightflow_events

        def register(handler: H) -> H:
            if event in events:
                raise ViewDefinitionError(f"event {event!r} already has a handler")
            struct = _event_struct(event, handler)
            events[event] = struct
            self._handlers[struct] = handler
            return handler

        return register

    def mount(
        self, params: Params, session: SessionInfo
    ) -> S | Update[S] | Awaitable[S | Update[S]]:
        return self._mount(params, session) if self._with_session else self._mount(params)

    def render(self, state: S) -> Rendered:
        return self._render(state)

    def handle_params(self, params: Params, state: S) -> S | Update[S]:
        return state if self._params is None else self._params(params, state)

    def handle_info(self, message: object, state: S) -> S | Update[S]:
        return state if self._info is None else self._info(message, state)

    def handle_resync(self, state: S) -> S | Update[S]:
        return state if self._resync is None else self._resync(state)

    def handle_event(self, event: object, state: S) -> S | Update[S]:
        handler = self._handlers[type(event)]  # type: ignore[index]
        fields = {name: getattr(event, name) for name in event.__struct_fields__}  # type: ignore[attr-defined]
        return handler(state, **fields)


def live_view(
    render: Callable[[S], Rendered],
    *,
    mount: Callable[[Params], S | Update[S] | Awaitable[S | Update[S]]]
    | Callable[[Params, SessionInfo], S | Update[S] | Awaitable[S | Update[S]]],
    title: str = "Live view",
    temporary_assigns: Mapping[str, object] | None = None,
    handle_params: Callable[[Params, S], S | Update[S]] | None = None,
    handle_info: Callable[[object, S], S | Update[S]] | None = None,
    handle_resync: Callable[[S], S | Update[S]] | None = None,
    state: type[S] | None = None,
) -> FunctionView[S]:
    """A live view from `render` (state -> tree) and `mount` (``(params)`` or
    ``(params, session)`` -> the first state, an `Update`, or an awaitable of either);
    add event handlers with ``@view.on("name")``. `title`: the page's first title;
    `temporary_assigns`: fields reset to these values after every render
    (`LiveView.temporary_assigns`); `handle_params(params, state)`: a live patch
    changed the URL; `handle_info(message, state)`: a message that is not an event
    (both return the new state or an `Update`; by default the state is kept);
    `handle_resync(state)`: the browser holds nothing any more (a full render it asked
    for, or a rehydrating rejoin), so an `Update` of its ``Stream`` commands fills its
    streams again (`LiveView.handle_resync`, ADR 0112). `state`:
    the state's type, which a cluster's session snapshots decode into (default: the
    return annotation of `mount` when it is a class; without one a rejoining session
    is mounted again rather than rehydrated)."""
    try:
        arity = len(inspect.signature(mount).parameters)
    except (TypeError, ValueError):
        arity = 1
    if arity not in (1, 2):
        raise ViewDefinitionError(
            f"mount takes (params) or (params, session), not {arity} parameters"
        )
    # One class per view: the hub caches a view's events on its class.
    attributes = {
        "title": title,
        "_lightflow_events": {},
        "temporary_assigns": dict(temporary_assigns or {}),
        "_lightflow_state_type": state if state is not None else _returned_class(mount),
    }
    cls = type("FunctionView", (FunctionView,), attributes)
    view: FunctionView[S] = cls(
        render,
        mount,
        with_session=arity == 2,
        handle_params=handle_params,
        handle_info=handle_info,
        handle_resync=handle_resync,
    )
    return view


def _returned_class(mount: Callable[..., object]) -> type | None:
    """The class `mount` says it returns (None: no annotation, or not a plain class)."""
    try:
        returned = typing.get_type_hints(mount).get("return")
    except Exception:
        return None
    return returned if isinstance(returned, type) else None


def _event_struct(event: str, handler: Callable[..., Any]) -> type[msgspec.Struct]:
    """The frozen struct tagged `event` whose fields are `handler`'s parameters after the
    state (annotations and defaults kept)."""
    where = f"handler {getattr(handler, '__qualname__', handler)!r} of event {event!r}"
    try:
        hints = typing.get_type_hints(handler)
    except Exception as error:
        raise ViewDefinitionError(f"{where}: its annotations do not resolve ({error})") from None
    params = list(inspect.signature(handler).parameters.values())
    if not params:
        raise ViewDefinitionError(f"{where}: the first parameter is the state")
    fields: list[tuple[str, object] | tuple[str, object, object]] = []
    for param in params[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ViewDefinitionError(
                f"{where}: parameter {param.name!r} must be a plain or keyword parameter"
            )
        if param.name not in hints:
            raise ViewDefinitionError(
                f"{where}: parameter {param.name!r} needs an annotation (it is an event field)"
            )
        if param.default is param.empty:
            fields.append((param.name, hints[param.name]))
        else:
            fields.append((param.name, hints[param.name], param.default))
    name = "".join(part.capitalize() for part in event.replace("-", "_").split("_")) or "Event"
    try:
        return msgspec.defstruct(name, fields, tag=event, frozen=True, kw_only=True)
    except (TypeError, ValueError) as error:
        raise ViewDefinitionError(f"{where}: {error}") from None
