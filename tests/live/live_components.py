"""A board of live components and a stream, a naive model of what it must show, and
Hypothesis strategies for steps: shared by the component, stream and JS-merge tests.

`BoardView` places one `Card` component per item (a keyed list), a `Badge` for the
pinned item, a `Badge` inside every card clicked an odd number of times (nested
components that come and go), the stream ``feed`` of plain lines and the stream
``chips``, each of whose entries holds a `Badge` (components inside stream entries).
`Model` applies the same steps the simple way and renders the HTML the browser must show.
"""

from __future__ import annotations

import html as html_lib
from typing import Literal

import msgspec
from hypothesis import strategies as st

from lightflow_actors.isa import Mount, PureInterpreter, Render, Submit
from lightflow_actors.live import (
    LiveComponent,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Stream,
    StreamDelete,
    StreamInsert,
    Template,
    Update,
    ViewSpec,
    keyed,
    live_component,
    streamed,
)
from lightflow_actors.live._program import ViewProgram


class Click(msgspec.Struct, frozen=True, tag="click"):
    pass


class CardState(msgspec.Struct, frozen=True):
    key: str
    text: str
    clicks: int = 0


BADGE = Template('<b id="badge-{id}">{text}</b>')
CARD = Template(
    '<li id="card-{key}">{text}:{clicks}'
    '<button lf-click="click" lf-target="{myself}">+</button>{inner}</li>'
)


class Badge(LiveComponent[str, str, Click]):
    def mount(self, props: str) -> str:
        return props

    def render(self, state: str, myself: int) -> Rendered:
        return BADGE(id=myself, text=state)


class Card(LiveComponent[tuple[str, str], CardState, Click]):
    def mount(self, props: tuple[str, str]) -> CardState:
        return CardState(*props)

    def update(self, props: tuple[str, str], state: CardState) -> CardState:
        return msgspec.structs.replace(state, text=props[1])

    def handle_event(self, event: Click, state: CardState) -> CardState:
        return msgspec.structs.replace(state, clicks=state.clicks + 1)

    def render(self, state: CardState, myself: int) -> Rendered:
        inner = (
            live_component(BADGE_COMPONENT, f"in-{state.key}", state.text)
            if state.clicks % 2
            else None
        )
        return CARD(key=state.key, text=state.text, clicks=state.clicks, myself=myself, inner=inner)


BADGE_COMPONENT = Badge()
CARD_COMPONENT = Card()

BOARD = Template(
    '<main><header>{pinned}</header><ul id="cards">{cards}</ul>'
    '<ol id="feed" lf-update="stream">{feed}</ol>'
    '<ol id="chips" lf-update="stream">{chips}</ol></main>'
)
SLOT = Template("{card}")
LINE = Template('<li id="line-{key}">{text}</li>')
CHIP = Template('<li id="chip-{key}">{badge}</li>')


class BoardState(msgspec.Struct, frozen=True):
    items: tuple[tuple[str, str], ...] = ()
    pinned: str | None = None


class SetItems(msgspec.Struct, frozen=True, tag="set_items"):
    items: list[tuple[str, str]]


class SetPinned(msgspec.Struct, frozen=True, tag="set_pinned"):
    key: str | None


class FeedOp(msgspec.Struct, frozen=True):
    kind: Literal["i", "u", "d", "r"]
    key: str = ""
    text: str = ""
    at: int = -1
    limit: int | None = None


class Feed(msgspec.Struct, frozen=True, tag="feed"):
    ops: list[FeedOp]
    stream: Literal["feed", "chips"] = "feed"


