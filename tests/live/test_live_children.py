"""Nested live views (`live_render`, ADR 0115): a child view with its own session under
its parent's, its own mount, state, events, info messages and diffs on the parent's
socket; it crashes and restarts alone, the parent's crash takes it down, a re-render of
the parent leaves it running, and leaving the parent's template stops it. The test DSL's
`live_children` and `find_live_child` drive it like the parent."""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.isa import Render, Submit
from lightflow_actors.live import (
    LiveView,
    NotifyParent,
    SendAfter,
    SendChild,
    SessionInfo,
    StaticRender,
    Template,
    Update,
    ViewDefinitionError,
    each,
    live_render,
    live_view,
    to_html,
)
from lightflow_actors.testing.live import (
    LiveClient,
    LiveTestError,
    find_live_child,
    live_children,
    live_test,
)

pytestmark = pytest.mark.anyio


class Log:
    """What the views did, for the tests to read: connected mounts and terminates by
    view name."""

    def __init__(self) -> None:
        self.mounts: Tally[str] = Tally()
        self.terminated: list[tuple[str, str]] = []
        self.sessions: dict[str, dict[str, Any]] = {}


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    by: int = 1


class Boom(msgspec.Struct, frozen=True, tag="boom"):
    pass


class Tick(msgspec.Struct, frozen=True, tag="tick"):
    pass


class CounterState(msgspec.Struct, frozen=True):
    name: str
    count: int


COUNTER = Template(
    '<p class="count">{name}: {count}</p>'
    '<button class="inc" lf-click="inc" lf-value-by="1">+</button>'
    '<button class="boom" lf-click="boom">boom</button>'
)


