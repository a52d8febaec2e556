"""`JS` commands built in Python, and `PushEvent` from a view to the browser.

The builder's text is what the client parses (specs/live-wire.md §12): checked here
by value, by round trip through a template attribute (escaped, then unescaped as a
browser does), and by refusal of arguments the client could not run. `PushEvent`
travels in the envelope's ``e`` after the patch of its update, from mount on.
"""

from __future__ import annotations

import html
import math
import re

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.live import (
    JS,
    JSCommandError,
    LiveComponent,
    LiveView,
    Params,
    PushEvent,
    Rendered,
    SessionInfo,
    Template,
    Update,
    closest,
    inner,
    live_component,
    to_html,
)
from lightflow_actors.testing.live import live_test

pytestmark = pytest.mark.anyio


def test_a_pipeline_starts_on_the_class_and_grows_on_the_value() -> None:
    menu = JS.toggle("#menu")
    both = menu.push("opened", value={"id": 7})
    assert menu == '[["toggle",{"to":"#menu"}]]'  # the first value is unchanged
    assert both.commands == [
        ("toggle", {"to": "#menu"}),
        ("push", {"event": "opened", "value": {"id": 7}}),
    ]
    assert isinstance(both, JS) and isinstance(both, str)
    assert JS() == "[]" and JS().commands == []


def test_every_command_encodes_its_arguments_and_leaves_defaults_out() -> None:
    js = (
        JS.show("#a", display="flex", transition=("ease", "o-0", "o-100"), time=300)
        .hide(closest(".card"))
        .toggle(inner("li"), in_="fade-in", out="fade-out")
        .add_class("open big", "#b")
        .remove_class("closed")
        .toggle_class("on", transition="blink", time=0)
        .set_attribute("aria-expanded", "true", "#c")
        .remove_attribute("hidden")
        .transition("shake", "#d")
        .dispatch("copy", "#e", detail={"text": "x"}, bubbles=False)
        .navigate("/live/chat", replace=True)
        .patch("?page=2")
        .focus("#f")
        .focus_first()
        .push_focus()
        .push_focus(closest("li"))
        .pop_focus()
        .exec("data-cancel", "#modal")
    )
    assert js.commands == [
        (
            "show",
            {
                "to": "#a",
                "display": "flex",
                "transition": [["ease"], ["o-0"], ["o-100"]],
                "time": 300,
            },
        ),
        ("hide", {"to": {"closest": ".card"}}),
        (
            "toggle",
            {"to": {"inner": "li"}, "ins": [["fade-in"], [], []], "outs": [["fade-out"], [], []]},
        ),
        ("add_class", {"names": ["open", "big"], "to": "#b"}),
        ("remove_class", {"names": ["closed"]}),
        ("toggle_class", {"names": ["on"], "transition": [["blink"], [], []], "time": 0}),
        ("set_attr", {"attr": ["aria-expanded", "true"], "to": "#c"}),
        ("remove_attr", {"attr": "hidden"}),
        ("transition", {"to": "#d", "transition": [["shake"], [], []]}),
        ("dispatch", {"to": "#e", "event": "copy", "detail": {"text": "x"}, "bubbles": False}),
        ("navigate", {"href": "/live/chat", "replace": True}),
        ("patch", {"href": "?page=2"}),
        ("focus", {"to": "#f"}),
        ("focus_first", {}),
        ("push_focus", {}),
        ("push_focus", {"to": {"closest": "li"}}),
        ("pop_focus", {}),
        ("exec", {"to": "#modal", "attr": "data-cancel"}),
    ]


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: JS.show(""), "to"),
        (lambda: JS.show("   "), "to"),
        (lambda: JS.hide(closest("")), "closest"),
        (lambda: JS.add_class("a <b>"), "names"),
        (lambda: JS.add_class(3), "names"),  # type: ignore[arg-type]
        (lambda: JS.show("#a", time=-1), "time"),
        (lambda: JS.show("#a", time=True), "time"),  # type: ignore[arg-type]
        (lambda: JS.show("#a", display="block; color: red"), "display"),
        (lambda: JS.show("#a", transition=("a", "b")), "transition"),  # type: ignore[arg-type]
        (lambda: JS.set_attribute("on click", "x"), "name"),
        (lambda: JS.set_attribute("title", 3), "value"),  # type: ignore[arg-type]
        (lambda: JS.remove_attribute(""), "name"),
        (lambda: JS.push(""), "event"),
        (lambda: JS.push("two words"), "event"),
        (lambda: JS.push("x", value={"n": math.nan}), "value"),
        (lambda: JS.push("x", value={"s": {1, 2}}), "value"),  # type: ignore[dict-item]
        (lambda: JS.push("x", value=[1]), "value"),  # type: ignore[arg-type]
        (lambda: JS.dispatch("x", detail={"deep": _nested(80)}), "detail"),
        (lambda: JS.navigate(""), "href"),
        (lambda: JS.patch("x" * 9000), "href"),
        (lambda: JS.exec("bad name"), "attribute"),
        (lambda: JS.transition(None), "transition"),
    ],
)
def test_arguments_the_client_could_not_run_are_refused_by_name(
    build: object, argument: str
) -> None:
    with pytest.raises(JSCommandError) as raised:
        build()  # type: ignore[operator]
    assert raised.value.argument == argument
    assert argument in str(raised.value)


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