class BoardView(LiveView[BoardState, SetItems | SetPinned | Feed]):
    def mount(self, params: Params, session: SessionInfo) -> BoardState:
        return BoardState()

    def handle_event(
        self, event: SetItems | SetPinned | Feed, state: BoardState
    ) -> BoardState | Update[BoardState]:
        if isinstance(event, SetItems):
            return msgspec.structs.replace(state, items=tuple(event.items))
        if isinstance(event, SetPinned):
            return msgspec.structs.replace(state, pinned=event.key)
        commands: list[Stream | StreamInsert | StreamDelete] = []
        name = event.stream
        for op in event.ops:
            if op.kind == "r":
                commands.append(Stream(name=name, reset=True))
            elif op.kind == "d":
                commands.append(StreamDelete(name=name, key=op.key))
            else:
                entry = (
                    LINE(key=op.key, text=op.text)
                    if name == "feed"
                    else CHIP(
                        key=op.key,
                        badge=live_component(BADGE_COMPONENT, f"chip-{op.key}", op.text),
                    )
                )
                commands.append(
                    StreamInsert(
                        name=name,
                        key=op.key,
                        entry=entry,
                        at=op.at,
                        limit=op.limit,
                        update_only=op.kind == "u",
                    )
                )
        return Update(state, tuple(commands))

    def render(self, state: BoardState) -> Rendered:
        pinned = (
            live_component(BADGE_COMPONENT, f"pin-{state.pinned}", state.pinned)
            if state.pinned is not None
            else None
        )
        cards = keyed(
            SLOT,
            [
                (key, SLOT(card=live_component(CARD_COMPONENT, key, (key, text))))
                for key, text in state.items
            ],
        )
        return BOARD(
            pinned=pinned,
            cards=cards,
            feed=streamed("feed", LINE),
            chips=streamed("chips", CHIP),
        )


# -- the naive model ------------------------------------------------------------------------


def e(text: str) -> str:
    return html_lib.escape(text, quote=True).replace("&#x27;", "&#39;")


