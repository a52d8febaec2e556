"""`temporary_assigns`: fields reset to their value after every render the browser gets
(Phoenix's), for a class view and a function view; the state a handler sees after a
render holds the reset value; a field the state does not have is refused by name."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors.isa import Mount, PureInterpreter, Render, Submit
from lightflow_actors.live import (
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    ViewDefinitionError,
    ViewSpec,
    live_view,
)
from lightflow_actors.live._program import ViewProgram
from lightflow_actors.testing.live import live_test

pytestmark = pytest.mark.anyio

PAGE = Template(
    '<p id="notice">{notice}</p><p id="saved">{saved}</p>'
    '<button id="save" lf-click="save">save</button>'
    '<button id="other" lf-click="other">other</button>'
    '<button id="noop" lf-click="noop">noop</button>'
)


class Notes(msgspec.Struct, frozen=True):
    saved: int = 0
    notice: str = ""
    batch: tuple[str, ...] = ()


class Save(msgspec.Struct, frozen=True, tag="save"):
    pass


class Other(msgspec.Struct, frozen=True, tag="other"):
    pass


class Noop(msgspec.Struct, frozen=True, tag="noop"):
    pass


class NotesView(LiveView[Notes, Save | Other | Noop]):
    temporary_assigns = {"notice": "", "batch": ()}

    def mount(self, params: Params, session: SessionInfo) -> Notes:
        return Notes(notice="welcome", batch=("a", "b"))

    def handle_event(self, event: Save | Other | Noop, state: Notes) -> Notes:
        # The handler sees the reset values: what it does not set again stays reset.
        assert state.notice == "" and state.batch == ()
        if isinstance(event, Save):
            return Notes(saved=state.saved + 1, notice="Saved.", batch=("c",))
        return Notes(saved=state.saved) if isinstance(event, Other) else state

    def render(self, state: Notes) -> Rendered:
        return PAGE(notice=state.notice, saved=f"{state.saved} {','.join(state.batch)}")


def notes_function_view() -> object:
    view = live_view(
        lambda s: PAGE(notice=s.notice, saved=f"{s.saved} {','.join(s.batch)}"),
        mount=lambda params: Notes(notice="welcome", batch=("a", "b")),
        temporary_assigns={"notice": "", "batch": ()},
    )

    @view.on("save")
    def save(state: Notes) -> Notes:
        assert state.notice == "" and state.batch == ()
        return Notes(saved=state.saved + 1, notice="Saved.", batch=("c",))

    @view.on("other")
    def other(state: Notes) -> Notes:
        return Notes(saved=state.saved)

    @view.on("noop")
    def noop(state: Notes) -> Notes:
        return state

    return view


@pytest.mark.parametrize("make", [NotesView, notes_function_view], ids=["class", "function"])
async def test_a_temporary_field_shows_once_then_its_reset_value(make: object) -> None:
    async with live_test({"notes": make()}) as live:  # type: ignore[operator]
        view = await live.mount("notes")
        # The join's render shows what mount gave, then the fields are reset.
        assert view.element("#notice").text() == "welcome"
        assert view.element("#saved").text() == "0 a,b"
        await view.element("#save").render_click()
        assert view.element("#notice").text() == "Saved."
        assert view.element("#saved").text() == "1 c"
        # An event that returns the state it got renders nothing: the page stays.
        await view.element("#noop").render_click()
        assert view.element("#notice").text() == "Saved."
        # The next render shows the reset values.
        await view.element("#other").render_click()
        assert view.element("#notice").text() == ""
        assert view.element("#saved").text() == "1"


def test_the_session_state_holds_the_reset_value_after_each_render() -> None:
    program = ViewProgram(ViewSpec("notes", NotesView()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="notes"))
    assert program.state == Notes(notice="welcome", batch=("a", "b"))  # not rendered yet
    interp.apply(Render())
    assert program.state == Notes()
    interp.apply(Submit(event="save", payload={}, ref="1"))
    assert program.state == Notes(saved=1)


def test_a_temporary_field_the_state_does_not_have_is_refused_by_name() -> None:
    class Wrong(NotesView):
        temporary_assigns = {"notices": ""}

    program = ViewProgram(ViewSpec("wrong", Wrong()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="wrong"))
    with pytest.raises(ViewDefinitionError, match="no field 'notices'"):
        interp.apply(Render())
