"""``ObserverView``: the supervision tree as a live view (``GET /observer``).

The first GET is a static snapshot rendered on the server (it works without JavaScript:
rows are links to ``?actor=<id>``, the filter form is a GET form). The live client then
joins over the WebSocket; the session subscribes to the feed's ``TREE_TOPIC`` and, on
every snapshot, re-renders, so only changed rows go out as a patch. Stop, restart and kill
are live events: the view checks the operator token with the app's ``Guard`` (the one the
HTTP routes use) and hands the action to the ``ActionDesk``, which runs it through the
gateway exactly as ``POST /actors/{id}/{action}`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from lightflow_actors.adapters.http import OPERATION_WAIT, Guard, HttpError
from lightflow_actors.kernel import ActorRef
from lightflow_actors.live import (
    Broadcast,
    LiveView,
    Params,
    PushPatch,
    Rendered,
    SendAfter,
    SessionInfo,
    SubscribeTo,
    Update,
)

from ._actions import ACTIONS_TOPIC, ActionOutcome, ActionRequest, session_topic
from ._feed import TREE_TOPIC, GetSnapshot, TreeSnapshot
from ._render import render
from ._state import (
    MAX_SEARCH,
    Act,
    Filter,
    Notice,
    ObserverEvent,
    ObserverState,
    SelectNode,
    UseToken,
    bearer,
    node_param,
    params_of,
    with_params,
    with_snapshot,
    with_token,
)

ANSWER_WAIT = OPERATION_WAIT + 5.0
"""Seconds a page waits for an action's outcome before it says none came."""


class ActionExpired(msgspec.Struct, frozen=True):
    """No outcome came for request ``ref`` in time (a ``SendAfter`` to the view itself)."""

    ref: str


class ObserverView(LiveView[ObserverState, ObserverEvent]):
    """The observer page. One instance serves every session (the state is per session).

    ``feed`` finds the ``TreeFeed`` at use time (it may have restarted); ``guard`` is the
    operator app's, so the page accepts exactly the token the HTTP actions accept.
    """

    title = "Observer · lightflow"
    head = '<link rel="icon" href="data:,"><link rel="stylesheet" href="observer.css">'

    def __init__(self, feed: Callable[[], ActorRef[GetSnapshot]], guard: Guard) -> None:
        self.feed = feed
        self.guard = guard

    async def mount(
        self, params: Params, session: SessionInfo
    ) -> ObserverState | Update[ObserverState]:
        snapshot = await self.feed().ask(GetSnapshot())
        state = ObserverState(
            session=session.id,
            connected=session.connected,
            needs_token=self.guard.has_token,
            snapshot=snapshot,
        )
        state = with_params(state, params)
        if not session.connected:
            return state
        return Update(
            state, (SubscribeTo(topic=TREE_TOPIC), SubscribeTo(topic=session_topic(session.id)))
        )

    def render(self, state: ObserverState) -> Rendered:
        return render(state)

    def handle_params(self, params: Params, state: ObserverState) -> ObserverState:
        return with_params(state, params)

    def handle_event(
        self, event: ObserverEvent, state: ObserverState
    ) -> ObserverState | Update[ObserverState]:
        if isinstance(event, UseToken):
            return with_token(state, self.guard, event.token.strip())
        if isinstance(event, Filter):
            state = msgspec.structs.replace(
                state, status=event.status, search=event.q.strip()[:MAX_SEARCH]
            )
            return Update(state, (PushPatch(params=params_of(state), replace=True),))
        if isinstance(event, SelectNode):
            node = node_param(event.node)
            if node == state.node:
                return state
            state = msgspec.structs.replace(state, node=node, selected=None, follow=None)
            return Update(state, (PushPatch(params=params_of(state)),))
        return self._act(event, state)

    def handle_info(
        self, message: object, state: ObserverState
    ) -> ObserverState | Update[ObserverState]:
        if isinstance(message, TreeSnapshot):
            followed = with_snapshot(state, message)
            if followed.selected != state.selected:
                # A restart replaced the selected child: the URL names the new actor.
                return Update(followed, (PushPatch(params=params_of(followed), replace=True),))
            return followed
        if isinstance(message, ActionOutcome) and message.ref == state.pending:
            return msgspec.structs.replace(
                state, pending=None, notice=Notice(message.text, error=not message.ok)
            )
        if isinstance(message, ActionExpired) and message.ref == state.pending:
            text = f"no answer about the action within {ANSWER_WAIT:.0f} s; check the tree"
            return msgspec.structs.replace(state, pending=None, notice=Notice(text, error=True))
        return state

    # -- events -----------------------------------------------------------------------------

    def _act(self, event: Act, state: ObserverState) -> ObserverState | Update[ObserverState]:
        what = f"{event.action} #{event.id}"
        if self.guard.has_token:
            if state.token is None:
                text = f"{what} refused: enter the operator token above first"
                return msgspec.structs.replace(state, notice=Notice(text, error=True))
            try:
                self.guard.require_token(bearer(state.token.value))
            except HttpError as error:
                text = f"{what} refused: {error.message}"
                return msgspec.structs.replace(state, token=None, notice=Notice(text, error=True))
        asked = state.asked + 1
        ref = f"{state.session}-{asked}"
        request = ActionRequest(
            ref=ref, reply_topic=session_topic(state.session), actor=event.id, action=event.action
        )
        state = msgspec.structs.replace(state, asked=asked, pending=ref, notice=Notice(f"{what}…"))
        return Update(
            state,
            (
                Broadcast(topic=ACTIONS_TOPIC, message=request),
                SendAfter(delay=ANSWER_WAIT, message=ActionExpired(ref)),
            ),
        )
