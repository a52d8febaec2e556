"""Streams: the server keeps no entry once sent (measured on the session's retained
objects), operations keep their order and meaning, the first GET shows them; and events
for live components that do not exist are refused without harming the session."""

from __future__ import annotations

import sys

import msgspec
import pytest

from lightflow_actors.isa import ErrorFrame, Mount, PureInterpreter, Render, Submit
from lightflow_actors.live import (
    ClientState,
    DiffState,
    LiveView,
    Params,
    Rendered,
    RenderedError,
    SessionInfo,
    Stream,
    StreamDelete,
    StreamInsert,
    Template,
    Update,
    ViewSpec,
    apply_patch,
    client_html,
    live_component,
    streamed,
    to_html,
)
from lightflow_actors.live import (
    Patch as _Patch,
)
from lightflow_actors.live._live_component import Components
from lightflow_actors.live._program import ViewProgram, static_html
from lightflow_actors.live._streams import add_ops, pending_ops
from lightflow_actors.testing.live import LiveTestError, live_test

from .live_components import BADGE_COMPONENT, Board, BoardView

PAGE = Template('<h1>{count}</h1><ul id="msgs" lf-update="stream">{msgs}</ul>')
MSG = Template('<li id="m-{n}">message {n}: {text}</li>')
OTHER = Template("<p>{n}</p>")


class Post(msgspec.Struct, frozen=True, tag="post"):
    count: int = 1


class Chat(msgspec.Struct, frozen=True):
    posted: int = 0


class ChatView(LiveView[Chat, Post]):
    """Every event streams `count` messages; the state keeps only the counter."""

    def mount(self, params: Params, session: SessionInfo) -> Update[Chat]:
        return Update(Chat(), (Stream(name="msgs", entries=[(0, MSG(n=0, text="hello"))]),))

    def handle_event(self, event: Post, state: Chat) -> Update[Chat]:
        first = state.posted + 1
        entries = [(n, MSG(n=n, text="x" * 40)) for n in range(first, first + event.count)]
        return Update(Chat(state.posted + event.count), (Stream(name="msgs", entries=entries),))

    def render(self, state: Chat) -> Rendered:
        return PAGE(count=state.posted, msgs=streamed("msgs", MSG))


def retained_bytes(root: object) -> int:
    """Bytes of every object reachable from `root` through containers, structs and
    instance attributes: what the session keeps between events. Shared module-level
    objects (templates, classes, the view) are not counted."""
    seen: set[int] = set()
    total = 0
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type) or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, ChatView | ViewSpec | Template):
            continue
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, msgspec.Struct):
            stack.extend(getattr(item, f) for f in item.__struct_fields__)
        elif hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
        if hasattr(type(item), "__slots__") and not isinstance(item, msgspec.Struct):
            stack.extend(getattr(item, s) for s in type(item).__slots__ if hasattr(item, s))
    return total


def chat() -> tuple[PureInterpreter, ViewProgram]:
    interp, program, _ = chat_and_client()
    return interp, program


def chat_and_client() -> tuple[PureInterpreter, ViewProgram, ClientState]:
    program = ViewProgram(ViewSpec("chat", ChatView()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="chat"))
    [rendered] = interp.apply(Render())
    client = apply_patch(
        ClientState(), msgspec.convert(rendered.view["d"], type=_Patch, strict=False)
    )  # type: ignore[attr-defined]
    return interp, program, client


def test_the_session_keeps_nothing_of_a_stream_after_10000_inserts() -> None:
    interp, program, client = chat_and_client()
    [patched] = interp.apply(Submit(event="post", payload={"count": 10}, ref="1"))
    client = apply_patch(client, msgspec.convert(patched.diff["d"], type=_Patch, strict=False))  # type: ignore[attr-defined]
    after_ten = retained_bytes(program)
    sent = 0
    for ref in range(2, 102):
        [patched] = interp.apply(Submit(event="post", payload={"count": 100}, ref=str(ref)))
        sent += len(msgspec.json.encode(patched.diff))  # type: ignore[attr-defined]
        client = apply_patch(client, msgspec.convert(patched.diff["d"], type=_Patch, strict=False))  # type: ignore[attr-defined]
    after = retained_bytes(program)
    assert program.state == Chat(10_010)
    # The browser got every entry; the session holds what it held after ten (plus at
    # most the bytes of a bigger counter), not 10 000 entries of 40 characters.
    assert client_html(client).count("<li id=") == 10_011
    assert sent > 10_000 * 40
    assert after - after_ten < 256, (after_ten, after)
    print(f"retained: {after_ten} B after 11 entries, {after} B after 10 011")
    assert program.streams == {}


