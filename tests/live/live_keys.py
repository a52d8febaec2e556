"""A view bound to key and focus events (element and window): each event it gets is
logged on the page, so the DSL test and the Chromium test read the same log."""

from __future__ import annotations

import msgspec

from lightflow_actors.live import LiveView, Params, Rendered, SessionInfo, Template


class Typed(msgspec.Struct, frozen=True, tag="typed"):
    key: str
    value: str
    src: str


class Pressed(msgspec.Struct, frozen=True, tag="pressed"):
    key: str
    value: str


class Released(msgspec.Struct, frozen=True, tag="released"):
    key: str
    panel: str


class Back(msgspec.Struct, frozen=True, tag="back"):
    panel: str


class Away(msgspec.Struct, frozen=True, tag="away"):
    panel: str


class Entered(msgspec.Struct, frozen=True, tag="entered"):
    value: str


class Left(msgspec.Struct, frozen=True, tag="left"):
    value: str
    src: str


KeyEvent = Typed | Pressed | Released | Back | Away | Entered | Left

PAGE = Template(
    '<div><input id="q" name="q" lf-keyup="typed" lf-value-src="q">'
    '<input id="enter" name="enter" lf-keydown="pressed" lf-key="Enter">'
    '<input id="f" name="f" lf-focus="entered" lf-blur="left" lf-value-src="f">'
    '<div id="panel" lf-window-keyup="released" lf-key="Escape" lf-value-panel="p"'
    ' lf-window-focus="back" lf-window-blur="away"></div>'
    '<p id="log">{log}</p></div>'
)


def describe(event: KeyEvent) -> str:
    match event:
        case Typed(key=key, value=value, src=src):
            return f"typed {key} {value} {src}"
        case Pressed(key=key, value=value):
            return f"pressed {key} {value}"
        case Released(key=key, panel=panel):
            return f"released {key} {panel}"
        case Back(panel=panel):
            return f"back {panel}"
        case Away(panel=panel):
            return f"away {panel}"
        case Entered(value=value):
            return f"entered {value}"
        case Left(value=value, src=src):
            return f"left {value} {src}"


class Keys(LiveView[tuple[str, ...], KeyEvent]):
    def mount(self, params: Params, session: SessionInfo) -> tuple[str, ...]:
        return ()

    def handle_event(self, event: KeyEvent, state: tuple[str, ...]) -> tuple[str, ...]:
        return (*state, describe(event))

    def render(self, state: tuple[str, ...]) -> Rendered:
        return PAGE(log="; ".join(state))
