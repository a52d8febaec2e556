"""Nested live views: `live_render` places a child view, with its own session, in a tree.

Phoenix's ``live_render(socket, View, id: ..., session: ...)`` (ADR 0115). The parent's
tree holds only the child's *container*, an empty element that never changes::

    <div id="clock" data-lf-child="clock"></div>

so the parent's diff never carries the child's HTML. The session that renders the
parent finds the children of each render (`collecting`), starts a `LiveSession` for
each new id under itself, stops the one whose id left the tree, and leaves the others
alone (a re-render never mounts a running child again). The child's renders and
patches travel on the parent's socket in envelopes naming the child's path
(``"child": "clock"``, ``"clock/hand"`` for a grandchild); the client fills the
container with them (specs/live-wire.md §18).

This module is pure: the container's markup, the per-render collection and the path
grammar (`_program.fill_children` fills the containers of a first GET).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final, TypeAlias

from ._component import AnyLiveView, LiveView, SessionInfo
from ._cookie import SessionValue
from ._errors import ViewDefinitionError
from ._markup import escape_text
from ._rendered import Rendered
from ._template import fingerprint_of

CHILD_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
"""A child's id: its DOM id and its name in paths (no ``/``, no ``.``)."""

_ATTR_NAME: Final = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]{0,63}")
_TAG: Final = re.compile(r"[a-z][a-z0-9-]{0,31}")
_RESERVED_ATTRS: Final = frozenset({"id", "data-lf-child", "data-lf-sticky"})

MAX_CHILDREN: Final = 64
"""Most children one view may render (each is a session actor)."""

MAX_DEPTH: Final = 8
"""Most levels of nesting (a child of a child of ...), counting the page's view as 0."""


class ChildCall:
    """One `live_render` in a render: the child `view`, its `id`, the `session` values
    its mount receives, its container's markup (`open` + `close`), and whether it is
    `sticky` (kept across live navigation, owned by the connection: ADR 0126)."""

    __slots__ = ("close", "id", "open", "session", "sticky", "view")

    def __init__(
        self,
        view: LiveView[object, object],
        id: str,
        session: Mapping[str, SessionValue],
        open: str,
        close: str,
        sticky: bool = False,
    ) -> None:
        self.view = view
        self.id = id
        self.session = session
        self.open = open
        self.close = close
        self.sticky = sticky

    @property
    def container(self) -> str:
        """The empty container as the parent's tree holds it."""
        return self.open + self.close

    def same_child(self, other: ChildCall) -> bool:
        """Whether `other` (this id in a later render) is the same child: the same view
        class (a function view is a class of its own). Its session values are those of
        its first render, as in Phoenix (a running child is never mounted again). A
        sticky child and a plain one with the same id are not the same child."""
        return type(self.view) is type(other.view) and self.sticky == other.sticky


Children: TypeAlias = dict[str, ChildCall]
"""The children of one render, by id, in the order they were placed."""

_COLLECTING: contextvars.ContextVar[Children | None] = contextvars.ContextVar(
    "lightflow_live_children", default=None
)


def begin_collecting() -> tuple[Children, contextvars.Token[Children | None]]:
    """Start collecting `live_render` calls (a view's render, the hot path: no context
    manager); `end_collecting(token)` when the render is done."""
    found: Children = {}
    return found, _COLLECTING.set(found)


def end_collecting(token: contextvars.Token[Children | None]) -> None:
    _COLLECTING.reset(token)


@contextmanager
def collecting() -> Iterator[Children]:
    """Collect the `live_render` calls made while the block runs (a view's render)."""
    found: Children = {}
    token = _COLLECTING.set(found)
    try:
        yield found
    finally:
        _COLLECTING.reset(token)