class ChildCounter(LiveView[CounterState, Inc | Boom | Tick]):
    """A child: counts its own clicks, crashes on boom, ticks by handle_info."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def mount(self, params: dict[str, str], session: SessionInfo) -> object:
        name = str(session.signed.get("name", "?"))
        if session.connected:  # the first GET mounts it too, without a session
            self.log.mounts[name] += 1
            self.log.sessions[name] = {"params": dict(params), "id": session.id}
        start = int(str(session.signed.get("start", 0)))
        return Update(CounterState(name, start), (SendAfter(0.0, Tick()),))

    def render(self, state: CounterState) -> Any:
        return COUNTER(name=state.name, count=state.count)

    def handle_event(self, event: Inc | Boom | Tick, state: CounterState) -> CounterState:
        if isinstance(event, Boom):
            raise RuntimeError(f"{state.name} crashed on purpose")
        if isinstance(event, Inc):
            return CounterState(state.name, state.count + event.by)
        return state

    def handle_info(self, message: object, state: CounterState) -> CounterState:
        if isinstance(message, Tick):  # its own timer: proves the child has a mailbox
            return CounterState(state.name, state.count + 100)
        return state

    def terminate(self, reason: str, state: CounterState) -> None:
        self.log.terminated.append((state.name, reason))


class Toggle(msgspec.Struct, frozen=True, tag="toggle"):
    which: str


class Retitle(msgspec.Struct, frozen=True, tag="retitle"):
    pass


class PageState(msgspec.Struct, frozen=True):
    shown: tuple[str, ...]
    title: str = "page"


PAGE = Template(
    '<h1 id="title">{title}</h1>'
    '<button id="toggle-b" lf-click="toggle" lf-value-which="b">b</button>'
    '<button id="retitle" lf-click="retitle">retitle</button>'
    '<button id="crash" lf-click="boom">crash</button>'
    '<section id="kids">{kids}</section>'
)
KID = Template("{child}")


class Page(LiveView[PageState, Toggle | Retitle | Boom]):
    def __init__(self, log: Log) -> None:
        self.log = log
        self.child = ChildCounter(log)

    def mount(self, params: dict[str, str], session: SessionInfo) -> PageState:
        if session.connected:
            self.log.mounts["page"] += 1
        return PageState(("a", "b"))

    def render(self, state: PageState) -> Any:
        kids = [
            live_render(self.child, id=f"counter-{name}", session={"name": name, "start": 10})
            for name in state.shown
        ]
        return PAGE(title=state.title, kids=each(KID, [KID(child=k) for k in kids]))

    def handle_event(self, event: Toggle | Retitle | Boom, state: PageState) -> PageState:
        if isinstance(event, Boom):
            raise RuntimeError("the page crashed on purpose")
        if isinstance(event, Retitle):
            return PageState(state.shown, state.title + "!")
        shown = tuple(n for n in state.shown if n != event.which)
        if shown == state.shown:
            shown = (*state.shown, event.which)
        return PageState(shown, state.title)

    def terminate(self, reason: str, state: PageState) -> None:
        self.log.terminated.append(("page", reason))


def views(log: Log) -> dict[str, LiveView[Any, Any]]:
    return {"page": Page(log)}


async def test_children_mount_with_the_session_values_and_render_inside_their_containers() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        children = live_children(view)
        assert [c.id for c in children] == ["counter-a", "counter-b"]
        for child in children:
            await child.wait_for(lambda c=child: "110" in c.html(), "the child's tick")
        a = find_live_child(view, "counter-a")
        # mount(params, session): no params, the parent's session with the values added
        assert log.sessions["a"]["params"] == {}
        assert log.sessions["a"]["id"] == f"{view.client.session_id}.counter-a"
        assert a.element("p.count").text() == "a: 110"  # start=10, then its own tick +100
        # the page shows the child inside its container; the parent's own HTML does not
        assert (
            '<div id="counter-a" data-lf-child="counter-a"><p class="count">a: 110' in view.html()
        )
        assert "a: 110" not in view.client.own_html()
        assert view.has_element("#counter-b p.count", "b: 110")
        with pytest.raises(LiveTestError, match=r"counter-x.*counter-a, counter-b"):
            find_live_child(view, "counter-x")
        # the children's sessions run under the page's session (the actor tree shows it)
        [session] = await live.hub.sessions()
        assert len(live.system.info(session).children) == 2


async def test_the_first_get_renders_the_children_without_javascript() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        page = await live.hub.static_render("page", {})
        assert isinstance(page, StaticRender)
        html = page.html
        assert '<div id="counter-a" data-lf-child="counter-a"><p class="count">a: 10</p>' in html
        assert '<div id="counter-b" data-lf-child="counter-b"><p class="count">b: 10</p>' in html


async def test_an_event_goes_to_its_child_and_patches_only_that_child() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a, b = find_live_child(view, "counter-a"), find_live_child(view, "counter-b")
        await a.wait_for(lambda: "a: 110" in a.html() and "b: 110" in b.html(), "ticks")
        parent_patches = len(view.patches)
        html = await a.element("button.inc").render_click()
        assert "a: 111" in html and a.element("p.count").text() == "a: 111"
        assert b.element("p.count").text() == "b: 110"
        assert len(view.patches) == parent_patches  # the parent sent nothing
        assert a.patches[-1].root is not None
        await a.render_click("inc", {"by": 5})
        assert "a: 116" in view.html()
        # an element inside a child is the child's: the parent's handle says where to go
        with pytest.raises(LiveTestError, match="inside live child 'counter-a'"):
            await view.element("#counter-a button.inc").render_click()
        # a bad payload for the child: an error naming the field, both keep running
        with pytest.raises(LiveTestError, match="by"):
            await a.render_click("inc", {"by": "lots"})
        assert a.element("p.count").text() == "a: 116"


async def test_a_crashing_child_restarts_alone() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a, b = find_live_child(view, "counter-a"), find_live_child(view, "counter-b")
        await a.wait_for(lambda: "a: 110" in a.html() and "b: 110" in b.html(), "ticks")
        await b.render_click("inc")
        await view.render_click("retitle")
        renders, page_renders = a.renders, view.client.renders
        ref = await a.send_event("boom", {})
        html = await a.wait_for_render(renders)
        assert log.mounts["a"] == 2 and log.mounts["b"] == 1 and log.mounts["page"] == 1
        await a.wait_for(lambda: "a: 110" in a.html(), "the restarted child's tick")
        assert "a: 10" in html or "a: 110" in html  # mounted again: its state is new
        assert b.element("p.count").text() == "b: 111"  # the sibling kept its state
        assert view.element("#title").text() == "page!"  # and the parent its own
        assert view.client.renders == page_renders and not view.client.shutdowns
        # the event that crashed it was answered (refused), so the page is not left loading
        assert ref in view.client.answered
        await a.render_click("inc")
        assert a.element("p.count").text() == "a: 111"


async def test_a_child_crashing_again_and_again_takes_its_parent_down() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a = find_live_child(view, "counter-a")
        for crash in range(4):
            renders = a.renders
            await a.send_event("boom", {})
            if crash < 3:
                await a.wait_for_render(renders)
        await view.wait_for(lambda: bool(view.client.shutdowns), "the page's shutdown")
        assert view.client.shutdowns[-1].reason == "error"
        assert "counter-a" in view.client.shutdowns[-1].detail


async def test_the_parents_crash_takes_both_children_and_a_rejoin_mounts_all_again() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a = find_live_child(view, "counter-a")
        await a.wait_for(lambda: "a: 110" in a.html(), "a's tick")
        await a.render_click("inc")
        await view.send_event("boom", {})
        await view.wait_for(lambda: bool(view.client.shutdowns), "the page's shutdown")
        await view.wait_for(
            lambda: {n for n, _ in log.terminated} >= {"a", "b"}, "the children's exits"
        )
        assert await live.hub.sessions() == []
        renders = view.client.renders
        sid = view.client.session_id
        assert sid is not None
        await view.send(LiveClient.mount_instruction("page", sid, view.token, {}))
        await view.send(Render())
        await view.wait_for(lambda: view.client.renders > renders, "the rejoin's render")
        a = find_live_child(view, "counter-a")
        await a.wait_for(lambda: a.renders >= 2 and "a: 110" in a.html(), "a mounted again")
        assert log.mounts == Tally({"page": 2, "a": 2, "b": 2})


async def test_a_parent_re_render_does_not_mount_its_children_again() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a = find_live_child(view, "counter-a")
        await a.wait_for(lambda: "a: 110" in a.html(), "a's tick")
        await a.render_click("inc")
        for _ in range(3):
            await view.render_click("retitle")
        assert view.element("#title").text() == "page!!!"
        assert log.mounts == Tally({"page": 1, "a": 1, "b": 1})
        assert a.renders == 1 and a.element("p.count").text() == "a: 111"
        # a resync of the parent (its merge failed) renders it in full: the children stay
        await view.resync()
        assert log.mounts["a"] == 1 and "a: 111" in view.html()


async def test_a_child_left_out_of_the_template_shuts_down_and_comes_back_new() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        b = find_live_child(view, "counter-b")
        await b.wait_for(lambda: "b: 110" in b.html(), "b's tick")
        await view.element("#toggle-b").render_click()
        await view.wait_for(lambda: ("b", "shutdown") in log.terminated, "b's terminate")
        assert [c.id for c in live_children(view)] == ["counter-a"] and not b.alive
        assert "b: 110" not in view.html()
        await view.element("#toggle-b").render_click()
        b = find_live_child(view, "counter-b") if b.alive else b
        await view.wait_for(lambda: b.alive and "b: 110" in b.html(), "b back")
        assert log.mounts["b"] == 2 and log.mounts["a"] == 1


async def test_a_child_renders_its_own_child() -> None:
    log = Log()
    inner = ChildCounter(log)
    middle = live_view(
        lambda s: Template("<h2>{s}</h2>{kid}")(
            s=s, kid=live_render(inner, id="inner", session={"name": "deep"})
        ),
        mount=lambda params: "middle",
    )
    outer = live_view(
        lambda s: Template("<h1>{s}</h1>{kid}")(s=s, kid=live_render(middle, id="middle")),
        mount=lambda params: "outer",
    )
    async with live_test({"outer": outer}) as live:
        view = await live.mount("outer")
        await view.wait_for(lambda: "deep: 100" in view.html(), "the grandchild's tick")
        middle_handle = find_live_child(view, "middle")
        deep = find_live_child(middle_handle, "inner")
        assert deep.path == "middle/inner"
        await deep.render_click("inc")
        assert "deep: 101" in view.html() and "deep: 101" in middle_handle.html()
        assert '<h2>middle</h2><div id="inner" data-lf-child="inner">' in middle_handle.html()


# -- hostile frames: an unknown child, a malformed render request ----------------------


async def test_an_event_for_an_unknown_child_is_refused_and_everything_keeps_running() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        a = find_live_child(view, "counter-a")
        for target in ("counter-x", "counter-x/3", "z", "counter-a-nope/counter-b"):
            errors = len(view.errors)
            await view.push("inc", {}, target=target)
            error = view.errors[errors]
            assert not isinstance(error, str)
            assert error.code == "malformed_frame" and error.path == "$.instruction.target"
            assert "counter-a, counter-b" in error.message
        # a child's own unknown grandchild and unknown component are refused by the child
        await view.push("inc", {}, target="counter-a/nobody")
        assert "no live child 'nobody'" in str(view.errors[-1])
        await view.push("inc", {}, target="counter-a/7")
        assert "$.instruction.target" in str(view.errors[-1])
        await a.render_click("inc")
        assert log.mounts == Tally({"page": 1, "a": 1, "b": 1}) and not view.closed


@pytest.mark.parametrize(
    "render_view",
    [{"child": "counter-x"}, {"child": 5}, {"child": "counter-a", "more": 1}, {"child": ""}],
)
async def test_a_render_for_a_bad_child_is_refused(render_view: object) -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        errors = len(view.errors)
        await view.send(Render(view=render_view))  # type: ignore[arg-type]
        await view.wait_for(lambda: len(view.errors) > errors, "the refusal")
        error = view.errors[errors]
        assert not isinstance(error, str) and error.code == "malformed_frame"
        assert error.path is not None and error.path.startswith("$.instruction.view")
        a = find_live_child(view, "counter-a")
        assert "a: 1" in await a.resync()  # a good one renders the child in full
        assert not view.closed


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.one_of(
        st.text(max_size=80),
        st.text(alphabet="ab/-_09", max_size=40),
        st.binary(max_size=40).map(lambda b: b.decode("utf-8", "replace")),
    ),
    payload=st.recursive(
        st.none() | st.integers() | st.text(max_size=10),
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3)
        ),
        max_leaves=20,
    ),
)
async def test_any_target_and_payload_is_answered_without_harm(
    target: str, payload: object
) -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        errors = len(view.errors)
        await view.send(Submit(event="inc", payload=payload, target=target))  # type: ignore[arg-type]
        await view.settle(lambda: len(view.errors) > errors or len(view.client.envelopes) > 3)
        await view.render_click("retitle")  # the connection and the page still answer
        assert log.mounts["page"] == 1 and not view.closed


async def test_invalid_utf8_and_deeply_nested_child_renders_are_refused() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("page")
        deep: object = "counter-a"
        for _ in range(200):
            deep = {"child": deep}
        for view_value in (deep, {"child": "counter-a/\x00\ufffd"}):
            errors = len(view.errors)
            await view.send(Render(view=view_value))  # type: ignore[arg-type]
            await view.wait_for(lambda e=errors: len(view.errors) > e, "the refusal")
            error = view.errors[errors]
            assert not isinstance(error, str) and error.code == "malformed_frame", error
        seq = view.client.connection.last_seq_out + 1
        frame = (
            b'{"kind":"instruction","v":1,"seq":%d,"instruction":{"op":"submit","event":"inc",'
            b'"target":"counter-a\xff\xfe"}}' % seq
        )
        errors = len(view.errors)
        await view.send_raw(frame)
        await view.wait_for(lambda: len(view.errors) > errors, "the refusal of invalid UTF-8")
        error = view.errors[errors]
        assert not isinstance(error, str) and error.code == "malformed_frame", error
        assert log.mounts == Tally({"page": 1, "a": 1, "b": 1})


# -- live_render itself -------------------------------------------------------------


def test_live_render_checks_its_arguments() -> None:
    log = Log()
    child = ChildCounter(log)
    with pytest.raises(ViewDefinitionError, match="LiveView instance"):
        live_render(object(), id="x")  # type: ignore[arg-type]
    for bad in ("", "1abc", "a/b", "a.b", "x" * 65, 'a"><script>'):
        with pytest.raises(ViewDefinitionError, match="id"):
            live_render(child, id=bad)
    with pytest.raises(ViewDefinitionError, match="tag"):
        live_render(child, id="x", tag="div onclick")
    with pytest.raises(ViewDefinitionError, match="attribute"):
        live_render(child, id="x", attrs={"id": "y"})
    html = to_html(live_render(child, id="x", tag="section", attrs={"title": '"<&>'}))
    assert html == '<section id="x" data-lf-child="x" title="&quot;&lt;&amp;&gt;"></section>'


async def test_one_id_twice_in_a_render_crashes_the_view_with_a_clear_error() -> None:
    log = Log()
    child = ChildCounter(log)
    twice = live_view(
        lambda s: Template("{a}{b}")(a=live_render(child, id="x"), b=live_render(child, id="x")),
        mount=lambda params: 0,
    )
    async with live_test({"twice": twice}) as live:
        with pytest.raises(ViewDefinitionError, match="used twice"):
            await live.hub.static_render("twice", {})


def test_a_submit_target_may_name_a_child() -> None:
    assert Submit(event="e", target="counter-a/3").target == "counter-a/3"


# -- messages between a parent and its children ----------------------------------------


class Note(msgspec.Struct, frozen=True):
    text: str


BOX = Template('<p id="box">{text}</p><button id="tell" lf-click="tell">tell</button>')
HOST = Template('<p id="heard">{heard}</p><button id="ping" lf-click="ping">ping</button>{kid}')


def talking_views() -> dict[str, Any]:
    box = live_view(lambda s: BOX(text=s), mount=lambda params: "quiet", handle_info=_box_info)

    @box.on("tell")
    def tell(state: str) -> Update[str]:  # a child's view tells its parent
        return Update(state, (NotifyParent(Note(f"from the box, which shows {state}")),))

    host = live_view(
        lambda s: HOST(heard=s, kid=live_render(box, id="box")),
        mount=lambda params: "nothing",
        handle_info=lambda message, state: message.text if isinstance(message, Note) else state,
    )

    @host.on("ping")
    def ping(state: str) -> Update[str]:  # and a parent its child, by id
        return Update(state, (SendChild("box", Note("pinged")), SendChild("nobody", Note("x"))))

    return {"host": host}


def _box_info(message: object, state: str) -> str:
    return message.text if isinstance(message, Note) else state


async def test_a_parent_and_its_child_send_each_other_info_messages() -> None:
    async with live_test(talking_views()) as live:
        view = await live.mount("host")
        box = find_live_child(view, "box")
        await view.render_click("ping")
        await box.wait_for(lambda: box.element("#box").text() == "pinged", "the child's info")
        await box.render_click("tell")
        await view.wait_for(
            lambda: view.element("#heard").text() == "from the box, which shows pinged",
            "the parent's info",
        )


# -- a page without children pays nothing for them (ADR 0108's per-session memory) ------


async def test_a_session_without_children_holds_nothing_for_them() -> None:
    from lightflow_actors.live_examples.counter import counter

    async with live_test({"counter": counter, **views(Log())}) as live:
        await live.mount("counter")
        await live.mount("page")
        plain, parent = await live.hub.sessions()
        names = ("children", "child_starts", "depth", "parent")
        plain_actor: Any = plain._cell.actor  # the actor objects (kernel internals)
        parent_actor: Any = parent._cell.actor
        assert not set(names) & set(vars(plain_actor)), vars(plain_actor).keys()
        assert not {"children", "nested"} & set(vars(plain_actor.program))
        assert {"children", "child_starts"} <= set(vars(parent_actor))
        assert "children" in vars(parent_actor.program)