_ATTR = re.compile(r'lf-click="([^"]*)"')
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)
json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts
json_value = st.recursive(
    json_leaf,
    lambda inner_: st.lists(inner_, max_size=3) | st.dictionaries(texts, inner_, max_size=3),
    max_leaves=10,
)
selectors = st.sampled_from(["#menu", ".a > b", "li:nth-child(2)", "[data-x='1\"']"])
steps = st.one_of(
    st.builds(lambda s: ("show", {"to": s}), selectors),
    st.builds(lambda s: ("hide", {"to": s}), selectors),
    st.builds(
        lambda e, v: ("push", {"event": e, "value": v}),
        st.from_regex(r"[a-z][a-z_:-]{0,10}", fullmatch=True),
        st.dictionaries(texts, json_value, max_size=3),
    ),
    st.builds(
        lambda d: ("dispatch", {"event": "copy", "detail": d}),
        st.dictionaries(texts, json_value, max_size=3),
    ),
)


@given(st.lists(steps, max_size=6))
def test_a_pipeline_survives_a_template_attribute_as_the_browser_reads_it(
    plan: list[tuple[str, dict[str, object]]],
) -> None:
    js = JS()
    for kind, args in plan:
        if kind == "push":
            js = js.push(str(args["event"]), value=args["value"])  # type: ignore[arg-type]
        elif kind == "dispatch":
            js = js.dispatch("copy", detail=args["detail"])  # type: ignore[arg-type]
        elif kind == "show":
            js = js.show(str(args["to"]))
        else:
            js = js.hide(str(args["to"]))
    page = to_html(Template('<button lf-click="{js}">x</button>')(js=js))
    [escaped] = _ATTR.findall(page)
    assert html.unescape(escaped) == js  # what getAttribute returns in a browser
    assert msgspec.json.decode(html.unescape(escaped)) == [list(c) for c in js.commands]
    assert [kind for kind, _ in js.commands] == [kind for kind, _ in plan]


# -- PushEvent ------------------------------------------------------------------------------


class Nudge(msgspec.Struct, frozen=True, tag="nudge"):
    n: int = 1


class Noop(msgspec.Struct, frozen=True, tag="noop"):
    pass


PAGE = Template('<p>{count}</p><button lf-click="{go}">go</button>')


class Pusher(LiveView[int, Nudge | Noop]):
    def mount(self, params: Params, session: SessionInfo) -> int | Update[int]:
        return Update(0, (PushEvent("ready", {"at": "mount"}),))

    def handle_event(self, event: Nudge | Noop, state: int) -> int | Update[int]:
        if isinstance(event, Noop):
            return Update(state, (PushEvent("nothing-changed"),))
        return Update(
            state + event.n,
            (PushEvent("highlight", {"n": state + event.n}), PushEvent("second", {"x": [1, 2]})),
        )

    def render(self, state: int) -> Rendered:
        return PAGE(count=state, go=JS.add_class("busy").push("nudge", value={"n": 2}))


async def test_pushed_events_arrive_in_order_with_the_patch_and_from_mount() -> None:
    async with live_test({"pusher": Pusher()}) as live:
        view = await live.mount("pusher")
        assert view.client.pushed_events == [("ready", {"at": "mount"})]  # in the Render
        # The test DSL finds the push inside the JS pipeline, with its value.
        await view.click("nudge")
        assert "<p>2</p>" in view.html()
        assert view.client.pushed_events[1:] == [("highlight", {"n": 2}), ("second", {"x": [1, 2]})]
        last = view.client.envelopes[-1]
        assert last.d is not None and last.e is not None  # one frame: patch and events
        await view.push("noop", {})
        assert view.client.pushed_events[-1] == ("nothing-changed", {})
        assert view.client.envelopes[-1].d is None  # an event alone, no diff


def test_a_push_event_with_a_bad_name_or_payload_is_refused() -> None:
    with pytest.raises(JSCommandError, match="event"):
        PushEvent("")
    with pytest.raises(JSCommandError, match="payload"):
        PushEvent("x", {"bad": math.inf})
    with pytest.raises(JSCommandError, match="payload"):
        PushEvent("x", {"b": b"bytes"})  # type: ignore[dict-item]