def live_render(
    view: AnyLiveView,
    *,
    id: str,
    session: Mapping[str, SessionValue] | None = None,
    tag: str = "div",
    attrs: Mapping[str, str] | None = None,
    sticky: bool = False,
) -> Rendered:
    """Place the live view `view` as a child of the view being rendered (Phoenix's
    ``live_render``): a template field value, in the view's ``render``.

    The child gets a session of its own under the parent's session: its ``mount(params,
    session)`` gets no params (``{}``, Phoenix's ``:not_mounted_at_router``) and the
    parent's session info with `session` added to ``signed``; then its own state,
    events, ``handle_info``, and diffs on the page's socket. It crashes and restarts
    alone; the parent's exit takes it down. `id` is its DOM id and its name (unique on
    the page, a letter then letters, digits, ``-`` or ``_``); the same id in a later
    render is the same running child (never mounted again), a render without it stops
    it. `tag` and `attrs` shape the container element. Children belong in the view's
    own ``render``: one inside a live component or a stream entry shows an empty
    container and never starts.

    `sticky=True` (Phoenix's ``sticky: true``, ADR 0126): the child belongs to the
    connection, not to this view. A live navigation to another view of the same
    ``live_session`` whose render places the same id (a shared layout) keeps it running,
    its state and its DOM; a view that does not place it stops it, and so does leaving
    the ``live_session`` (the page loads anew). Only the page's own view (or its
    layout) may place a sticky child; it has no parent (``NotifyParent`` is dropped).

    >>> from lightflow_actors.live import live_view, to_html, Template
    >>> clock = live_view(lambda s: Template("<p>{s}</p>")(s=s), mount=lambda p: "12:00")
    >>> to_html(live_render(clock, id="clock", attrs={"class": "box"}))
    '<div id="clock" data-lf-child="clock" class="box"></div>'
    """
    if not isinstance(view, LiveView):
        raise ViewDefinitionError(
            f"live_render needs a LiveView instance (such as Clock() or a live_view(...)), "
            f"not {type(view).__name__}"
        )
    if not isinstance(id, str) or CHILD_ID.fullmatch(id) is None:
        raise ViewDefinitionError(
            f"live_render id {id!r}: use a letter, then up to 63 letters, digits, '-' or '_' "
            "(it is the container's DOM id)"
        )
    if _TAG.fullmatch(tag) is None:
        raise ViewDefinitionError(f"live_render tag {tag!r} is not an HTML tag name")
    extra = []
    for name, value in (attrs or {}).items():
        if _ATTR_NAME.fullmatch(name) is None or name.lower() in _RESERVED_ATTRS:
            raise ViewDefinitionError(
                f"live_render attribute {name!r}: not an attribute name, or one the "
                "container sets itself (id, data-lf-child, data-lf-sticky)"
            )
        extra.append(f' {name}="{escape_text(str(value))}"')
    mark = " data-lf-sticky" if sticky else ""
    open = f'<{tag} id="{id}" data-lf-child="{id}"{mark}{"".join(extra)}>'
    close = f"</{tag}>"
    call = ChildCall(view, id, dict(session or {}), open, close, bool(sticky))
    found = _COLLECTING.get()
    if found is not None:
        if id in found:
            raise ViewDefinitionError(
                f"live_render id {id!r} is used twice in one render; give each child its own id"
            )
        if len(found) >= MAX_CHILDREN:
            raise ViewDefinitionError(f"a view may render at most {MAX_CHILDREN} live children")
        found[id] = call
    statics = (call.container,)
    return Rendered(fingerprint_of(statics), statics, ())


def child_session(parent: SessionInfo, call: ChildCall, connected: bool) -> SessionInfo:
    """The session info a child's mount receives: the parent's, with the id
    ``<parent id>.<child id>``, the `live_render` session values added to ``signed``,
    and no flash (the page's flash is the parent's)."""
    return SessionInfo(
        f"{parent.id}.{call.id}",
        connected,
        signed={**parent.signed, **call.session},
        cookies=parent.cookies,
        headers=parent.headers,
        live_session=parent.live_session,
    )


def split_target(target: str) -> tuple[str, str | None]:
    """A Submit target that names a child, split into the child's id and the rest (the
    target inside the child: its child, its component's cid, or None for the view)."""
    head, slash, rest = target.partition("/")
    return head, (rest if slash else None)


def names_child(target: str | None) -> bool:
    """Whether a Submit's target names a live child (a path starting with an id), not
    one of the view's own components (a cid, all digits)."""
    return target is not None and target[:1].isalpha()
