"""Sticky live children (`live_render(..., sticky=True)`, ADR 0126): a child placed by a
layout that survives live navigation between views of one ``live_session``. The
connection (its transport) runs it, not the page it was first rendered in: its session,
state and DOM stay while the page's view is replaced; a view that does not place it
stops it, and so does the end of the connection (leaving the ``live_session`` loads the
page anew). Hostile frames for it are answered and harm nothing."""

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
    Rendered,
    SessionInfo,
    StaticRender,
    Template,
    ViewDefinitionError,
    live_render,
    live_session,
    to_html,
)
from lightflow_actors.tenants import Budgets, TenantsConfig
from lightflow_actors.testing.live import LiveClient, LiveTestError, find_live_child, live_test

pytestmark = pytest.mark.anyio


class Log:
    def __init__(self) -> None:
        self.mounts: Tally[str] = Tally()
        self.terminated: list[tuple[str, str]] = []
        self.ids: dict[str, str] = {}


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    by: int = 1


class Boom(msgspec.Struct, frozen=True, tag="boom"):
    pass


class Track(msgspec.Struct, frozen=True):
    playing: str
    count: int


PLAYER = Template(
    '<p class="track">{playing}</p><p class="count">{count}</p>'
    '<button class="inc" lf-click="inc">+</button>'
)