def test_operations_apply_in_order_with_at_limit_and_update_only() -> None:
    pending: dict[str, list[object]] = {}
    for command in (
        Stream(name="s", entries=[(1, OTHER(n=1)), (2, OTHER(n=2))]),
        StreamInsert(name="s", key=0, entry=OTHER(n=0), at=0),
        StreamInsert(name="s", key=9, entry=OTHER(n=9), update_only=True),  # not held
        StreamInsert(name="s", key=2, entry=OTHER(n=22)),  # replaced in place
        StreamInsert(name="s", key=3, entry=OTHER(n=3), at=1, limit=-3),  # drops 0
        StreamInsert(name="s", key=4, entry=OTHER(n=4)),
        StreamDelete(name="s", key=4),  # insert then delete: gone
    ):
        add_ops(pending, command)  # type: ignore[arg-type]
    with pending_ops(pending):  # type: ignore[arg-type]
        tree = Template("<div>{s}</div>")(s=streamed("s", OTHER))
    html = to_html(tree)
    assert html == "<div><p>3</p><p>1</p><p>22</p></div>"
    diff = DiffState()
    assert client_html(apply_patch(ClientState(), diff.diff(tree))) == html


def test_a_reset_forgets_what_was_queued_before_it() -> None:
    pending: dict[str, list[object]] = {}
    add_ops(pending, Stream(name="s", entries=[(n, OTHER(n=n)) for n in range(50)]))
    add_ops(pending, Stream(name="s", entries=[(7, OTHER(n=7))], reset=True))
    assert len(pending["s"]) == 2  # the reset and one insert


def test_entries_must_come_from_the_streams_template() -> None:
    _, program = chat()
    program.streams.clear()
    add_ops(program.streams, StreamInsert(name="msgs", key=1, entry=OTHER(n=1)))
    with pytest.raises(RenderedError, match="not rendered by the stream's template"):
        program._diff_now()


def test_keys_and_positions_are_checked_when_the_command_is_given() -> None:
    with pytest.raises(RenderedError, match="not a str or int"):
        add_ops({}, StreamDelete(name="s", key=1.5))  # type: ignore[arg-type]
    with pytest.raises(RenderedError, match="at=-2"):
        add_ops({}, StreamInsert(name="s", key=1, entry=OTHER(n=1), at=-2))


def test_streams_do_not_nest_inside_stream_entries() -> None:
    holder = Template("<i>{c}</i>")
    page = Template("<div>{s}</div>")
    pending: dict[str, list[object]] = {}
    add_ops(pending, StreamInsert(name="s", key=1, entry=holder(c=streamed("t", OTHER))))  # type: ignore[arg-type]
    with pending_ops(pending):  # type: ignore[arg-type]
        tree = page(s=streamed("s", holder))
    with pytest.raises(RenderedError, match="inside a stream entry"):
        DiffState().diff(tree, Components())


def test_a_component_may_not_join_a_stream_that_began_without_components() -> None:
    holder = Template("<i>{c}</i>")
    page = Template("<div>{s}</div>")
    state, components = DiffState(), Components()
    for key, inner in ((1, "plain"), (2, live_component(BADGE_COMPONENT, 2, "x"))):
        pending: dict[str, list[object]] = {}
        add_ops(pending, StreamInsert(name="s", key=key, entry=holder(c=inner)))  # type: ignore[arg-type]
        with pending_ops(pending):  # type: ignore[arg-type]
            tree = page(s=streamed("s", holder))
        if key == 1:
            state.diff(tree, components)
        else:
            with pytest.raises(RenderedError, match="reset the stream"):
                state.diff(tree, components)
    # After a reset the stream may hold components (its first entry has one).
    pending = {}
    add_ops(pending, Stream(name="s", reset=True))  # type: ignore[arg-type]
    badge = holder(c=live_component(BADGE_COMPONENT, 3, "y"))
    add_ops(pending, StreamInsert(name="s", key=3, entry=badge))  # type: ignore[arg-type]
    with pending_ops(pending):  # type: ignore[arg-type]
        patch = DiffState().diff(page(s=streamed("s", holder)), components)
    assert len(components) == 1 and patch.components