def test_events_pushed_while_held_back_go_out_at_the_release_the_oldest_dropped() -> None:
    from lightflow_actors.isa import Mount, Patched, PureInterpreter, Render, Submit
    from lightflow_actors.live import SessionInfo, ViewSpec, decode_envelope
    from lightflow_actors.live._program import MAX_OWED_EVENTS, ViewProgram

    program = ViewProgram(ViewSpec("pusher", Pusher()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.step(Mount(id="s", target="pusher"))
    interp.step(Render())
    program.hold()
    for i in range(MAX_OWED_EVENTS):  # two events each
        assert interp.step(Submit(event="nudge", payload={"n": 1}, ref=str(i))) == []
    [released] = program.release()
    assert isinstance(released, Patched)
    envelope = decode_envelope(released.diff)
    assert envelope.e is not None and len(envelope.e) == MAX_OWED_EVENTS
    assert list(envelope.e[-1]) == ["second", {"x": [1, 2]}]
    assert list(envelope.e[-2]) == ["highlight", {"n": MAX_OWED_EVENTS}]
    assert envelope.ref == str(MAX_OWED_EVENTS - 1)
    assert program.release() == []  # nothing owed twice


def test_toggle_attribute_with_one_or_two_values() -> None:
    assert JS.toggle_attribute("open", "").commands == [("toggle_attr", {"attr": ["open", ""]})]
    both = JS.toggle_attribute("aria-expanded", "true", "false", "#menu")
    assert both.commands == [
        ("toggle_attr", {"attr": ["aria-expanded", "true", "false"], "to": "#menu"})
    ]
    with pytest.raises(JSCommandError, match="'off'"):
        JS.toggle_attribute("x", "a", 3)  # type: ignore[arg-type]
    with pytest.raises(JSCommandError, match="'name'"):
        JS.toggle_attribute("1x", "a")


def test_strings_that_are_not_utf8_are_refused_not_sent() -> None:
    with pytest.raises(JSCommandError, match="UTF-8"):
        JS.push("x", value={"s": "\ud800"})
    with pytest.raises(JSCommandError, match="UTF-8"):
        JS.show("#a\udfff")
    with pytest.raises(JSCommandError, match="UTF-8"):
        PushEvent("x", {"s": "\ud800"})
    with pytest.raises(JSCommandError, match="UTF-8"):
        PushEvent("\ud800")


@given(st.text(max_size=40), st.dictionaries(st.text(max_size=8), json_value, max_size=4))
def test_any_push_event_either_encodes_or_is_refused_by_name(
    name: str, payload: dict[str, object]
) -> None:
    try:
        event = PushEvent(name, payload)  # type: ignore[arg-type]
    except JSCommandError as error:
        assert error.argument in ("event", "payload")
        return
    assert msgspec.json.decode(msgspec.json.encode([event.event, event.payload])) == [
        name,
        payload,
    ]


# -- JS.push(target=myself): the event goes to a live component --------------------------


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    by: int = 1


COUNTER_ITEM = Template(
    '<p id="c-{name}">{name}: {n}<button id="b-{name}" lf-click="{bump}">+</button></p>'
)


class CounterItem(LiveComponent[str, tuple[str, int], Bump]):
    def mount(self, props: str) -> tuple[str, int]:
        return (props, 0)

    def handle_event(self, event: Bump, state: tuple[str, int]) -> tuple[str, int]:
        return (state[0], state[1] + event.by)

    def render(self, state: tuple[str, int], myself: int) -> Rendered:
        bump = JS.add_class("pressed").push("bump", value={"by": 5}, target=myself)
        return COUNTER_ITEM(name=state[0], n=state[1], bump=bump)


ITEM_COMPONENT = CounterItem()
BOARD = Template("<div>{a}{b}</div>")


class Board(LiveView[int, Bump]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Bump, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return BOARD(
            a=live_component(ITEM_COMPONENT, "a", "a"), b=live_component(ITEM_COMPONENT, "b", "b")
        )


async def test_a_js_push_with_a_target_reaches_that_component() -> None:
    async with live_test({"board": Board()}) as live:
        view = await live.mount("board")
        html = await view.render_click(view.element("#b-b"))
        assert "b: 5" in html and "a: 0" in html  # the push's value and target, not the view
        assert JS.push("x", target=3).commands == [("push", {"event": "x", "target": 3})]
    with pytest.raises(JSCommandError, match="target"):
        JS.push("x", target=True)
    with pytest.raises(JSCommandError, match="target"):
        JS.push("x", target=-1)
