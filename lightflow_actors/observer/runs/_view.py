"""``RunsView``: every workflow run as a live view (``GET /runs`` in a browser).

The first GET is a static snapshot rendered on the server (without JavaScript, rows are
links and the filters a GET form). The live client then joins over the WebSocket; the
session subscribes to the feed's ``LIST_TOPIC`` and to the topic of each run it shows,
and re-renders on every publication, so only what changed goes out as a patch. Cancel,
retry and re-run are live events: the view checks the operator token with the app's
``Guard`` (the one the HTTP routes use; the token stays in the session, never in the
page) and hands the action to the ``RunsDesk``, which asks the runs host exactly what the
HTTP routes ask.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from lightflow_actors.adapters.http import Guard, HttpError
from lightflow_actors.kernel import ActorRef
from lightflow_actors.live import (
    Broadcast,
    Command,
    LiveView,
    Params,
    PushPatch,
    Rendered,
    SendAfter,
    SessionInfo,
    SubscribeTo,
    UnsubscribeFrom,
    Update,
)

from .._state import Notice, bearer, with_token
from ._desk import ACTIONS_TOPIC, RunAction, RunActionOutcome, session_topic
from ._feed import (
    FOLLOW_TOPIC,
    LIST_TOPIC,
    FeedMessage,
    FollowRun,
    GetAssets,
    GetListing,
    GetRun,
    run_topic,
)
from ._form import MAX_VALUE_CHARS, FormError, fields_of, inputs_of
from ._listed import sync_list
from ._model import RunDetail, RunMissing, RunsListing
from ._pacing import DrawMore, next_shown
from ._render import STEP_PANEL, render
from ._state import (
    CompareWith,
    Create,
    Filter,
    Fold,
    Rerun,
    RunsEvent,
    RunsState,
    SelectStep,
    Unfold,
    UseToken,
    params_of,
    run_id_param,
    unfold,
    with_params,
)

MAX_INPUTS_CHARS = 2 * MAX_VALUE_CHARS
"""Characters of inputs typed as JSON taken at most."""

ANSWER_WAIT = 70.0
"""Seconds a page waits for an action's outcome (a create resolves its workflow first,
for up to the evaluator's timeout) before it says none came."""


class ActionExpired(msgspec.Struct, frozen=True):
    """No outcome came for request ``ref`` in time (a ``SendAfter`` to the view itself)."""

    ref: str


