"""Tasks: a signed-in todo list per user (the issue's acceptance app).

* **Log in** with the ``login`` example (ada / lovelace, grace / hopper): ``tasks`` is in
  its own live_session whose `on_mount` hook sends a stranger to log in and assigns the
  user; "Log out" clears the signed session (every page of that browser is refused).
* **Per-user lists in actors**: each user's tasks live in a `TaskStore` actor (one per
  user, started by the `TaskStores` directory the first time the user mounts), never
  in the session; a session that crashes or reloads mounts again from the store, and two
  users never see each other's tasks (each session asks its own user's store only).
  The store saves each change to ``<files root>/<user>/.tasks.json``, so neither its
  own crash nor a server restart loses a task.
* **A live component per task** (`TaskItem`): its own editor state; its clicks go to it
  (``lf-target``), it tells the view what changed (`NotifyParent`); the view writes the
  store (`SendTo`) and puts a flash ("Saved.") on each save.
* **A stream for the activity list**: each change streams a line to the top of the log
  (`StreamInsert`, at most `LOG_LIMIT` kept in the browser, none on the server).
* **An upload per task**: the attach form picks a task and a file; the submit consumes
  it into the user's folder (``<files root>/<user>/<task>-<sha256 prefix>-<name>``) and
  the task shows it (a link served by `attachment_routes`, an image as a preview).
* **JS-command toggles** with no round trip: show/hide the done tasks
  (``JS.toggle_class``) and each task's details (``JS.toggle``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec
import platformdirs
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lightflow_actors.cortex import atomic_write
from lightflow_actors.kernel import Actor, ActorRef, Ask, handler
from lightflow_actors.live import (
    JS,
    AnyLiveView,
    GroupedView,
    Halt,
    LiveComponent,
    LiveHub,
    LiveView,
    NotifyParent,
    Params,
    PutFlash,
    Rendered,
    RequestInfo,
    SendTo,
    SessionInfo,
    StreamInsert,
    Template,
    Update,
    Upload,
    UploadEntry,
    allow_upload,
    consume_uploaded_entries,
    escape,
    keyed,
    live_component,
    live_file_input,
    live_session,
    safe,
    streamed,
    upload_error_text,
)

from .auth import USERS, FlashLayout, log_out

LOG_LIMIT: Final = 20
MAX_TASKS: Final = 200
MAX_TEXT: Final = 200
STORES: Final = "examples.task-stores"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_files_root() -> Path:
    """``$XDG_STATE_HOME/lightflow/live/tasks`` (read at each call: tests move it)."""
    return platformdirs.user_state_path("lightflow") / "live" / "tasks"


class Attachment(msgspec.Struct, frozen=True):
    """A file consumed into the user's folder: `file` is its name there."""

    name: str
    file: str
    size: int
    type: str = ""


class Task(msgspec.Struct, frozen=True):
    """`id`: the session that added it (a digest of its id) and a count, so two tabs of
    one user never pick the same id."""

    id: str
    text: str
    done: bool = False
    attachments: tuple[Attachment, ...] = ()


# -- the store: one actor per user -----------------------------------------------------


class ListTasks(Ask[tuple[Task, ...]], frozen=True):
    """The user's tasks, oldest first."""


class PutTask(msgspec.Struct, frozen=True):
    """Add the task, or replace the one with `task.id` in its place."""

    task: Task


class RemoveTask(msgspec.Struct, frozen=True):
    id: str


TaskMessage = ListTasks | PutTask | RemoveTask


class TaskStore(Actor[TaskMessage]):
    """One user's tasks. The sessions of that user read and write them here, so a
    session's crash or reload loses nothing; each change is written to `folder`
    (``.tasks.json``, by `atomic_write`: durable before the next message), so the store's
    own crash or a server restart loses nothing either: the next store reads the file.

    A file that does not decode is set aside (``.tasks.json.bad``, kept for a person to
    read) and the store starts empty: a bad file never stops the user's page."""

    def __init__(self, user: str, folder: Path | None = None) -> None:
        self.user = user
        self.folder = folder
        self.tasks: dict[str, Task] = {}
        if folder is not None:
            self.tasks = {task.id: task for task in _read_tasks(folder)}

    @handler
    def list_tasks(self, msg: ListTasks) -> tuple[Task, ...]:
        return tuple(self.tasks.values())

    @handler
    def put_task(self, msg: PutTask) -> None:
        if msg.task.id in self.tasks or len(self.tasks) < MAX_TASKS:
            self.tasks[msg.task.id] = msg.task
            self._save()

    @handler
    def remove_task(self, msg: RemoveTask) -> None:
        if self.tasks.pop(msg.id, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / TASKS_FILE, _TASKS.encode(list(self.tasks.values())))


