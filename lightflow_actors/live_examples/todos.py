"""Todos: a live component per item, and an activity log kept as a stream.

`TodoList` (the view) holds the list; each item is a `TodoItem` live component with
state of its own (whether its editor is open). A click on an item's box or button goes
to that component (``lf-target="{myself}"``), which changes itself and tells the view
(`NotifyParent`); the view updates its list and streams a line to the log
(`StreamInsert`, newest first, at most `LOG_LIMIT` in the browser). Opening one editor
closes the others with `SendUpdate`. A patch carries only the component that changed
(``"c"``), and the server keeps no line of the log after sending it.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import (
    LiveComponent,
    LiveView,
    NotifyParent,
    Params,
    Rendered,
    SendUpdate,
    SessionInfo,
    StreamInsert,
    Template,
    Update,
    keyed,
    live_component,
    streamed,
)

LOG_LIMIT = 20


class Todo(msgspec.Struct, frozen=True):
    id: int
    text: str
    done: bool = False


class CloseEditor(msgspec.Struct, frozen=True):
    """Props a `SendUpdate` gives an item: close the editor, keep the rest."""


class ItemState(msgspec.Struct, frozen=True):
    todo: Todo
    editing: bool = False


# -- the item component ----------------------------------------------------------------


class Toggle(msgspec.Struct, frozen=True, tag="toggle"):
    pass


class Edit(msgspec.Struct, frozen=True, tag="edit"):
    pass


class Save(msgspec.Struct, frozen=True, tag="save"):
    text: str


class Remove(msgspec.Struct, frozen=True, tag="remove"):
    pass


class Toggled(msgspec.Struct, frozen=True):
    todo: Todo


class Renamed(msgspec.Struct, frozen=True):
    todo: Todo


class Removed(msgspec.Struct, frozen=True):
    id: int


class Editing(msgspec.Struct, frozen=True):
    id: int


ITEM = Template(
    '<li id="todo-{id}" class="{state}">'
    '<input type="checkbox" lf-click="toggle" lf-target="{myself}"{checked}> '
    '<span class="text">{text}</span> '
    '<button class="edit" lf-click="edit" lf-target="{myself}">edit</button> '
    '<button class="remove" lf-click="remove" lf-target="{myself}">remove</button></li>'
)
ITEM_EDITOR = Template(
    '<li id="todo-{id}" class="editing">'
    '<form lf-submit="save" lf-target="{myself}"><input name="text" value="{text}">'
    "<button>save</button></form></li>"
)


class TodoItem(LiveComponent[Todo | CloseEditor, ItemState, Toggle | Edit | Save | Remove]):
    """One todo: its own editor state; tells the view what changed."""

    def mount(self, props: Todo | CloseEditor) -> ItemState:
        if not isinstance(props, Todo):
            raise TypeError("a TodoItem is placed with its Todo as props")
        return ItemState(props)

    def update(self, props: Todo | CloseEditor, state: ItemState) -> ItemState:
        if isinstance(props, CloseEditor):
            return msgspec.structs.replace(state, editing=False)
        return msgspec.structs.replace(state, todo=props)

    def handle_event(
        self, event: Toggle | Edit | Save | Remove, state: ItemState
    ) -> ItemState | Update[ItemState]:
        todo = state.todo
        if isinstance(event, Toggle):
            todo = msgspec.structs.replace(todo, done=not todo.done)
            return Update(ItemState(todo), (NotifyParent(Toggled(todo)),))
        if isinstance(event, Edit):
            return Update(ItemState(todo, editing=True), (NotifyParent(Editing(todo.id)),))
        if isinstance(event, Save):
            todo = msgspec.structs.replace(todo, text=event.text.strip() or todo.text)
            return Update(ItemState(todo), (NotifyParent(Renamed(todo)),))
        return Update(state, (NotifyParent(Removed(todo.id)),))

    def render(self, state: ItemState, myself: int) -> Rendered:
        todo = state.todo
        if state.editing:
            return ITEM_EDITOR(id=todo.id, text=todo.text, myself=myself)
        return ITEM(
            id=todo.id,
            state="done" if todo.done else "open",
            myself=myself,
            checked=" checked" if todo.done else "",
            text=todo.text,
        )


TODO_ITEM = TodoItem()


# -- the view --------------------------------------------------------------------------


class Add(msgspec.Struct, frozen=True, tag="add"):
    text: str


class ClearDone(msgspec.Struct, frozen=True, tag="clear_done"):
    pass


class TodoState(msgspec.Struct, frozen=True):
    todos: tuple[Todo, ...] = ()
    next_id: int = 1
    logged: int = 0


PAGE = Template(
    '<section class="todos"><h1>Todos</h1>'
    '<p id="summary">{done} of {total} done · '
    '<button id="clear-done" lf-click="clear_done">clear done</button></p>'
    '<form id="new-todo" lf-submit="add"><input name="text" value="" '
    'placeholder="What needs doing?" autocomplete="off"><button>add</button></form>'
    '<ul id="todos">{items}</ul>'
    '<h2>Activity</h2><ol id="log" lf-update="stream">{log}</ol></section>'
)
ROW = Template("{item}")
LOG_LINE = Template('<li id="log-{n}">{text}</li>')


class TodoList(LiveView[TodoState, Add | ClearDone]):
    title = "Todos"

    def mount(self, params: Params, session: SessionInfo) -> TodoState | Update[TodoState]:
        state = TodoState()
        for text in ("buy milk", "write the report"):
            state = _added(state, text).state
        return _log(state, "the list is ready")

    def handle_event(self, event: Add | ClearDone, state: TodoState) -> Update[TodoState]:
        if isinstance(event, Add):
            text = event.text.strip()
            if not text:
                return Update(state)
            added = _added(state, text)
            return _log(added.state, f"added {text!r}")
        kept = tuple(t for t in state.todos if not t.done)
        gone = len(state.todos) - len(kept)
        return _log(msgspec.structs.replace(state, todos=kept), f"cleared {gone} done")

    def handle_info(self, message: object, state: TodoState) -> TodoState | Update[TodoState]:
        if isinstance(message, Toggled | Renamed):
            todo = message.todo
            todos = tuple(todo if t.id == todo.id else t for t in state.todos)
            verb = "done" if todo.done else "reopened"
            if isinstance(message, Renamed):
                verb = "renamed"
            return _log(msgspec.structs.replace(state, todos=todos), f"{verb} {todo.text!r}")
        if isinstance(message, Removed):
            todos = tuple(t for t in state.todos if t.id != message.id)
            return _log(msgspec.structs.replace(state, todos=todos), f"removed #{message.id}")
        if isinstance(message, Editing):
            # One editor at a time: close every other item's (Phoenix's send_update).
            close = tuple(
                SendUpdate(component=TodoItem, id=t.id, props=CloseEditor())
                for t in state.todos
                if t.id != message.id
            )
            return Update(state, close)
        return state

    def render(self, state: TodoState) -> Rendered:
        return PAGE(
            done=sum(1 for t in state.todos if t.done),
            total=len(state.todos),
            items=keyed(
                ROW, [(t.id, ROW(item=live_component(TODO_ITEM, t.id, t))) for t in state.todos]
            ),
            log=streamed("log", LOG_LINE),
        )


def _added(state: TodoState, text: str) -> Update[TodoState]:
    todo = Todo(state.next_id, text)
    return Update(
        msgspec.structs.replace(state, todos=(*state.todos, todo), next_id=state.next_id + 1)
    )


def _log(state: TodoState, text: str) -> Update[TodoState]:
    """`state` with one more line streamed to the top of the log (the view keeps none)."""
    n = state.logged + 1
    line = StreamInsert(name="log", key=n, entry=LOG_LINE(n=n, text=text), at=0, limit=LOG_LIMIT)
    return Update(msgspec.structs.replace(state, logged=n), (line,))
