"""`LiveView.preload` and `DiffState.preload`: templates whose statics go out with every
full render, used or not; the patch that first uses one carries its values alone; a
rejoin or resync sends them again; one the render uses is sent once, with its own id."""

from __future__ import annotations

import msgspec

from lightflow_actors.isa import Mount, PureInterpreter, Render, Submit
from lightflow_actors.live import (
    ClientState,
    DiffState,
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    ViewSpec,
    apply_patch,
    client_html,
    decode_patch,
    encode_patch,
    to_html,
)
from lightflow_actors.live._program import ViewProgram

PAGE = Template('<main><button id="open" lf-click="open">open</button>{panel}</main>')
PANEL = Template('<section id="panel"><h3>{title}</h3><p>{text}</p></section>')
ITEM = Template("<li>{text}</li>")


class Open(msgspec.Struct, frozen=True, tag="open"):
    pass


class Later(LiveView[bool, Open]):
    preload = (PANEL, ITEM, PAGE)  # PAGE: used by every render, sent once anyway

    def mount(self, params: Params, session: SessionInfo) -> bool:
        return False

    def handle_event(self, event: Open, state: bool) -> bool:
        return True

    def render(self, state: bool) -> Rendered:
        return PAGE(panel=PANEL(title="Panel", text="shown") if state else None)


def _program() -> tuple[ViewProgram, PureInterpreter]:
    program = ViewProgram(ViewSpec("later", Later()), SessionInfo("s", True))
    interp = PureInterpreter(program)
    interp.apply(Mount(id="s", target="later"))
    return program, interp


def _statics(diff: dict[str, object]) -> list[list[str]]:
    d = diff["d"]
    assert isinstance(d, dict)
    return list(d.get("t", {}).values())


def test_a_preloaded_template_goes_with_the_render_and_never_with_a_patch() -> None:
    _, interp = _program()
    (rendered,) = interp.apply(Render())
    sent = _statics(rendered.view)  # type: ignore[attr-defined]
    # The render's own template first (id 0), then the preloaded ones it did not use.
    assert sent == [list(PAGE.statics), list(PANEL.statics), list(ITEM.statics)]
    (patched,) = interp.apply(Submit(event="open", payload={}, ref="1"))
    diff = patched.diff  # type: ignore[attr-defined]
    assert "t" not in diff["d"]  # the panel's statics are held: values alone
    assert diff["d"]["r"]["0"] == {"s": 1, "0": "Panel", "1": "shown"}
    # A rejoin (a Render again) is a fresh client: the statics go out again.
    (again,) = interp.apply(Render())
    assert _statics(again.view) == sent  # type: ignore[attr-defined]


def test_the_client_holds_preloaded_statics_and_renders_as_a_full_render() -> None:
    state = DiffState()
    state.preload([(PANEL.fingerprint, PANEL.statics), (ITEM.fingerprint, ITEM.statics)])
    first = state.diff(PAGE(panel=None))
    assert set(first.templates) == {0, 1, 2}
    client = apply_patch(ClientState(), decode_patch(encode_patch(first)))
    shown = PAGE(panel=PANEL(title="a & b", text="<x>"))
    later = state.diff(shown)
    assert later.templates == {}
    client = apply_patch(client, decode_patch(encode_patch(later)))
    assert client_html(client) == to_html(shown)
    # Preloading what the client holds sends nothing; a reset forgets it all.
    state.preload([(PANEL.fingerprint, PANEL.statics)])
    assert state.diff(PAGE(panel=None)).templates == {}
    state.reset()
    state.preload([(ITEM.fingerprint, ITEM.statics)])
    assert set(state.diff(PAGE(panel=None)).templates) == {0, 1}