TASKS_FILE: Final = ".tasks.json"
_TASKS: Final = msgspec.json.Encoder()
_TASKS_DECODER: Final = msgspec.json.Decoder(list[Task])


def _read_tasks(folder: Path) -> list[Task]:
    """The tasks saved in `folder`, oldest first; none when there is no file, and none
    (the file moved aside to ``.tasks.json.bad``) when it does not decode."""
    path = folder / TASKS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        tasks = _TASKS_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: absurdly deep JSON
        path.replace(folder / ".tasks.json.bad")
        return []
    return tasks[:MAX_TASKS]


class StoreFor(Ask[ActorRef[TaskMessage]], frozen=True):
    """The store of `user` (started on first use)."""

    user: str


class TaskStores(Actor[StoreFor]):
    """The directory of the users' stores: one child `TaskStore` per user, named
    ``examples.task-stores.<user>``, started on the first ask (one handler at a time,
    so never twice). A store that crashed is gone from the registry; the next ask
    starts a new one, which reads the user's saved tasks (``<files root>/<user>``)."""

    def __init__(self, files_root: Callable[[], Path] | None = None) -> None:
        self.files_root = files_root or default_files_root

    @handler
    def store_for(self, msg: StoreFor) -> ActorRef[TaskMessage]:
        name = f"{STORES}.{msg.user}"
        found = self.system.whereis(name)
        if found is not None:
            return self.system.lookup(name, TaskStore)
        user = msg.user
        folder = self.files_root() / user
        return self.spawn(lambda: TaskStore(user, folder), name=name)


# -- the task component ---------------------------------------------------------------


class Toggle(msgspec.Struct, frozen=True, tag="toggle"):
    pass


class Edit(msgspec.Struct, frozen=True, tag="edit"):
    pass


class Rename(msgspec.Struct, frozen=True, tag="rename"):
    text: str = ""


class Remove(msgspec.Struct, frozen=True, tag="remove"):
    pass


class Changed(msgspec.Struct, frozen=True):
    """To the view: the task as its component changed it (`verb` for the log)."""

    task: Task
    verb: str


class Removed(msgspec.Struct, frozen=True):
    id: str


class ItemState(msgspec.Struct, frozen=True):
    task: Task
    editing: bool = False


ITEM = Template(
    '<li id="task-{id}" class="{cls}">'
    '<input type="checkbox" class="done-box" lf-click="toggle" lf-target="{myself}"{checked}> '
    '<span class="text">{text}</span> <span class="clips">{clips}</span> '
    '<button class="details-button" lf-click="{details}">details</button> '
    '<button class="edit" lf-click="edit" lf-target="{myself}">edit</button> '
    '<button class="remove" lf-click="remove" lf-target="{myself}">remove</button>'
    '<div id="details-{id}" class="details" style="display:none">'
    "task #{id} · {state} · {count} attachment(s)<ul>{files}</ul></div></li>"
)
EDITOR = Template(
    '<li id="task-{id}" class="editing {cls}">'
    '<form class="rename" lf-submit="rename" lf-target="{myself}">'
    '<input name="text" value="{text}" maxlength="200"><button>save</button></form></li>'
)
FILE = Template(
    '<li><a class="file" href="{href}" target="_blank">{name}</a> {size} bytes{img}</li>'
)