def test_the_first_get_shows_what_mount_streamed() -> None:
    view = ChatView()
    html = static_html(view, view.mount({}, SessionInfo("s", False)))  # type: ignore[arg-type]
    assert '<li id="m-0">message 0: hello</li>' in html


def test_a_full_render_starts_the_stream_empty() -> None:
    interp, _ = chat()
    interp.apply(Submit(event="post", payload={"count": 3}, ref="1"))
    [rendered] = interp.apply(Render())
    state = apply_patch(
        ClientState(), msgspec.convert(rendered.view["d"], type=_Patch, strict=False)
    )  # type: ignore[attr-defined]
    assert client_html(state) == '<h1>3</h1><ul id="msgs" lf-update="stream"></ul>'


class Kept(msgspec.Struct, frozen=True):
    posted: int = 0
    resyncs: int = 0


class KeptChatView(LiveView[Kept, Post]):
    """Streams its messages, and streams them all again when the browser resyncs: what a
    view that can read its rows back does (the runs page reads its page of runs)."""

    def mount(self, params: Params, session: SessionInfo) -> Kept:
        return Kept()

    def handle_event(self, event: Post, state: Kept) -> Update[Kept]:
        first = state.posted + 1
        entries = [(n, MSG(n=n, text="kept")) for n in range(first, first + event.count)]
        return Update(Kept(state.posted + event.count, state.resyncs), (Stream("msgs", entries),))

    def handle_resync(self, state: Kept) -> Update[Kept]:
        entries = [(n, MSG(n=n, text="kept")) for n in range(1, state.posted + 1)]
        again = Kept(state.posted, state.resyncs + 1)
        return Update(again, (Stream("msgs", entries, reset=True),))

    def render(self, state: Kept) -> Rendered:
        return PAGE(count=state.posted, msgs=streamed("msgs", MSG))


def _rendered_html(effects: object) -> str:
    [rendered] = [e for e in effects if hasattr(e, "view")]  # type: ignore[attr-defined]
    patch = msgspec.convert(rendered.view["d"], type=_Patch, strict=False)
    return client_html(apply_patch(ClientState(), patch))


def test_a_resync_render_streams_again_what_handle_resync_gives() -> None:
    program = ViewProgram(ViewSpec("kept", KeptChatView()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="kept"))
    interp.apply(Render())  # the join's render: not a resync
    assert isinstance(program.state, Kept) and program.state.resyncs == 0
    interp.apply(Submit(event="post", payload={"count": 2}, ref="1"))
    html = _rendered_html(interp.apply(Render()))  # asked again: the merge failed
    assert html == (
        '<h1>2</h1><ul id="msgs" lf-update="stream">'
        '<li id="m-1">message 1: kept</li><li id="m-2">message 2: kept</li></ul>'
    )
    assert program.state.resyncs == 1
    assert program.streams == {}  # sent with the render: the session keeps no entry
    # Asked while the browser is behind: one render on release, still a resync.
    program.hold()
    assert list(interp.apply(Render())) == []
    interp.apply(Submit(event="post", payload={"count": 1}, ref="2"))
    html = _rendered_html(program.release())
    assert html.count("message") == 3 and program.state.resyncs == 2


def test_a_join_render_owed_while_held_is_not_a_resync() -> None:
    program = ViewProgram(ViewSpec("kept", KeptChatView()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="kept"))
    program.hold()
    assert list(interp.apply(Render())) == []
    _rendered_html(program.release())
    assert isinstance(program.state, Kept) and program.state.resyncs == 0


@pytest.mark.anyio
async def test_the_dsl_resync_gets_the_rows_back_through_a_real_session() -> None:
    async with live_test({"kept": KeptChatView(), "chat": ChatView()}) as live:
        view = await live.mount("kept")
        await view.push("post", {"count": 3})
        await view.wait_for(lambda: view.html().count("message") == 3, "three messages")
        html = await view.resync()
        assert html.count("message 3: kept") == 1 and html.count("message") == 3
        # A view without handle_resync starts its stream empty (the default).
        plain = await live.mount("chat")
        await plain.push("post", {"count": 2})
        await plain.wait_for(lambda: plain.html().count("message") == 3, "three messages")
        assert "message" not in await plain.resync()


