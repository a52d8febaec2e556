"""What one observer page holds: its state, the events its browser sends, its URL query.

The state is the latest ``TreeSnapshot`` plus what this operator chose: the selected actor
(followed across restarts by its supervisor and child id), the filters, the operator token
(kept here, on the server, and never rendered) and the line reporting the last action. The
selection and the filters live in the URL query too (``?actor=12&status=exited&q=pool``),
so a reload, a reconnect or a page without JavaScript shows the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal, TypeAlias, TypeVar, get_args
from urllib.parse import urlencode

import msgspec

from lightflow_actors.adapters.http import Action, Guard, HttpError

from ._feed import ClusterNodeRow, ObservedActor, TreeSnapshot

StatusFilter: TypeAlias = Literal["", "starting", "idle", "busy", "stopping", "exited"]
"""The status filter: ``""`` shows every status."""

STATUSES: Final[tuple[StatusFilter, ...]] = get_args(StatusFilter)
NODE_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A node's name (``lightflow serve --node``)."""
MAX_SEARCH = 100
"""Characters of the name filter kept (the rest is dropped)."""


class OperatorToken:
    """The operator token a page gave. Its ``repr`` hides it, so a logged state never
    shows the secret; the templates never receive it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "OperatorToken(<hidden>)"


class Notice(msgspec.Struct, frozen=True):
    """A line on the page: what the last action (or token) did; ``error`` shows it red."""

    text: str
    error: bool = False


def bearer(token: str) -> dict[str, str]:
    """The headers an HTTP action would carry with ``token`` (none for an empty one)."""
    return {"authorization": f"Bearer {token}"} if token else {}


_S = TypeVar("_S", bound=msgspec.Struct)


def with_token(state: _S, guard: Guard, token: str) -> _S:
    """`state` after its page gave `token`: with it as the `OperatorToken` when `guard`
    takes it, else with a red ``token_notice`` saying what to enter; unchanged when the
    server has no token. `state` has ``token`` and ``token_notice`` fields."""
    if not guard.has_token:
        return state
    try:
        guard.require_token(bearer(token))
    except HttpError:
        text = (
            "That token is wrong; enter the one the server was started with "
            "(--token or LIGHTFLOW_TOKEN)."
            if token
            else "Enter the operator token."
        )
        return msgspec.structs.replace(state, token_notice=Notice(text, error=True))
    return msgspec.structs.replace(state, token=OperatorToken(token), token_notice=None)


class ObserverState(msgspec.Struct, frozen=True, kw_only=True):
    """One observer page.

    ``connected`` is False for the static render of the first GET (no actions, no token
    form: without JavaScript a form would put the token in the URL). ``follow`` is the
    selected actor's ``(supervisor id, child id)``: when a restart replaces it, the
    selection moves to the new actor. ``pending`` names the action awaited (its ref).
    """

    session: str
    connected: bool
    needs_token: bool
    snapshot: TreeSnapshot
    node: str | None = None
    """Another node of the cluster whose tree the page shows (None: this node's)."""
    selected: int | None = None
    follow: tuple[int, str] | None = None
    status: StatusFilter = ""
    search: str = ""
    token: OperatorToken | None = None
    token_notice: Notice | None = None
    notice: Notice | None = None
    pending: str | None = None
    asked: int = 0


# -- events from the browser --------------------------------------------------------------


class UseToken(msgspec.Struct, frozen=True, tag="token"):
    """The token form was submitted."""

    token: str = ""


class Act(msgspec.Struct, frozen=True, tag="act"):
    """A stop / restart / kill button was clicked for actor ``id``."""

    action: Action
    id: int


class SelectNode(msgspec.Struct, frozen=True, tag="node"):
    """The node selector changed: show ``node``'s tree (empty: this node's)."""

    node: str = ""


class Filter(msgspec.Struct, frozen=True, tag="filter"):
    """The filter form changed: a status, and text matched against name, child id, class."""

    status: StatusFilter = ""
    q: str = ""


ObserverEvent: TypeAlias = UseToken | Act | Filter | SelectNode


# -- the URL query --------------------------------------------------------------------------


def with_params(state: ObserverState, params: Mapping[str, str]) -> ObserverState:
    """``state`` with the selection and filters of a URL query (bad values are ignored)."""
    actor_text = params.get("actor", "")
    # ASCII digits only ("²".isdigit() is True), and short: int() refuses > 4300 digits.
    plain = actor_text.isascii() and actor_text.isdigit() and len(actor_text) <= 18
    selected = int(actor_text) if plain else None
    status = params.get("status", "")
    node = node_param(params.get("node", ""))
    if node != state.node:
        state = msgspec.structs.replace(state, selected=None, follow=None)
    return select(
        msgspec.structs.replace(
            state,
            node=node,
            status=status if status in STATUSES else "",
            search=params.get("q", "").strip()[:MAX_SEARCH],
        ),
        selected,
    )


def node_param(text: str) -> str | None:
    """A node name from the query (as ``GET /system/tree?node=`` takes it), else None."""
    return text if NODE_NAME.fullmatch(text) else None


def query(state: ObserverState, actor: int | None) -> str:
    """The URL query showing ``actor`` with this state's filters (``actor=12&status=idle``)."""
    pairs: list[tuple[str, str]] = []
    if state.node is not None:
        pairs.append(("node", state.node))
    if actor is not None:
        pairs.append(("actor", str(actor)))
    if state.status:
        pairs.append(("status", state.status))
    if state.search:
        pairs.append(("q", state.search))
    return urlencode(pairs)


def params_of(state: ObserverState) -> dict[str, str]:
    """The URL query of ``state`` as parameters (for a ``PushPatch``)."""
    params: dict[str, str] = {}
    if state.node is not None:
        params["node"] = state.node
    if state.selected is not None:
        params["actor"] = str(state.selected)
    if state.status:
        params["status"] = state.status
    if state.search:
        params["q"] = state.search
    return params


# -- selection --------------------------------------------------------------------------------


def node_row(state: ObserverState) -> ClusterNodeRow | None:
    """The cluster summary's row of the node the page shows (None: this node's own tree,
    or not clustered)."""
    if state.node is None:
        return None
    for row in state.snapshot.nodes:
        if row.node == state.node:
            return None if row.status == "self" else row
    return ClusterNodeRow(state.node, "down", problem=f"no node {state.node!r} in the cluster")


def actors_of(state: ObserverState) -> tuple[ObservedActor, ...]:
    """The actors the page shows: this node's, or the selected peer's tree."""
    row = node_row(state)
    return state.snapshot.actors if row is None else row.tree


def find(actors: tuple[ObservedActor, ...], actor_id: int | None) -> ObservedActor | None:
    if actor_id is None:
        return None
    for actor in actors:
        if actor.id == actor_id:
            return actor
    return None


def select(state: ObserverState, actor_id: int | None) -> ObserverState:
    """Select ``actor_id`` (None: nothing) and remember how to follow it across restarts."""
    actor = find(actors_of(state), actor_id)
    follow = state.follow if actor_id == state.selected else None
    if actor is not None:
        follow = _follow_key(actor)
    return msgspec.structs.replace(state, selected=actor_id, follow=follow)


def with_snapshot(state: ObserverState, snapshot: TreeSnapshot) -> ObserverState:
    """``state`` showing ``snapshot``; a selected child replaced by a restart stays selected."""
    state = msgspec.structs.replace(state, snapshot=snapshot)
    actors = actors_of(state)
    if state.selected is None or find(actors, state.selected) is not None:
        return state
    if state.follow is not None:
        for actor in actors:
            if _follow_key(actor) == state.follow:
                return msgspec.structs.replace(state, selected=actor.id)
    return state


def _follow_key(actor: ObservedActor) -> tuple[int, str] | None:
    if actor.parent is None or actor.child_id is None:
        return None
    return (actor.parent, actor.child_id)


def matches(state: ObserverState, actor: ObservedActor) -> bool:
    """Whether the filters keep ``actor``."""
    if state.status and actor.status != state.status:
        return False
    if state.search:
        needle = state.search.lower()
        names = (actor.name or "", actor.child_id or "", actor.actor_class, f"#{actor.id}")
        return any(needle in text.lower() for text in names)
    return True
