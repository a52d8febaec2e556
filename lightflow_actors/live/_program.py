"""`ViewProgram`: a live view seen as an ISA program (mount, render, patch, subscribe...).

The session actor runs every instruction through `isa.execute(program, phase, ...)`,
so the lifecycle checks are the ISA's own and the effects are its vocabulary:
``Rendered`` (a full render for the browser), ``Patched`` (an update), ``Subscribed``
/ ``Unsubscribed`` (pubsub), ``Replied`` with an ``error`` (an event that did not
decode), ``Stopped``. Commands with no ISA effect (broadcast, presence, timers) wait
in `commands` for the host. This module never touches an actor: it is pure.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from ..isa import (
    Effect,
    ErrorCode,
    JSONValue,
    Mount,
    Patch,
    Patched,
    PayloadError,
    Render,
    Rendered,
    Replied,
    Shutdown,
    Submit,
    Subscribe,
    Subscribed,
    Unsubscribed,
    from_json_value,
)
from ._async import AssignAsync, AsyncResult
from ._auth import run_on_mount
from ._children import (
    MAX_DEPTH,
    Children,
    begin_collecting,
    child_session,
    collecting,
    end_collecting,
)
from ._commands import (
    ClearFlash,
    Command,
    EventReply,
    NotifyParent,
    PageTitle,
    PushEvent,
    PushNavigate,
    PushPatch,
    PutFlash,
    PutSession,
    Redirect,
    SendUpdate,
    Stream,
    StreamDelete,
    StreamInsert,
    SubscribeTo,
    UnsubscribeFrom,
    Update,
    relative_target,
)
from ._component import Halt, LiveView, SessionInfo, ViewSpec
from ._cookie import BrowserSeal
from ._diff import DiffState
from ._envelope import ClientEvent, Nav, ParamsChange, nav_json, patch_diff, render_view
from ._errors import EventError, LiveSessionError, UploadProtocolError, ViewDefinitionError
from ._fields import state_field, top_level_fields, with_fields
from ._immutable import immutable_value
from ._live_component import Components, Mounted
from ._patch import Patch as LivePatch
from ._rendered import ComponentCall, StreamOp, to_html
from ._rendered import Rendered as Tree
from ._streams import add_ops, pending_ops, sent
from ._upload import (
    UPLOAD_EVENTS,
    Upload,
    UploadChunk,
    UploadFiles,
    UploadPreflight,
    UploadProgress,
    presigned,
)

MAX_COMMAND_ROUNDS: Final = 1000
"""Most commands one callback may set off (`NotifyParent` and `SendUpdate` chains)."""

_NOTHING: Final = object()
MAX_OWED_EVENTS: Final = 256
"""Most `PushEvent`s kept for a browser that is held back or not rendered yet."""

CLEAR_FLASH: Final = "lf:clear-flash"
"""The built-in event that clears a flash (``lf-click="lf:clear-flash" lf-value-kind="info"``)."""


def problem(ref: str | None, code: ErrorCode, message: str, path: str | None) -> Replied:
    """The effect reporting a refused input to the browser (the host sends an error frame)."""
    error: dict[str, JSONValue] = {"code": code, "message": message}
    if path is not None:
        error["path"] = path
    return Replied(ref=ref or "", payload={"error": error})


class ViewProgram:
    """One session's view: its state, the client's `DiffState`, its topics.

    Driven by the ISA interpreters: ``PureInterpreter(ViewProgram(spec, info))`` runs
    a view with no actor at all (Mount, Render, then Submit gives ``Patched`` effects
    whose ``diff`` is the envelope of specs/live-wire.md); the session actor runs the
    same steps in its mailbox.
    """

    # The live children (`live_render`) of the last render, by id; None while it had
    # none. A class attribute, so a view without children holds nothing for it.
    children: Children | None = None
    nested = False  # a live child's program (its NotifyParent goes to the parent view)

    def __init__(
        self,
        spec: ViewSpec,
        session: SessionInfo,
        *,
        seal: BrowserSeal | None = None,
        uploads: UploadFiles | None = None,
    ) -> None:
        self.spec = spec
        self.session = session
        # Flash tokens and PutSession changes are signed for this browser (None: a
        # program run without a hub, which can carry neither).
        self.seal = seal
        self.flash: dict[str, str] = dict(session.flash)
        self.halted: Halt | None = None
        # The temp files of the view's uploads (None: this program takes no upload).
        self.uploads = uploads if uploads is not None else UploadFiles(None)
        self.state: object = None
        self.diff = DiffState()
        # Dicts used as sets here and in `Components`: an empty dict is 64 bytes, an empty
        # set 216, and every idle session holds these (ADR 0108).
        self.topics: dict[str, None] = {}
        self.commands: list[Command] = []
        self.title: str | None = None
        self.live = False
        self.terminated = False
        # Stream operations not sent yet, by stream name (emptied by each patch), and
        # the live components of this session (their state lives here, not in the view's).
        self.streams: dict[str, list[StreamOp]] = {}
        self.components = Components(lambda: pending_ops(self.streams))
        self._mount_result: object = _NOTHING
        self._pending_nav: Nav | None = None
        # Backpressure (`hold`): while the browser is behind, updates change the state
        # but send nothing; `release` sends one patch (or render) for all of them.
        self.held = False
        self._owed_patch = False
        self._owed_render = False
        self._owed_resync = False
        self._owed_ref: str | None = None
        self._owed_title: str | None = None
        # PushEvents not sent yet (before the first Render, or while held back).
        self._owed_events: list[ClientEvent] = []
        # EventReply payloads not sent yet, by the ref of the event they answer.
        self._owed_replies: dict[str, dict[str, JSONValue]] = {}

    # -- host hooks ---------------------------------------------------------------------

    def prepare_mount(self, result: object) -> None:
        """Hand over the awaited result of an ``async def mount`` before executing Mount."""
        self._mount_result = result

    def prepare_session(self, session: SessionInfo) -> None:
        """The session info after the ``on_mount`` hooks (what ``mount`` is called with)."""
        self.session = session
        self.flash = dict(session.flash)

    def halt(self, halt: Halt) -> None:
        """An ``on_mount`` hook halted: Mount mounts nothing and Render only redirects."""
        self.halted = halt

    def take_commands(self) -> list[Command]:
        """The commands the host must carry out now (and forget)."""
        commands, self.commands = self.commands, []
        return commands

    def hold(self) -> None:
        """The browser is behind: keep updates back until `release` (they coalesce)."""
        self.held = True

    def release(self) -> list[Effect]:
        """The browser caught up: one ``Patched`` (or ``Rendered``, if it asked for a
        render meanwhile) carrying every update held back, the latest state only."""
        self.held = False
        if self._owed_render:
            self._owed_render = self._owed_patch = False
            return self._render(resync=self._owed_resync)
        if not self._owed_patch:
            return []
        self._owed_patch = False
        ref, self._owed_ref = self._owed_ref, None
        title, self._owed_title = self._owed_title, None
        nav, self._pending_nav = self._pending_nav, None
        events, self._owed_events = self._owed_events, []
        replies, self._owed_replies = self._owed_replies, {}
        diff = patch_diff(
            self._diff_now(), ref=ref, nav=nav, title=title, events=events, replies=replies
        )
        return [Patched(diff=diff)] if diff is not None else []

    def info(self, message: object) -> list[Effect]:
        """``handle_info``: a message that is not an instruction (pubsub, presence, timer)."""
        return self._apply(self.spec.view.handle_info(message, self.state), None)

    # -- the ISA program ------------------------------------------------------------------

    def mount(self, instruction: Mount) -> Sequence[Effect]:
        if self.halted is not None:
            return []
        params = {k: v for k, v in instruction.params.items() if isinstance(v, str)}
        result = self._mount_result
        self._mount_result = _NOTHING
        if result is _NOTHING:
            result = self.spec.view.mount(params, self.session)
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                raise TypeError(
                    f"{type(self.spec.view).__qualname__}.mount is async: the host must await "
                    "it and call prepare_mount(result) before executing Mount"
                )
        return self._apply(result, None)

    def render(self, instruction: Render) -> Sequence[Effect]:
        # A Render is a fresh start for the client (join, rejoin, or resync after an
        # error on its side): forget what it held so statics go out again. One after
        # the first (no Mount between: the client's merge failed) is a resync.
        return self._render(resync=self.live)

    def _render(self, *, resync: bool) -> list[Effect]:
        self.live = True
        if self.halted is not None:
            # Nothing was mounted: a render that only sends the browser elsewhere.
            away = self._redirect(self.halted.redirect, dict(self.halted.flash))
            return [Rendered(view={"d": {}, "session": self.session.id, "nav": nav_json(away)})]
        if self.held:
            self._owed_render = True  # one render when the browser catches up
            self._owed_resync = self._owed_resync or resync
            return []
        self._owed_resync = False
        effects = self._resynced() if resync else []
        self.diff.reset()
        self.diff.preload((t.fingerprint, t.statics) for t in self.spec.view.preload)
        self.components.client_reset()
        patch = self._diff_now()
        ref, self._owed_ref = self._owed_ref, None
        self._owed_title = None
        events, self._owed_events = self._owed_events, []
        replies, self._owed_replies = self._owed_replies, {}
        view = render_view(
            patch,
            session=self.session.id,
            title=self.title,
            ref=ref,
            events=events,
            replies=replies,
        )
        nav, self._pending_nav = self._pending_nav, None
        if nav is not None and isinstance(view, dict):
            view["nav"] = nav_json(nav)
        return [*effects, Rendered(view=view)]

    def _resynced(self) -> list[Effect]:
        """``handle_resync``: the browser dropped what it held, streams included; the
        view's commands (streams filled again, say) go out with the render that follows,
        as a mount's do with the first render (ADR 0112)."""
        self.live = False
        try:
            return self._apply(self.spec.view.handle_resync(self.state), None)
        finally:
            self.live = True

    def patch(self, instruction: Patch) -> Sequence[Effect]:
        try:
            change = from_json_value(instruction.diff, ParamsChange)
        except PayloadError as error:
            path = "$.instruction.diff" + (error.path or "$")[1:]
            return [problem(None, "malformed_frame", f"live patch: {error}", path)]
        return self._apply(self.spec.view.handle_params(change.params, self.state), None)

    def subscribe(self, instruction: Subscribe) -> Sequence[Effect]:
        return self._subscription(instruction.topic, not instruction.off)

    def submit(self, instruction: Submit) -> Sequence[Effect]:
        if instruction.event == CLEAR_FLASH:
            kind = (
                instruction.payload.get("kind") if isinstance(instruction.payload, dict) else None
            )
            if kind is not None and not isinstance(kind, str):
                path = "$.instruction.payload.kind"
                return [problem(instruction.ref, "malformed_frame", "kind must be a string", path)]
            return self._apply(Update(self.state, (ClearFlash(kind=kind),)), instruction.ref)
        if instruction.event in UPLOAD_EVENTS:
            return self._upload(instruction)
        if instruction.target is not None:
            return self._component_event(instruction, instruction.target)
        try:
            event = self.spec.decode_event(instruction.event, instruction.payload)
        except EventError as error:
            if error.path == "$" and instruction.event not in self.spec.events:
                path = "$.instruction.event"
            else:
                path = "$.instruction.payload" + error.path[1:]
            return [problem(instruction.ref, "malformed_frame", str(error), path)]
        return self._apply(self.spec.view.handle_event(event, self.state), instruction.ref)

    def _component_event(self, instruction: Submit, target: str) -> list[Effect]:
        """An event for a live component (``lf-target``): its ``handle_event``, then a patch."""
        try:
            mounted = self.components.target(target, instruction.event)
            event = self.components.decode_event(mounted, instruction.event, instruction.payload)
        except EventError as error:
            if error.path == "$.instruction.target":
                path = error.path
            elif error.path == "$" and instruction.event not in mounted.events:
                path = "$.instruction.event"
            else:
                path = "$.instruction.payload" + error.path[1:]
            return [problem(instruction.ref, "malformed_frame", str(error), path)]
        result = mounted.component.handle_event(event, mounted.state)
        return self._apply(result, instruction.ref, owner=mounted)

    def shutdown(self, instruction: Shutdown) -> Sequence[Effect]:
        effects: list[Effect] = [Unsubscribed(topic=t) for t in sorted(self.topics)]
        self.topics.clear()
        self.terminate(instruction.reason)
        return effects

    def terminate(self, reason: str) -> None:
        """Call the view's ``terminate`` once (on Shutdown, or when the actor stops)."""
        if not self.terminated:
            self.terminated = True
            self.spec.view.terminate(reason, self.state)
        self.uploads.close()

    def close(self) -> None:
        """Release what the program holds outside its state (upload temp files)."""
        self.uploads.close()

    # -- async work (the host runs it; see _async.py) ------------------------------------

    def async_assigned(self, keys: tuple[str, ...], outcome: AsyncResult[object]) -> list[Effect]:
        """The work of ``AssignAsync(keys)`` ended: ``outcome.result`` is its mapping (ok)
        or ``outcome.failed`` the reason; each key's field gets its `AsyncResult`."""
        changes: dict[str, object] = {}
        result = outcome.result
        for key in keys:
            if not outcome.ok:
                changes[key] = AsyncResult[object].failure(outcome.failed or "failed")
            elif isinstance(result, Mapping) and key in result:
                changes[key] = AsyncResult[object].of(result[key])
            else:
                changes[key] = AsyncResult[object].failure(
                    f"the assign_async function returned no value for {key!r} "
                    "(it must return a mapping with a value for each key)"
                )
        return self._apply(with_fields(self.state, changes), None)

    def async_started(self, name: str, outcome: AsyncResult[object]) -> list[Effect]:
        """The work of ``StartAsync(name)`` ended: the view's ``handle_async``."""
        return self._apply(self.spec.view.handle_async(name, outcome, self.state), None)

    # -- internals ----------------------------------------------------------------------

    def _diff_now(self, *, root_unchanged: bool = False) -> LivePatch:
        """Render (the root unless it is known unchanged) and diff; the pending stream
        operations go out with this patch and the session forgets them."""
        previous = self.diff.rendered
        if root_unchanged and previous is not None and not self.streams:
            rendered = previous  # only components changed: the diff renders them alone
        else:
            with pending_ops(self.streams):
                rendered = self._tree()
        patch = self.diff.diff(rendered, self.components)
        sent(self.streams)
        self._reset_temporary()
        return patch

    def _reset_temporary(self) -> None:
        """The browser got a render: the view's temporary fields go back to their values."""
        temporary = self.spec.view.temporary_assigns
        if not temporary:
            return
        changes = {
            name: value
            for name, value in temporary.items()
            if state_field(self.state, name) is not value
        }
        if changes:
            self.state = with_fields(self.state, changes)

    def _flash_token(self) -> str:
        if not self.flash or self.seal is None:
            return ""
        return self.seal.flash(self.flash)

    def _tree(self) -> Tree:
        view = self.spec.view
        found, token = begin_collecting()
        try:
            tree = view.layout(view.render(self.state), self.flash)
        finally:
            end_collecting(token)
        if found or self.children is not None:
            self.children = found or None
        return tree

    def _upload(self, instruction: Submit) -> list[Effect]:
        """``lf:upload`` (a preflight) and ``lf:chunk``: the upload protocol (_upload.py)."""
        ref = instruction.ref
        request: UploadPreflight | UploadChunk | UploadProgress
        try:
            if instruction.event == "lf:upload":
                request = from_json_value(instruction.payload, UploadPreflight)
            elif instruction.event == "lf:chunk":
                request = from_json_value(instruction.payload, UploadChunk)
            else:
                request = from_json_value(instruction.payload, UploadProgress)
        except PayloadError as error:
            path = "$.instruction.payload" + (error.path or "$")[1:]
            return [problem(ref, "malformed_frame", f"{instruction.event}: {error}", path)]
        # An upload of a live component (its input says lf-target): the field is in the
        # component's state and its temp files are kept under "<cid>/<name>".
        owner: Mounted | None = None
        state = self.state
        if instruction.target is not None:
            try:
                owner = self.components.target(instruction.target, instruction.event)
            except EventError as error:
                return [problem(ref, "malformed_frame", str(error), error.path)]
            state = owner.state
        upload = state_field(state, request.upload)
        if not isinstance(upload, Upload) or upload.name != request.upload:
            where = self.spec.name if owner is None else type(owner.component).__qualname__
            return [
                problem(
                    ref,
                    "malformed_frame",
                    f"{where} has no upload named {request.upload!r}",
                    "$.instruction.payload.upload",
                )
            ]
        failure: UploadProtocolError | None = None
        before = upload
        scoped = (
            upload
            if owner is None
            else msgspec.structs.replace(upload, name=f"{owner.cid}/{upload.name}")
        )
        handler = self.spec.view if owner is None else owner.component
        try:
            if isinstance(request, UploadPreflight):
                scoped = self.uploads.preflight(scoped, request)
            elif isinstance(request, UploadChunk):
                scoped, failure = self.uploads.chunk(scoped, request)
            else:
                scoped = self.uploads.progress(scoped, request)
        except UploadProtocolError as error:
            failure = error
        upload = scoped if owner is None else msgspec.structs.replace(scoped, name=before.name)
        if isinstance(request, UploadPreflight) and upload.external and failure is None:
            signing = state
            upload = presigned(upload, lambda e: handler.presign_upload(before.name, e, signing))
        result: object = with_fields(state, {upload.name: upload})
        if isinstance(request, UploadChunk | UploadProgress) and failure is None:
            entry, old = upload.entry(request.entry), before.entry(request.entry)
            if (
                entry is not None
                and old is not None
                and (entry.progress != old.progress or entry.errors != old.errors)
            ):
                result = handler.handle_progress(upload.name, entry, result)
        effects = self._apply(result, None if failure else ref, owner=owner)
        if failure is not None:
            path = "$.instruction.payload" + failure.path[1:]
            effects.append(problem(ref, "malformed_frame", failure.problem, path))
        return effects

    def _redirect(self, to: str, flash: dict[str, str]) -> Nav:
        """A full page load of `to`; a flash goes with it through ``{base}/session``
        (which sets the flash cookie), when `to` is a view of this hub and the browser
        has a session cookie; to anywhere else the flash is dropped."""
        if flash and relative_target(to) and self.seal is not None and self.seal.sid:
            token = self.seal.change(to=to, put={}, drop=(), clear=False, renew=False, flash=flash)
            return Nav("redirect", to=f"session?change={token}")
        return Nav("redirect", to=to)

    def _put_session(self, command: PutSession) -> Nav:
        if self.seal is None:
            raise LiveSessionError(
                "PutSession needs the session cookie of a browser: serve the view through "
                "a LiveHub (live_routes), not a bare ViewProgram"
            )
        token = self.seal.change(
            to=command.to,
            put=command.put,
            drop=command.drop,
            clear=command.clear,
            renew=command.renew,
            flash=self.flash,
        )
        return Nav("redirect", to=f"session?change={token}")

    def _subscription(self, topic: str, on: bool) -> list[Effect]:
        if on and topic not in self.topics:
            self.topics[topic] = None
            return [Subscribed(topic=topic)]
        if not on and topic in self.topics:
            del self.topics[topic]
            return [Unsubscribed(topic=topic)]
        return []

    def _apply(
        self, result: object, ref: str | None, *, owner: Mounted | None = None
    ) -> list[Effect]:
        """Take a callback's result (the view's, or the component `owner`'s): new state,
        commands, then the patch if live."""
        previous = self.state
        effects: list[Effect] = []
        nav: Nav | None = None
        title: str | None = None
        events: list[ClientEvent] = []
        reply: dict[str, JSONValue] | None = None
        flash_before = dict(self.flash)
        queue = list(self._take(result, owner))
        self._take_flash(queue)  # flash first: a navigation in the same list carries it
        rounds = 0
        while queue:
            rounds += 1
            if rounds > MAX_COMMAND_ROUNDS:
                raise ViewDefinitionError(
                    f"more than {MAX_COMMAND_ROUNDS} commands from one callback: NotifyParent "
                    "and SendUpdate call each other without end"
                )
            command = queue.pop(0)
            match command:
                case PutFlash() | ClearFlash():
                    pass
                case SubscribeTo(topic=topic):
                    effects.extend(self._subscription(topic, True))
                case UnsubscribeFrom(topic=topic):
                    effects.extend(self._subscription(topic, False))
                case PushPatch(params=params, replace=replace):
                    nav = Nav("patch", params=dict(params), replace=replace)
                case PushNavigate(view=view, params=params, replace=replace):
                    flash = self._flash_token()
                    nav = Nav(
                        "navigate", to=view, params=dict(params), replace=replace, flash=flash
                    )
                case Redirect(url=url):
                    nav = self._redirect(url, self.flash)
                case PutSession():
                    nav = self._put_session(command)
                case PageTitle(title=text):
                    title = self.title = text
                case PushEvent(event=name, payload=payload):
                    events.append((name, dict(payload)))
                case EventReply(payload=payload):
                    if ref is None:
                        raise ViewDefinitionError(
                            "EventReply outside handle_event: only a browser event has "
                            "someone waiting for a reply (Phoenix's {:reply, map, socket})"
                        )
                    reply = dict(payload)
                case Stream() | StreamInsert() | StreamDelete():
                    add_ops(self.streams, command)
                case SendUpdate(component=component, id=id, props=props):
                    mounted = self.components.find(component, id)
                    if mounted is not None:
                        state = mounted.component.update(props, mounted.state)
                        self.components.set_state(mounted, state, "update")
                case NotifyParent(message=message) if owner is None and self.nested:
                    self.commands.append(command)  # a live child's view: for its parent
                case NotifyParent(message=message):
                    more = self._take(self.spec.view.handle_info(message, self.state), None)
                    self._take_flash(more)
                    queue.extend(more)
                case _:
                    self.commands.append(command)
        if not self.live or self.held:
            # Not rendered yet, or held back: the next Render (or the release) carries
            # the latest state, title and navigation, and the last ref it answers.
            self._pending_nav = nav or self._pending_nav
            if events:
                self._owed_events = (self._owed_events + events)[-MAX_OWED_EVENTS:]
            if reply is not None and ref is not None:
                self._owed_replies[ref] = reply
                while len(self._owed_replies) > MAX_OWED_EVENTS:  # the oldest goes first
                    del self._owed_replies[next(iter(self._owed_replies))]
            if self.live:
                self._owed_patch = True
                self._owed_ref = ref or self._owed_ref
                self._owed_title = title or self._owed_title
            return effects
        # A callback that returned the very state it was given may have changed it in
        # place (a dict, a list, a struct that is not frozen): it is rendered and the
        # diff detects the change (ADR 0070). Only a state immutable by its type, and
        # the same object, is known unchanged without a render.
        unchanged = (
            self.state is previous and immutable_value(self.state) and self.flash == flash_before
        )
        patch = None
        if not unchanged or self.streams or self.components.dirty or self.diff.rendered is None:
            patch = self._diff_now(root_unchanged=unchanged)
        if patch is not None and self.uploads.active:
            self.uploads.reconcile(self._upload_field)  # a component that left: its files
        replies = {ref: reply} if reply is not None and ref is not None else None
        diff = patch_diff(patch, ref=ref, nav=nav, title=title, events=events, replies=replies)
        if diff is not None:
            effects.append(Patched(diff=diff))
        return effects

    def _take_flash(self, commands: Sequence[Command]) -> None:
        for command in commands:
            match command:
                case PutFlash(kind=kind, message=message):
                    self.flash[kind] = message
                case ClearFlash(kind=None):
                    self.flash.clear()
                case ClearFlash(kind=kind):
                    self.flash.pop(kind or "", None)
                case _:
                    pass

    def _take(self, result: object, owner: Mounted | None) -> tuple[Command, ...]:
        """Store a callback's new state (the view's, or the component's) and return its
        commands."""
        if isinstance(result, Update):
            state, commands = result.state, result.commands
        else:
            state, commands = result, ()
        if owner is None:
            self.state = loading_marks(state, commands)
        else:
            self.components.set_state(owner, state, "handle_event")
        if self.uploads.active:
            self.uploads.reconcile(self._upload_field)
        return commands

    def _upload_field(self, name: str) -> object:
        """The state field an upload's temp files belong to: ``name`` in the view's
        state, ``<cid>/<name>`` in a live component's (None once it left the page)."""
        cid, slash, field = name.partition("/")
        if not slash:
            return state_field(self.state, name)
        mounted = self.components.by_cid.get(int(cid)) if cid.isdigit() else None
        return None if mounted is None else state_field(mounted.state, field)


