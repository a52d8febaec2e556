"""The test DSL's side of the Phoenix parity rows: a capture click through
``render_click``, a hook's ``pushEventTo`` through ``render_hook(target=element)``, a
form's ``lf-trigger-action`` through ``trigger_action()`` (LiveViewTest's
``follow_trigger_action``) and ``open_browser`` writing the page for a person to look at."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from lightflow_actors.live import (
    LiveComponent,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    live_component,
)
from lightflow_actors.testing.live import (
    LiveTestError,
    TriggerAction,
    live_test,
    open_browser,
)

pytestmark = pytest.mark.anyio

PAGE = Template(
    '<div id="cap" lf-capture-click="captured"><button id="inner">in</button></div>'
    '<b id="captured">{captured}</b><p id="said">{said}</p>{counter}'
    '<form id="login" action="/session/new" method="post" lf-trigger-action="{trigger}" '
    'lf-submit="arm"><input name="user" value="ann"><input name="code" value=""></form>'
)
COUNTER = Template('<section id="counter" lf-target="{myself}"><i id="n">{n}</i></section>')


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    by: int = 1


class Counter(LiveComponent[int, int, Bump]):
    def mount(self, props: int) -> int:
        return props

    def update(self, props: int, state: int) -> int:
        return state

    def handle_event(self, event: Bump, state: int) -> int:
        return state + event.by

    def render(self, state: int, myself: int) -> Rendered:
        return COUNTER(n=state, myself=myself)


class State(msgspec.Struct, frozen=True):
    captured: int = 0
    said: str = ""
    trigger: str = "false"


class Captured(msgspec.Struct, frozen=True, tag="captured"):
    pass


class Say(msgspec.Struct, frozen=True, tag="say"):
    text: str


class Arm(msgspec.Struct, frozen=True, tag="arm"):
    user: str = ""
    code: str = ""


COUNTER_COMPONENT = Counter()


class ParityView(LiveView[State, Captured | Say | Arm]):
    title = "Parity <DSL>"

    def mount(self, params: Params, session: SessionInfo) -> State:
        return State()

    def handle_event(self, event: Captured | Say | Arm, state: State) -> State:
        if isinstance(event, Captured):
            return msgspec.structs.replace(state, captured=state.captured + 1)
        if isinstance(event, Say):
            return msgspec.structs.replace(state, said=event.text)
        return msgspec.structs.replace(state, trigger="true" if event.code else "false")

    def render(self, state: State) -> Rendered:
        counter = live_component(COUNTER_COMPONENT, "c", 0)
        return PAGE(
            captured=state.captured, said=state.said, trigger=state.trigger, counter=counter
        )


async def test_capture_click_hook_push_to_and_trigger_action_through_the_dsl() -> None:
    async with live_test({"parity": ParityView()}) as live:
        view = await live.mount("parity")
        await view.element("#cap").render_click()
        assert view.element("#captured").text() == "1"
        # pushEventTo an element inside a component: that component gets it.
        await view.render_hook("bump", {"by": 4}, target=view.element("#n"))
        assert view.element("#n").text() == "4"
        # ... and an element outside any component: the view.
        await view.render_hook("say", {"text": "hi"}, target=view.element("#said"))
        assert view.element("#said").text() == "hi"
        login = view.form("#login", {"code": "1234"})
        with pytest.raises(LiveTestError, match="no lf-trigger-action set"):
            login.trigger_action()
        await login.render_submit()
        assert login.trigger_action() == TriggerAction(
            "POST", "/session/new", {"user": "ann", "code": "1234"}
        )


async def test_open_browser_writes_the_page_and_opens_it(tmp_path: Path) -> None:
    async with live_test({"parity": ParityView()}) as live:
        view = await live.mount("parity")
        opened: list[str] = []
        path = open_browser(view, opened.append, folder=tmp_path)
        assert opened == [path.as_uri()] and path.parent == tmp_path
        page = path.read_text(encoding="utf-8")
        assert "<title>Parity &lt;DSL&gt;</title>" in page
        assert '<b id="captured">0</b>' in page
        # An element alone.
        only = open_browser(view.element("#counter"), opened.append, folder=tmp_path / "el")
        assert '<section id="counter"' in only.read_text() and "captured" not in only.read_text()