class TaskItem(LiveComponent[Task, ItemState, Toggle | Edit | Rename | Remove]):
    """One task: whether its editor is open is its own state; it tells the view the
    rest. `files_href` turns a stored file name into its link."""

    def __init__(self, files_href: Callable[[str], str]) -> None:
        self.files_href = files_href

    def mount(self, props: Task) -> ItemState:
        return ItemState(props)

    def update(self, props: Task, state: ItemState) -> ItemState:
        return msgspec.structs.replace(state, task=props)

    def handle_event(
        self, event: Toggle | Edit | Rename | Remove, state: ItemState
    ) -> ItemState | Update[ItemState]:
        task = state.task
        if isinstance(event, Toggle):
            task = msgspec.structs.replace(task, done=not task.done)
            verb = "done" if task.done else "reopened"
            return Update(ItemState(task), (NotifyParent(Changed(task, verb)),))
        if isinstance(event, Edit):
            return ItemState(task, editing=True)
        if isinstance(event, Rename):
            task = msgspec.structs.replace(task, text=event.text.strip()[:MAX_TEXT] or task.text)
            return Update(ItemState(task), (NotifyParent(Changed(task, "saved")),))
        return Update(state, (NotifyParent(Removed(task.id)),))

    def render(self, state: ItemState, myself: int) -> Rendered:
        task = state.task
        cls = "done" if task.done else "open"
        if state.editing:
            return EDITOR(id=task.id, cls=cls, text=task.text, myself=myself)
        files = [
            (
                a.file,
                FILE(
                    href=self.files_href(a.file),
                    name=a.name,
                    size=a.size,
                    img=(
                        safe(
                            f' <img class="preview" alt="" src="{escape(self.files_href(a.file))}">'
                        )
                        if a.type.startswith("image/")
                        else ""
                    ),
                ),
            )
            for a in task.attachments
        ]
        return ITEM(
            id=task.id,
            cls=cls,
            myself=myself,
            checked=" checked" if task.done else "",
            text=task.text,
            clips=f"📎{len(task.attachments)}" if task.attachments else "",
            details=JS.toggle(f"#details-{task.id}"),
            state=cls,
            count=len(task.attachments),
            files=keyed(FILE, files),
        )


# -- the view -------------------------------------------------------------------------


class Add(msgspec.Struct, frozen=True, tag="add"):
    text: str = ""


class Attach(msgspec.Struct, frozen=True, tag="attach"):
    task: str = ""


class Choose(msgspec.Struct, frozen=True, tag="choose"):
    """The attach form changed (files chosen): nothing to do but let the upload run."""

    task: str = ""


class LogOut(msgspec.Struct, frozen=True, tag="logout"):
    pass


TasksEvent = Add | Attach | Choose | LogOut


class TasksState(msgspec.Struct, frozen=True):
    user: str
    tasks: tuple[Task, ...]
    attachment: Upload
    tag: str  # this session's prefix of the ids it gives
    added: int = 0
    logged: int = 0


PAGE = Template(
    '<section class="tasks"><h1>Tasks of <b id="user">{user}</b></h1>'
    '<p id="summary">{done} of {total} done · '
    '<button id="toggle-done" lf-click="{toggle_done}">show/hide done</button> '
    '<button id="log-out" lf-click="logout">Log out</button></p>'
    '<form id="new-task" lf-submit="add"><input name="text" value="" maxlength="200" '
    'placeholder="What needs doing?" autocomplete="off"><button id="add">add</button></form>'
    '<ul id="tasks">{items}</ul>'
    '<form id="attach" lf-change="choose" lf-submit="attach">'
    '<label>Attach to <select name="task" id="attach-task">{options}</select></label> '
    '{input} <button id="attach-button" type="submit">attach</button>'
    '<span class="error" id="attach-error">{upload_error}</span></form>'
    '<h2>Activity</h2><ol id="log" lf-update="stream">{log}</ol></section>'
)
OPTION = Template('<option value="{id}">{text}</option>')
ROW = Template("{item}")
LOG_LINE = Template('<li id="log-{n}">{text}</li>')
HEAD = (
    "<style>#tasks.hide-done li.done{display:none}"
    " img.preview{max-width:48px;max-height:48px;vertical-align:middle}"
    " .details{margin-left:2em;color:#555}</style>"
)


def require_tasks_user(params: Params, session: SessionInfo) -> SessionInfo | Halt:
    """The group's hook: the user in the cookie session, or off to log in (and back)."""
    user = session.signed.get("user")
    if not isinstance(user, str) or user not in USERS:
        return Halt("login?next=tasks", flash={"error": "Log in to see your tasks."})
    return session.assign(user=user)