def loading_marks(state: object, commands: Sequence[Command]) -> object:
    """`state` with the fields of every ``AssignAsync`` among `commands` loading."""
    changes: dict[str, object] = {}
    for command in commands:
        if isinstance(command, AssignAsync):
            for key in command.keys:
                current = state_field(state, key)
                if isinstance(current, AsyncResult):
                    changes[key] = current.reloading(reset=command.reset)
                else:
                    changes[key] = AsyncResult[object].pending()
    return with_fields(state, changes) if changes else state


def resumed(state: object) -> object:
    """`state` as restored from a snapshot by a new session (another node, a rejoin):
    what belonged to the old session is gone. An upload loses its entries (their temp
    files went with that session; the browser forgets its files on a new session), and an
    `AsyncResult` still loading fails with ``"interrupted"`` (its work ran there), keeping
    a result it had."""
    changes: dict[str, object] = {}
    for name in top_level_fields(state):
        value = state_field(state, name)
        if isinstance(value, Upload) and (value.entries or value.errors):
            changes[name] = msgspec.structs.replace(value, entries=(), errors=())
        elif isinstance(value, AsyncResult) and value.loading:
            changes[name] = (
                AsyncResult[object].of(value.result)
                if value.ok
                else AsyncResult[object].failure("interrupted")
            )
    return with_fields(state, changes) if changes else state