class RunsView(LiveView[RunsState, RunsEvent]):
    """The runs page. One instance serves every session (the state is per session).

    ``feed`` finds the ``RunsFeed`` at use time (it may have restarted); ``guard`` is
    the operator app's, so the page accepts exactly the token the HTTP routes accept.
    """

    title = "Runs · lightflow"
    head = (
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="observer.css">'
        '<link rel="stylesheet" href="runs/static/runs.css">'
    )
    preload = STEP_PANEL

    def __init__(
        self,
        feed: Callable[[], ActorRef[FeedMessage]],
        guard: Guard,
    ) -> None:
        self.feed = feed
        self.guard = guard

    async def mount(self, params: Params, session: SessionInfo) -> RunsState | Update[RunsState]:
        return _listed(await self._mount(params, session))

    async def _mount(self, params: Params, session: SessionInfo) -> RunsState | Update[RunsState]:
        feed = self.feed()
        listing = await feed.ask(GetListing())
        state = RunsState(
            session=session.id,
            connected=session.connected,
            needs_token=self.guard.has_token,
            listing=listing,
        )
        state = with_params(state, params)
        if session.connected:  # the forms are live only
            assets = await feed.ask(GetAssets())
            state = msgspec.structs.replace(
                state, workflows=assets.workflows, presets=assets.presets
            )
        if state.run is not None:
            state = msgspec.structs.replace(state, detail=await feed.ask(GetRun(state.run)))
        if state.compare is not None:
            state = msgspec.structs.replace(state, other=await feed.ask(GetRun(state.compare)))
        if not session.connected:
            return state
        commands: list[Command] = [
            SubscribeTo(topic=LIST_TOPIC),
            SubscribeTo(topic=session_topic(session.id)),
        ]
        commands += _follow(None, state)
        return Update(state, tuple(commands))

    def render(self, state: RunsState) -> Rendered:
        return render(state)

    def handle_params(self, params: Params, state: RunsState) -> RunsState | Update[RunsState]:
        return _listed(self._params(params, state))

    def handle_event(self, event: RunsEvent, state: RunsState) -> RunsState | Update[RunsState]:
        return _listed(self._event(event, state))

    def handle_info(self, message: object, state: RunsState) -> RunsState | Update[RunsState]:
        return _listed(self._info(message, state))

    def handle_resync(self, state: RunsState) -> RunsState | Update[RunsState]:
        # The browser dropped the rows it held (a patch it could not merge): the page
        # it should hold goes out again, whole, with the full render (ADR 0112).
        return _listed(msgspec.structs.replace(state, listed=None))

    def _params(self, params: Params, state: RunsState) -> RunsState | Update[RunsState]:
        new = with_params(state, params)
        if new.run == state.run and new.compare == state.compare:
            return new
        commands = _follow(state, new)
        return Update(new, tuple(commands)) if commands else new

    def _event(self, event: RunsEvent, state: RunsState) -> RunsState | Update[RunsState]:
        if isinstance(event, Filter):
            state = msgspec.structs.replace(
                state, status=event.status, workflow=event.workflow[:200], page=1
            )
            return Update(state, (PushPatch(params=params_of(state), replace=True),))
        if isinstance(event, SelectStep):
            step = event.step[:200] if event.step != state.step else None
            state = msgspec.structs.replace(state, step=step)
            return Update(state, (PushPatch(params=params_of(state)),))
        if isinstance(event, Unfold | Fold):
            return unfold(state, event.key, isinstance(event, Unfold))
        if isinstance(event, UseToken):
            return with_token(state, self.guard, event.token.strip())
        if isinstance(event, Create):
            return self._create(event, state)
        if isinstance(event, CompareWith):
            other = run_id_param(event.compare)
            if other is None or state.run is None or other == state.run:
                return state
            return _navigate(state, {"run": state.run, "compare": other})
        return self._act(event, state)

    def _info(self, message: object, state: RunsState) -> RunsState | Update[RunsState]:
        if isinstance(message, RunsListing):
            return msgspec.structs.replace(state, listing=message)
        if isinstance(message, RunDetail | RunMissing):
            if message.run_id == state.compare:
                state = msgspec.structs.replace(state, other=message)
            if message.run_id == state.run:
                # a DrawMore is on its way while something arrives: it draws on
                return _draw(state, message, pending=state.arriving is not None)
            return state
        if isinstance(message, DrawMore):
            if state.arriving is None or message.run_id != state.run:
                return state
            return _draw(state, state.arriving, pending=False)
        if isinstance(message, RunActionOutcome) and message.ref == state.pending:
            notice = Notice(message.text, error=not message.ok)
            created = message.ok and message.run_id is not None and message.run_id != state.run
            state = msgspec.structs.replace(
                state,
                pending=None,
                notice=notice,
                form_notice=notice if created or not message.ok else state.form_notice,
            )
            if created:
                assert message.run_id is not None
                return _navigate(state, {"run": message.run_id})
            return state
        if isinstance(message, ActionExpired) and message.ref == state.pending:
            text = f"no answer about the action within {ANSWER_WAIT:.0f} s; check the run"
            return msgspec.structs.replace(state, pending=None, notice=Notice(text, error=True))
        return state

    # -- actions ----------------------------------------------------------------------------

    def _act(self, event: RunsEvent, state: RunsState) -> RunsState | Update[RunsState]:
        detail = state.detail
        if not isinstance(detail, RunDetail):
            return msgspec.structs.replace(state, notice=Notice("open a run first", error=True))
        kind = "create" if isinstance(event, Rerun) else str(event.__struct_config__.tag)
        what = f"{kind} {detail.run_id}" if kind != "create" else f"run of {detail.workflow}"
        return self._checked(event, state, detail, kind, what)

    def _create(self, event: Create, state: RunsState) -> RunsState | Update[RunsState]:
        what = f"run of {event.workflow or '(no workflow)'}"
        return self._checked(event, state, None, "create", what)

    def _checked(
        self,
        event: RunsEvent,
        state: RunsState,
        detail: RunDetail | None,
        kind: str,
        what: str,
    ) -> RunsState | Update[RunsState]:
        form = isinstance(event, Rerun | Create)
        if self.guard.has_token:
            if state.token is None:
                text = f"{what} refused: enter the operator token above first"
                return _refused(state, text, form)
            try:
                self.guard.require_token(bearer(state.token.value))
            except HttpError as error:
                return _refused(
                    msgspec.structs.replace(state, token=None),
                    f"{what} refused: {error.message}",
                    form,
                )
        asked = state.asked + 1
        ref = f"{state.session}-{asked}"
        reply = session_topic(state.session)
        if isinstance(event, Create):
            try:
                inputs = _json_object(event.inputs)
            except FormError as error:
                return _refused(state, f"not run: {error}", True)
            if not event.workflow:
                return _refused(state, "not run: choose a workflow", True)
            request = RunAction(
                ref=ref,
                reply_topic=reply,
                kind="create",
                workflow=event.workflow[:200],
                inputs=msgspec.json.encode(inputs),
                preset=event.preset or None,
            )
        elif isinstance(event, Rerun):
            assert detail is not None
            try:
                inputs = _rerun_inputs(event, detail)
            except FormError as error:
                return _refused(state, f"not run: {error}", True)
            request = RunAction(
                ref=ref,
                reply_topic=reply,
                kind="create",
                workflow=detail.workflow,
                inputs=msgspec.json.encode(inputs),
                preset=event.preset or None,
            )
        elif kind == "cancel":
            assert detail is not None
            request = RunAction(ref=ref, reply_topic=reply, kind="cancel", run_id=detail.run_id)
        else:
            assert detail is not None
            request = RunAction(ref=ref, reply_topic=reply, kind="retry", run_id=detail.run_id)
        notice = Notice(f"{what}…")
        state = msgspec.structs.replace(
            state,
            asked=asked,
            pending=ref,
            notice=notice,
            form_notice=notice if form else state.form_notice,
        )
        return Update(
            state,
            (
                Broadcast(topic=ACTIONS_TOPIC, message=request),
                SendAfter(delay=ANSWER_WAIT, message=ActionExpired(ref)),
            ),
        )