class TasksView(FlashLayout, LiveView[TasksState, TasksEvent]):
    """`stores`: the `TaskStores` directory; `files_root`: where attachments are kept
    (one folder per user); `files_href`: a stored file's link."""

    title = "Tasks"
    head = HEAD
    rejoin = "remount"  # the tasks are in the store: a rejoin reads them again

    def __init__(
        self,
        stores: Callable[[], ActorRef[StoreFor]],
        *,
        files_root: Callable[[], Path] = default_files_root,
        files_href: Callable[[str], str] = lambda file: f"tasks-files/{file}",
        max_file_size: int = 2_000_000,
    ) -> None:
        self.stores = stores
        self.files_root = files_root
        self.item = TaskItem(files_href)
        self.max_file_size = max_file_size
        self._refs: dict[str, ActorRef[TaskMessage]] = {}

    async def _store(self, user: str) -> ActorRef[TaskMessage]:
        ref = await self.stores().ask(StoreFor(user))
        self._refs[user] = ref
        return ref

    def _store_now(self, user: str) -> ActorRef[TaskMessage]:
        """The user's store as mount found it (mount always runs first)."""
        return self._refs[user]

    async def mount(self, params: Params, session: SessionInfo) -> Update[TasksState]:
        user = str(session.assigns["user"])
        tasks = await (await self._store(user)).ask(ListTasks())
        upload = allow_upload(
            "attachment", accept="any", max_entries=1, max_file_size=self.max_file_size
        )
        tag = hashlib.sha256(session.id.encode()).hexdigest()[:6]
        # A remount keeps the session id, so its tag: count on from the ids it gave.
        added = max((_number(t.id, tag) for t in tasks), default=0)
        state = TasksState(user, tasks, upload, tag, added=added)
        return _log(state, f"{len(tasks)} task(s) of {user}")

    def handle_event(self, event: TasksEvent, state: TasksState) -> Update[TasksState]:
        if isinstance(event, LogOut):
            return Update(state, log_out())
        if isinstance(event, Choose):
            return Update(state)
        if isinstance(event, Add):
            text = event.text.strip()[:MAX_TEXT]
            if not text or len(state.tasks) >= MAX_TASKS:
                return Update(state)
            task = Task(f"{state.tag}-{state.added + 1}", text)
            added = _log(
                msgspec.structs.replace(state, tasks=(*state.tasks, task), added=state.added + 1),
                f"added {text!r}",
            )
            put = SendTo(to=self._store_now(state.user), message=PutTask(task))
            return Update(added.state, (put, *added.commands))
        return self._attach(event, state)

    def handle_info(self, message: object, state: TasksState) -> TasksState | Update[TasksState]:
        store = self._store_now(state.user)
        if isinstance(message, Changed):
            task = message.task
            tasks = tuple(task if t.id == task.id else t for t in state.tasks)
            updated = _log(
                msgspec.structs.replace(state, tasks=tasks), f"{message.verb} {task.text!r}"
            )
            put = SendTo(to=store, message=PutTask(task))
            if message.verb == "saved":
                flash = PutFlash(kind="info", message=f"Saved {task.text!r}.")
                return Update(updated.state, (put, flash, *updated.commands))
            return Update(updated.state, (put, *updated.commands))
        if isinstance(message, Removed):
            tasks = tuple(t for t in state.tasks if t.id != message.id)
            removed = _log(msgspec.structs.replace(state, tasks=tasks), f"removed #{message.id}")
            send = SendTo(to=store, message=RemoveTask(message.id))
            return Update(removed.state, (send, *removed.commands))
        return state

    def render(self, state: TasksState) -> Rendered:
        return PAGE(
            user=state.user,
            done=sum(1 for t in state.tasks if t.done),
            total=len(state.tasks),
            toggle_done=JS.toggle_class("hide-done", to="#tasks"),
            items=keyed(
                ROW,
                [(t.id, ROW(item=live_component(self.item, t.id, t))) for t in state.tasks],
            ),
            options=keyed(OPTION, [(t.id, OPTION(id=t.id, text=t.text)) for t in state.tasks]),
            input=live_file_input(state.attachment),
            upload_error=" ".join(
                upload_error_text(k) for e in state.attachment.entries for k in e.errors
            ),
            log=streamed("log", LOG_LINE),
        )

    # -- attachments -------------------------------------------------------------------

    def _attach(self, event: Attach, state: TasksState) -> Update[TasksState]:
        task = next((t for t in state.tasks if t.id == event.task), None)
        if task is None:
            return Update(state)  # the task is gone; the file waits for another submit
        folder, task_id = self.files_root() / state.user, task.id
        kept, upload = consume_uploaded_entries(
            state.attachment, lambda path, entry: _keep(folder, task_id, path, entry)
        )
        if not kept:
            return Update(msgspec.structs.replace(state, attachment=upload))
        task = msgspec.structs.replace(task, attachments=task.attachments + tuple(kept))
        tasks = tuple(task if t.id == task.id else t for t in state.tasks)
        names = ", ".join(a.name for a in kept)
        attached = _log(
            msgspec.structs.replace(state, tasks=tasks, attachment=upload),
            f"attached {names} to {task.text!r}",
        )
        store = self._store_now(state.user)
        flash = PutFlash(kind="info", message=f"Attached {names}.")
        return Update(
            attached.state, (SendTo(to=store, message=PutTask(task)), flash, *attached.commands)
        )