class Player(LiveView[Track, Inc | Boom]):
    """The audio-player-like sticky child: a counter that must survive navigation."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def mount(self, params: dict[str, str], session: SessionInfo) -> Track:
        if session.connected:
            self.log.mounts["player"] += 1
            self.log.ids["player"] = session.id
        return Track(str(session.signed.get("track", "?")), 0)

    def render(self, state: Track) -> Any:
        return PLAYER(playing=state.playing, count=state.count)

    def handle_event(self, event: Inc | Boom, state: Track) -> Track:
        if isinstance(event, Boom):
            raise RuntimeError("the player crashed on purpose")
        return Track(state.playing, state.count + event.by)

    def terminate(self, reason: str, state: Track) -> None:
        self.log.terminated.append(("player", reason))


class PageState(msgspec.Struct, frozen=True):
    name: str
    clicks: int = 0


PAGE = Template(
    '<h1 id="name">{name}</h1><p id="clicks">{clicks}</p>'
    '<button id="bump" lf-click="bump">bump</button>'
)
LAYOUT = Template('<header>{player}</header><main id="inner">{inner}</main>')


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    pass


class Page(LiveView[PageState, Bump | Boom]):
    """A page of the ``main`` live_session; its layout places the sticky player."""

    sticky_player = True

    def __init__(self, name: str, log: Log, player: Player) -> None:
        self.name = name
        self.log = log
        self.player = player

    def mount(self, params: dict[str, str], session: SessionInfo) -> PageState:
        if session.connected:
            self.log.mounts[self.name] += 1
        return PageState(self.name)

    def render(self, state: PageState) -> Any:
        return PAGE(name=state.name, clicks=state.clicks)

    def layout(self, inner: Rendered, flash: Any) -> Rendered:
        player = (
            live_render(self.player, id="player", session={"track": "song"}, sticky=True)
            if self.sticky_player
            else ""
        )
        return LAYOUT(player=player, inner=inner)

    def handle_event(self, event: Bump | Boom, state: PageState) -> PageState:
        if isinstance(event, Boom):
            raise RuntimeError("the page crashed on purpose")
        return PageState(state.name, state.clicks + 1)

    def terminate(self, reason: str, state: PageState) -> None:
        self.log.terminated.append((self.name, reason))


class Plain(Page):
    sticky_player = False  # a page of the same live_session without the player


def views(log: Log) -> dict[str, Any]:
    player = Player(log)
    return {
        **live_session(
            "main",
            {
                "a": Page("a", log, player),
                "b": Page("b", log, player),
                "plain": Plain("plain", log, player),
            },
        ),
        "elsewhere": Page("elsewhere", log, player),
    }


async def _player_at(view: Any, count: int) -> Any:
    player = find_live_child(view, "player")
    await player.wait_for(lambda: f'<p class="count">{count}</p>' in player.html(), str(count))
    return player


async def test_a_sticky_child_keeps_its_session_and_state_across_two_navigations() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        player = find_live_child(view, "player")
        assert '<div id="player" data-lf-child="player" data-lf-sticky>' in view.html()
        await player.render_click("inc")
        await player.render_click("inc", {"by": 5})
        assert player.element("p.count").text() == "6"
        first_id = log.ids["player"]
        assert first_id == f"{view.client.session_id}.player"

        await view.navigate("b")
        assert view.element("#name").text() == "b"
        player = await _player_at(view, 6)  # its state, shown in the new page's layout
        await player.render_click("inc")
        await view.navigate("a")
        player = await _player_at(view, 7)
        await player.render_click("inc")
        assert player.element("p.count").text() == "8"

        # one mount, one full render, all along: never mounted again
        assert log.mounts == Tally({"a": 2, "b": 1, "player": 1})
        assert player.renders == 1 and log.ids["player"] == first_id
        assert [n for n, _ in log.terminated] == ["a", "b"]  # the pages went, it stayed
        # the connection runs it: not a session of its own, not under the page's session
        [session] = await live.hub.sessions()
        assert live.system.info(session).children == []
        [transport] = await live.hub.transports()
        assert len(live.system.info(transport).children) == 1


async def test_a_view_that_does_not_place_it_stops_it_and_one_that_does_starts_a_new_one() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        await find_live_child(view, "player").render_click("inc")
        await view.navigate("plain")
        await view.wait_for(lambda: ("player", "shutdown") in log.terminated, "its terminate")
        assert view.live_children() == [] and "data-lf-sticky" not in view.html()
        await view.navigate("b")
        player = await _player_at(view, 0)  # a new one: mounted again, its state new
        assert log.mounts["player"] == 2 and player.renders == 1
        [transport] = await live.hub.transports()
        assert len(live.system.info(transport).children) == 1


async def test_leaving_the_live_session_ends_the_connection_and_the_sticky_child() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        await find_live_child(view, "player").render_click("inc")
        # the transport refuses a live navigation to another live_session: the browser
        # loads that page anew, closing this connection, which stops the player
        with pytest.raises(LiveTestError, match="live_session"):
            await view.navigate("elsewhere")
        await view.close()
        await view.settle(lambda: bool(log.terminated))
        await view.wait_for(lambda: ("player", "shutdown") in log.terminated, "its terminate")
        assert await live.hub.transports() == []


async def test_the_pages_crash_leaves_the_sticky_child_running() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        await find_live_child(view, "player").render_click("inc", {"by": 3})
        await view.send_event("boom", {})
        await view.wait_for(lambda: bool(view.client.shutdowns), "the page's shutdown")
        assert view.client.shutdowns[-1].reason == "error"
        renders = view.client.renders
        sid = view.client.session_id
        assert sid is not None
        await view.send(LiveClient.mount_instruction("a", sid, view.token, {}))
        await view.send(Render())
        await view.wait_for(lambda: view.client.renders > renders, "the rejoin's render")
        player = await _player_at(view, 3)
        await player.render_click("inc")
        assert log.mounts == Tally({"a": 2, "player": 1}) and player.renders == 1


async def test_a_crashing_sticky_child_restarts_alone_and_a_crash_loop_ends_the_connection() -> (
    None
):
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        await view.render_click("bump")
        player = find_live_child(view, "player")
        await player.render_click("inc")
        renders = player.renders
        ref = await player.send_event("boom", {})
        await player.wait_for_render(renders)
        assert ref in view.client.answered  # refused, so the page is not left loading
        assert player.element("p.count").text() == "0" and log.mounts["player"] == 2
        assert view.element("#clicks").text() == "1" and log.mounts["a"] == 1
        for crash in range(3):
            renders = player.renders
            await player.send_event("boom", {})
            if crash < 2:
                await player.wait_for_render(renders)
        await view.wait_for(lambda: view.closed, "the connection's end")
        assert view.socket.close_code == 1011  # the transport crashed: the browser reconnects
        await view.settle(lambda: any(n == "a" for n, _ in log.terminated))
        assert [n for n, _ in log.terminated].count("a") == 1


async def test_events_for_the_sticky_child_during_a_navigation_are_answered() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        player = find_live_child(view, "player")
        # between the Shutdown of the page and the Mount of the next one
        from lightflow_actors.isa import Shutdown

        await view.send(Shutdown(reason="normal", detail="navigate"))
        ref = await view.push("inc", {"by": 2}, target="player")
        await view.wait_for(lambda: ref in view.client.answered, "its answer")
        assert '<p class="count">2</p>' in player.html()
        await view.navigate("b")
        await _player_at(view, 2)


async def test_an_event_in_flight_when_the_sticky_child_stops_is_refused() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        sid = view.client.session_id
        assert sid is not None
        from lightflow_actors.isa import Shutdown

        await view.send(Shutdown(reason="normal", detail="navigate"))
        await view.send(LiveClient.mount_instruction("plain", sid, view.token, {}))
        # sent after the Mount of a view without the player, before its render stops it
        ref = await view.push("inc", {}, target="player")
        await view.send(Render())
        await view.wait_for(lambda: ref in view.client.answered, "the refusal")
        await view.wait_for(lambda: ("player", "shutdown") in log.terminated, "its terminate")
        assert not view.closed
        await view.render_click("bump")


async def test_hostile_frames_for_a_sticky_child_are_refused() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        player = find_live_child(view, "player")
        cases: list[tuple[Any, str]] = [
            (Submit(event="inc", payload={}, target="player/nobody"), "no live child 'nobody'"),
            (Submit(event="inc", payload={}, target="player/7"), "$.instruction.target"),
            (Submit(event="inc", payload={"by": "lots"}, target="player"), "by"),
            (Submit(event="nope", payload={}, target="player"), "nope"),
            (Render(view={"child": "player", "x": 1}), "$.instruction.view"),
            (Render(view={"child": "player/ghost"}), "ghost"),
        ]
        for frame, expected in cases:
            errors = len(view.errors)
            await view.send(frame)
            await view.wait_for(lambda e=errors: len(view.errors) > e, f"refusal of {frame}")
            assert expected in str(view.errors[errors]), view.errors[errors]
        seq = view.client.connection.last_seq_out + 1
        errors = len(view.errors)
        await view.send_raw(
            b'{"kind":"instruction","v":1,"seq":%d,"instruction":{"op":"submit",'
            b'"event":"inc","target":"player\xff"}}' % seq
        )
        await view.wait_for(lambda: len(view.errors) > errors, "the invalid UTF-8 refusal")
        assert '<p class="count">0</p>' in await player.resync()
        await player.render_click("inc")
        assert player.element("p.count").text() == "1"
        assert log.mounts == Tally({"a": 1, "player": 1}) and not view.closed


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.one_of(st.text(alphabet="player/-_09x", max_size=30), st.text(max_size=40)).map(
        lambda t: "player" + t
    ),
    payload=st.recursive(
        st.none() | st.integers() | st.text(max_size=8),
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids),
        max_leaves=12,
    ),
)
async def test_any_target_under_a_sticky_child_is_answered_without_harm(
    target: str, payload: object
) -> None:
    log = Log()
    async with live_test(views(log)) as live:
        view = await live.mount("a")
        ref = await view.push("inc", payload, target=target)  # type: ignore[arg-type]
        await view.wait_for(lambda: ref in view.client.answered, "an answer")
        await view.navigate("b")
        await find_live_child(view, "player").render_click("inc")
        assert log.mounts["player"] == 1 and not view.closed


async def test_the_sticky_childs_events_count_in_the_pages_tenant_not_its_sessions() -> None:
    budgets = Budgets(live_sessions=1, session_events_per_s=0.001, session_events_burst=2)
    log = Log()
    async with live_test(views(log), tenants=TenantsConfig(default=budgets)) as live:
        view = await live.mount("a")  # the tenant's one live session: the player is none
        player = find_live_child(view, "player")
        await player.render_click("inc")
        await player.render_click("inc")
        ref = await player.send_event("inc", {})
        await view.wait_for(lambda: bool(view.over_budget), "the refusal")
        [refused] = view.over_budget
        assert refused.ref == int(ref) and not refused.fatal and refused.retry_after
        assert "events a second per session" in refused.message
        assert player.element("p.count").text() == "2" and not view.closed
        [usage] = live.tenants.usage()
        assert usage.refused == {"session_events": 1}


# -- live_render(sticky=True) itself ------------------------------------------------


def test_the_sticky_container_is_marked_and_its_mark_reserved() -> None:
    player = Player(Log())
    assert to_html(live_render(player, id="p", sticky=True, attrs={"class": "dock"})) == (
        '<div id="p" data-lf-child="p" data-lf-sticky class="dock"></div>'
    )
    with pytest.raises(ViewDefinitionError, match="data-lf-sticky"):
        live_render(player, id="p", attrs={"data-lf-sticky": "1"})


async def test_the_first_get_renders_the_sticky_child_in_its_container() -> None:
    log = Log()
    async with live_test(views(log)) as live:
        page = await live.hub.static_render("a", {})
        assert isinstance(page, StaticRender)
        assert (
            '<div id="player" data-lf-child="player" data-lf-sticky><p class="track">song</p>'
            in page.html
        )


class Nested(LiveView[PageState, Bump]):
    """A live child whose layout places a sticky child: refused, as it would outlive
    the page that holds it."""

    def __init__(self, log: Log) -> None:
        self.player = Player(log)

    def mount(self, params: dict[str, str], session: SessionInfo) -> PageState:
        return PageState("nested")

    def render(self, state: PageState) -> Any:
        return live_render(self.player, id="deep", sticky=True)


HOLDER = Template("<div>{inner}</div>")


class Holder(LiveView[PageState, Bump]):
    def __init__(self, log: Log) -> None:
        self.nested = Nested(log)

    def mount(self, params: dict[str, str], session: SessionInfo) -> PageState:
        return PageState("holder")

    def render(self, state: PageState) -> Any:
        return HOLDER(inner=live_render(self.nested, id="inner") if state.clicks else "")

    def handle_event(self, event: Bump, state: PageState) -> PageState:
        return PageState(state.name, state.clicks + 1)


async def test_a_live_child_placing_a_sticky_child_fails_naming_it() -> None:
    log = Log()
    async with live_test({"holder": Holder(log)}) as live:
        view = await live.mount("holder")
        await view.push("bump", {})
        # the child crashes on each start, then its parent gives up, naming the cause
        await view.wait_for(lambda: bool(view.client.shutdowns), "the page's shutdown")
        detail = view.client.shutdowns[-1].detail or ""
        assert "inner" in detail and "sticky" in detail, detail
        assert log.mounts["player"] == 0