def _listed(result: RunsState | Update[RunsState]) -> RunsState | Update[RunsState]:
    """``result`` with the list's stream operations (``_listed.py``): every callback's
    state goes through here, so the rows the browser holds follow the listing, the
    filters and the page whatever changed them."""
    state, commands = (
        (result.state, result.commands) if isinstance(result, Update) else (result, ())
    )
    synced, operations = sync_list(state)
    if not operations:
        return result if synced is state else _with(result, synced)
    return Update(synced, (*commands, *operations))


def _with(result: RunsState | Update[RunsState], state: RunsState) -> RunsState | Update[RunsState]:
    return Update(state, result.commands) if isinstance(result, Update) else state


def _draw(
    state: RunsState, latest: RunDetail | RunMissing, *, pending: bool
) -> RunsState | Update[RunsState]:
    """Draw ``latest`` (the run shown), a few steps per patch (``_pacing.py``);
    ``pending``: a `DrawMore` is on its way already."""
    if isinstance(latest, RunMissing) or state.compare is not None:
        return msgspec.structs.replace(state, detail=latest, arriving=None)
    shown = state.detail if isinstance(state.detail, RunDetail) else None
    drawn = next_shown(shown, latest, state.step)
    if drawn is latest:
        return msgspec.structs.replace(state, detail=latest, arriving=None)
    state = msgspec.structs.replace(state, detail=drawn, arriving=latest)
    if pending:
        return state
    return Update(state, (SendAfter(delay=0.0, message=DrawMore(latest.run_id)),))


def _navigate(state: RunsState, params: dict[str, str]) -> Update[RunsState]:
    """Show what ``params`` ask and put them in the URL (a ``PushPatch`` only changes the
    browser's URL: the view applies the params itself)."""
    new = with_params(state, params)
    return Update(new, (*_follow(state, new), PushPatch(params=params)))


def _refused(state: RunsState, text: str, form: bool) -> RunsState:
    notice = Notice(text, error=True)
    return msgspec.structs.replace(
        state, notice=notice, form_notice=notice if form else state.form_notice
    )


def _json_object(text: str | None) -> dict[str, object]:
    """The inputs typed as JSON (an object), or a ``FormError`` saying what is wrong."""
    if text is not None and len(text) > MAX_INPUTS_CHARS:
        raise FormError(f"inputs: at most {MAX_INPUTS_CHARS} characters")
    try:
        value = msgspec.json.decode((text or "{}").encode("utf-8", "surrogatepass"))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise FormError(f"inputs: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise FormError("inputs: expected a JSON object")
    return value


def _rerun_inputs(event: Rerun, detail: RunDetail) -> dict[str, object]:
    fields = fields_of(detail.input_schema)
    if fields is None:
        return _json_object(event.inputs)
    return dict(inputs_of(fields, event.values()))


def _follow(before: RunsState | None, after: RunsState) -> list[Command]:
    """Subscribe to the runs ``after`` shows and ``before`` did not, ask the feed for them,
    and unsubscribe from the ones no longer shown."""
    old = {before.run, before.compare} - {None} if before is not None else set()
    new = {after.run, after.compare} - {None}
    commands: list[Command] = []
    for run_id in sorted(old - new):  # type: ignore[type-var]
        commands.append(UnsubscribeFrom(topic=run_topic(str(run_id))))
    for run_id in sorted(new - old):  # type: ignore[type-var]
        commands.append(SubscribeTo(topic=run_topic(str(run_id))))
    for run_id, known in ((after.run, after.detail), (after.compare, after.other)):
        if run_id is not None and (known is None or run_id not in old):
            # The feed publishes a run only when it changes: ask for it now.
            commands.append(Broadcast(topic=FOLLOW_TOPIC, message=FollowRun(run_id)))
    if before is not None and after.run is None and before.run is not None:
        commands.append(Broadcast(topic=FOLLOW_TOPIC, message=FollowRun(None)))
    return commands