def _keep(folder: Path, task: str, path: Path, entry: UploadEntry) -> Attachment:
    """Copy one uploaded file into the user's folder; its stored name is the task id, a
    digest prefix and the client's name made safe (shown, never trusted as a path)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    safe = _UNSAFE.sub("_", entry.client_name)[-80:].lstrip(".") or "file"
    file = f"{task}-{digest}-{safe}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, folder / file)
    return Attachment(entry.client_name, file, path.stat().st_size, entry.client_type)


def _number(task_id: str, tag: str) -> int:
    """The count in `task_id` when `tag` gave it, else 0."""
    prefix, _, count = task_id.rpartition("-")
    return int(count) if prefix == tag and count.isdigit() else 0


def _log(state: TasksState, text: str) -> Update[TasksState]:
    """`state` with one more line streamed to the top of the log (the view keeps none)."""
    n = state.logged + 1
    line = StreamInsert(name="log", key=n, entry=LOG_LINE(n=n, text=text), at=0, limit=LOG_LIMIT)
    return Update(msgspec.structs.replace(state, logged=n), (line,))


def stored_file(root: Path, user: str, file: str) -> Path | None:
    """The path of `user`'s stored `file` under `root`, or None when the name is not one
    `_keep` writes (at most 160 characters of ``[A-Za-z0-9._-]``, no leading dot) or no
    such file exists."""
    if not file or len(file) > 160 or file.startswith(".") or _UNSAFE.search(file):
        return None  # `_UNSAFE` also catches every folder separator
    path = root / user / file
    try:
        return path if path.is_file() else None
    except OSError:  # e.g. a name the file system refuses
        return None


def task_views(
    stores: Callable[[], ActorRef[StoreFor]],
    *,
    files_root: Callable[[], Path] = default_files_root,
) -> dict[str, AnyLiveView | GroupedView]:
    """``tasks`` in its ``tasks`` live_session (log in first: the ``login`` view)."""
    view = TasksView(stores, files_root=files_root)
    return {**live_session("tasks", {"tasks": view}, on_mount=[require_tasks_user])}


# Served inline with their type: images (shown as previews). Anything else is a download
# (an uploaded HTML page must never run in the site's origin).
_INLINE: Final[dict[str, str]] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def attachment_routes(
    hub: LiveHub, *, files_root: Callable[[], Path] = default_files_root
) -> list[BaseRoute]:
    """``GET /tasks-files/{file}`` (mount beside the hub's routes): the signed-in user's
    stored attachment `file`; 403 without a user in the session cookie, 404 for a name
    that is not one of the user's files (another user's included)."""

    async def attachment(request: Request) -> Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        secure = request.url.scheme == "https"
        await hub.start()
        visit = hub.visit(RequestInfo.from_request(request.cookies, headers, secure=secure))
        user = visit.session.data.get("user")
        if not isinstance(user, str) or user not in USERS:
            return PlainTextResponse("log in to see attachments", status_code=403)
        path = stored_file(files_root(), user, request.path_params["file"])
        if path is None:
            return PlainTextResponse("no such attachment", status_code=404)
        kind = _INLINE.get(path.suffix.lower())
        response_headers = {
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        }
        if kind is None:
            return FileResponse(
                path,
                media_type="application/octet-stream",
                filename=path.name,
                headers=response_headers,
            )
        return FileResponse(path, media_type=kind, headers=response_headers)

    return [Route("/tasks-files/{file}", attachment, name="lightflow_tasks_attachment")]