# -- hostile events for components, through a real session -------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_events_for_unknown_components_are_refused_and_the_session_lives_on() -> None:
    async with live_test({"board": BoardView()}) as live:
        view = await live.mount("board")
        await view.push("set_items", {"items": [["a", "x"]]})
        for target in ("999", "abc", "0", "-1", "1" * 40, "1 "):
            await view.push("click", {}, target=target)
            error = view.errors[-1]
            assert isinstance(error, ErrorFrame), error
            assert error.code == "malformed_frame"
            assert error.path == "$.instruction.target"
        # A target that is not a string, or too long, does not decode: the frame is refused.
        for target in (b"5", b"[1]", b'"' + b"1" * 300 + b'"'):
            errors = len(view.errors)
            await view.send_raw(
                b'{"kind":"instruction","v":1,"seq":999999,"instruction":{"op":"submit",'
                b'"event":"click","payload":{},"target":' + target + b"}}"
            )
            assert len(view.errors) == errors + 1
            error = view.errors[-1]
            assert isinstance(error, ErrorFrame) and error.code == "malformed_frame"
            assert not error.fatal
        # An event the component does not declare, and a bad payload for one it does.

        await view.push("nope", {}, target="1")
        assert (
            isinstance(view.errors[-1], ErrorFrame)
            and view.errors[-1].path == "$.instruction.event"
        )
        await view.push("click", [1, 2], target="1")  # type: ignore[arg-type]
        assert isinstance(view.errors[-1], ErrorFrame)
        assert not view.closed
        html = await view.element("#card-a button").render_click()
        assert "x:1" in html
        # The DSL's render_* raise on a refusal (here: a button whose lf-target is stale).
        await view.push("set_items", {"items": []})
        with pytest.raises(LiveTestError, match="no element"):
            await view.element("#card-a button").render_click()


def test_a_component_in_a_stream_entry_leaves_with_its_entry() -> None:
    """Each `chips` entry holds a Badge: a delete, a trimming limit, a reset and an
    insert trimmed by its own limit remove exactly the components of the entries the
    browser drops, and the server keeps keys, not entries."""
    board = Board()

    def chips(*ops: dict[str, object]) -> dict[str, object]:
        patch = board.submit("feed", {"ops": list(ops), "stream": "chips"})
        assert patch is not None
        decoded = msgspec.json.decode(patch)
        assert isinstance(decoded, dict)
        return decoded

    def cid(key: str) -> int:
        return board.cid_of()[f"chip-{key}"]

    patch = chips(*({"kind": "i", "key": k, "text": k.upper()} for k in "abc"))
    a, b, c = cid("a"), cid("b"), cid("c")
    assert sorted(patch["c"]) == sorted(str(n) for n in (a, b, c))  # type: ignore[arg-type]
    mirror = board.program.components.streams["chips"]
    assert mirror.keys == ["a", "b", "c"] and mirror.cids == {"a": (a,), "b": (b,), "c": (c,)}

    assert chips({"kind": "d", "key": "b"})["c"] == {str(b): None}
    # Replaced in place by an entry naming the same component: its update, nothing leaves.
    patch = chips({"kind": "i", "key": "a", "text": "A2"})
    assert patch["c"] == {str(a): {"1": "A2"}}
    # Prepending with limit 2 trims "c" in the browser: its component leaves too.
    patch = chips({"kind": "i", "key": "d", "text": "D", "at": 0, "limit": 2})
    assert patch["c"][str(c)] is None  # type: ignore[index]
    assert mirror.keys == ["d", "a"]
    # An insert its own limit trims at once: sent as empty text, never mounted for long.
    patch = chips({"kind": "i", "key": "e", "text": "E", "limit": 2})
    assert "chip-e" not in board.cid_of()
    [op] = patch["r"]["3"]["x"]  # type: ignore[index]
    assert op[3] == {"0": "e", "1": ""}
    d = cid("d")
    assert chips({"kind": "r"})["c"] == {str(d): None, str(a): None}
    assert board.cid_of().keys().isdisjoint({"chip-a", "chip-d"})
    assert "chips" not in board.program.components.streams