class Model:
    """What the page must show: cards with their clicks, the pin, the feed's lines."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.clicks: dict[str, int] = {}
        self.pinned: str | None = None
        self.feed: list[tuple[str, str]] = []
        self.chips: list[tuple[str, str]] = []

    def set_items(self, items: list[tuple[str, str]]) -> None:
        self.items = list(items)
        keys = {key for key, _ in items}
        self.clicks = {k: n for k, n in self.clicks.items() if k in keys}

    def click(self, key: str) -> None:
        self.clicks[key] = self.clicks.get(key, 0) + 1

    def apply(self, ops: list[FeedOp], stream: str = "feed") -> None:
        lines = self.feed if stream == "feed" else self.chips
        for op in ops:
            keys = [k for k, _ in lines]
            if op.kind == "r":
                lines = []
            elif op.kind == "d":
                lines = [(k, t) for k, t in lines if k != op.key]
            elif op.key in keys:
                lines[keys.index(op.key)] = (op.key, op.text)
            elif op.kind == "i":
                at = len(lines) if op.at == -1 else min(op.at, len(lines))
                lines.insert(at, (op.key, op.text))
                if op.limit is not None:
                    lines = lines[: op.limit] if op.limit >= 0 else lines[op.limit :]
        if stream == "feed":
            self.feed = lines
        else:
            self.chips = lines

    def html(self, cid_of: dict[str, int]) -> str:
        """The page, given the cid each component id has (cids are the session's choice)."""
        pinned = (
            f'<b id="badge-{cid_of["pin-" + self.pinned]}">{e(self.pinned)}</b>'
            if self.pinned is not None
            else ""
        )
        cards = ""
        for key, text in self.items:
            clicks = self.clicks.get(key, 0)
            inner = f'<b id="badge-{cid_of["in-" + key]}">{e(text)}</b>' if clicks % 2 else ""
            cards += (
                f'<li id="card-{e(key)}">{e(text)}:{clicks}'
                f'<button lf-click="click" lf-target="{cid_of[key]}">+</button>{inner}</li>'
            )
        feed = "".join(f'<li id="line-{e(k)}">{e(t)}</li>' for k, t in self.feed)
        chips = "".join(
            f'<li id="chip-{e(k)}"><b id="badge-{cid_of["chip-" + k]}">{e(t)}</b></li>'
            for k, t in self.chips
        )
        return (
            f'<main><header>{pinned}</header><ul id="cards">{cards}</ul>'
            f'<ol id="feed" lf-update="stream">{feed}</ol>'
            f'<ol id="chips" lf-update="stream">{chips}</ol></main>'
        )


# -- driving the program without an actor -------------------------------------------------


class Board:
    """`BoardView` under the pure ISA interpreter: each step gives the patch bytes."""

    def __init__(self) -> None:
        self.program = ViewProgram(ViewSpec("board", BoardView()), SessionInfo("s1", True))
        self.interp = PureInterpreter(self.program)
        self.interp.apply(Mount(id="s1", target="board"))
        [rendered] = self.interp.apply(Render())
        self.first = _patch_bytes(rendered.view)  # type: ignore[attr-defined]
        self.refs = 0

    def submit(self, event: str, payload: object, target: str | None = None) -> bytes | None:
        self.refs += 1
        effects = self.interp.apply(
            Submit(event=event, payload=payload, ref=str(self.refs), target=target)  # type: ignore[arg-type]
        )
        for effect in effects:
            diff = getattr(effect, "diff", None)
            if isinstance(diff, dict) and "d" in diff:
                return _patch_bytes(diff)
            payload_of = getattr(effect, "payload", None)
            if payload_of is not None:
                raise AssertionError(f"refused: {payload_of}")
        return None

    def cid_of(self) -> dict[str, int]:
        return {m.id: m.cid for m in self.program.components}

    def cid(self, key: str) -> str:
        mounted = self.program.components.find(Card, key)
        assert mounted is not None
        return str(mounted.cid)


def _patch_bytes(envelope: object) -> bytes:
    assert isinstance(envelope, dict)
    return msgspec.json.encode(envelope["d"])


# -- steps -----------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d", "<e>", "__proto__"])
TEXT = st.sampled_from(["x", "y", "<z>", "\"q'", "é"])


def _unique(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for key, text in items:
        if key not in seen:
            seen.add(key)
            out.append((key, text))
    return out


FEED_OPS = st.lists(
    st.one_of(
        st.builds(
            FeedOp,
            kind=st.just("i"),
            key=KEYS,
            text=TEXT,
            at=st.integers(-1, 4),
            limit=st.one_of(st.none(), st.integers(-4, 4)),
        ),
        st.builds(FeedOp, kind=st.just("u"), key=KEYS, text=TEXT),
        st.builds(FeedOp, kind=st.just("d"), key=KEYS),
        st.just(FeedOp(kind="r")),
    ),
    max_size=5,
)

STEP = st.one_of(
    st.tuples(st.just("items"), st.lists(st.tuples(KEYS, TEXT), max_size=5).map(_unique)),
    st.tuples(st.just("pin"), st.one_of(st.none(), KEYS)),
    st.tuples(st.just("click"), KEYS),
    st.tuples(st.just("feed"), FEED_OPS),
    st.tuples(st.just("chips"), FEED_OPS),
)
STEPS = st.lists(STEP, min_size=1, max_size=12)


def run_steps(steps: list[tuple[str, object]]) -> tuple[list[bytes], list[str]]:
    """The wire patches of `steps` (first render first) and the HTML the model shows after
    each (the first render's included)."""
    board, model = Board(), Model()
    patches, expected = [board.first], [model.html(board.cid_of())]
    for kind, arg in steps:
        patch: bytes | None
        if kind == "items":
            assert isinstance(arg, list)
            model.set_items(arg)
            patch = board.submit("set_items", {"items": [list(i) for i in arg]})
        elif kind == "pin":
            model.pinned = arg  # type: ignore[assignment]
            patch = board.submit("set_pinned", {"key": arg})
        elif kind == "click":
            assert isinstance(arg, str)
            if arg not in dict(model.items):
                continue
            model.click(arg)
            patch = board.submit("click", {}, target=board.cid(arg))
        else:
            assert isinstance(arg, list)
            model.apply(arg, kind)
            ops = [msgspec.to_builtins(op) for op in arg]
            patch = board.submit("feed", {"ops": ops, "stream": kind})
        patches.append(patch if patch is not None else b"{}")
        expected.append(model.html(board.cid_of()))
    return patches, expected