def static_html(
    view: LiveView[object, object], result: object, flash: Mapping[str, str] | None = None
) -> str:
    """The HTML of a first GET: `result` is what ``mount`` returned (no session yet),
    inside the view's layout with `flash`.

    Stream commands of the mount fill their streams, and live components are mounted
    and rendered once, so the page shows without JavaScript what the live view will.
    Live children show as empty containers (`fill_children` fills them).
    """
    return static_children_html(view, result, flash)[0]


async def fill_children(html: str, children: Children, parent: SessionInfo, depth: int = 1) -> str:
    """The first GET of a view with live children (no JavaScript needed): each child
    mounted without a session and rendered inside its container, its own children
    too. A child whose ``on_mount`` hook halts stays empty (its connected join sends
    the browser on)."""
    if depth > MAX_DEPTH:
        raise ViewDefinitionError(f"live children nest more than {MAX_DEPTH} levels deep")
    for call in children.values():
        if call.container not in html:
            continue
        info = child_session(parent, call, False)
        outcome = await run_on_mount(type(call.view).on_mount, {}, info)
        if isinstance(outcome, Halt):
            continue
        result = call.view.mount({}, outcome)
        if inspect.isawaitable(result):
            result = await result
        inner, grandchildren = static_children_html(call.view, result)
        if grandchildren:
            inner = await fill_children(inner, grandchildren, outcome, depth + 1)
        html = html.replace(call.container, call.open + inner + call.close, 1)
    return html


def static_children_html(
    view: LiveView[object, object], result: object, flash: Mapping[str, str] | None = None
) -> tuple[str, Children]:
    """`static_html`, and the live children its render placed (by id)."""
    state, commands = (
        (result.state, result.commands) if isinstance(result, Update) else (result, ())
    )
    state = loading_marks(state, commands)
    streams: dict[str, list[StreamOp]] = {}
    for command in commands:
        if isinstance(command, Stream | StreamInsert | StreamDelete):
            add_ops(streams, command)
    components = Components(lambda: pending_ops(streams))

    def resolve(call: ComponentCall) -> Tree:
        return components.render(components.by_cid[components.resolve(call)])

    with pending_ops(streams), collecting() as children:
        rendered = view.layout(view.render(state), flash or {})
    return to_html(rendered, resolve), children
