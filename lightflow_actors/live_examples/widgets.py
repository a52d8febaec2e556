"""Widgets: JS commands, a client hook, server-pushed events and the extra bindings.

What a LiveView developer reaches for besides click and submit, in one page:

* a menu opened by ``JS.toggle`` (no round trip) that also tells the server
  (``.push("opened")``), closed by a click elsewhere (``lf-click-away``) or by Escape
  anywhere on the page (``lf-window-keydown`` with ``lf-key``); the menu's own content
  changes with each opening, and it stays open through those patches (sticky state);
* a throttled button (``lf-throttle``), a form whose button says "Saving…" while the
  submit is in flight (``lf-disable-with``), a field reporting focus and blur;
* a client hook (``lf-hook="Pinger"``, registered in ``window.lightflowLiveOptions``
  by the view's ``head``): it owns its element's content (``lf-update="ignore"``),
  answers the server's ``PushEvent("highlight")`` with ``this.pushEvent("ping")``,
  whose Promise resolves with the handler's ``EventReply``.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import (
    JS,
    EventReply,
    LiveView,
    Params,
    PushEvent,
    Rendered,
    SessionInfo,
    Template,
    Update,
)


class Opened(msgspec.Struct, frozen=True, tag="opened"):
    pass


class Escaped(msgspec.Struct, frozen=True, tag="escaped"):
    key: str = ""


class Bump(msgspec.Struct, frozen=True, tag="bump"):
    pass


class Save(msgspec.Struct, frozen=True, tag="save"):
    title: str = ""


class Focused(msgspec.Struct, frozen=True, tag="focused"):
    value: str = ""


class Blurred(msgspec.Struct, frozen=True, tag="blurred"):
    value: str = ""


class Nudge(msgspec.Struct, frozen=True, tag="nudge"):
    pass


class Ping(msgspec.Struct, frozen=True, tag="ping"):
    """Sent by the Pinger hook when the server's ``highlight`` event reached it."""

    n: int = 0


WidgetEvent = Opened | Escaped | Bump | Save | Focused | Blurred | Nudge | Ping


class Widgets(msgspec.Struct, frozen=True):
    opens: int = 0
    escapes: int = 0
    bumps: int = 0
    saved: str = ""
    focus: str = "untouched"
    nudges: int = 0
    pings: int = 0


OPEN_MENU = JS.toggle("#menu", in_=("fade", "fade-from", "fade-to")).push("opened")
CLOSE_MENU = JS.hide("#menu")
ESCAPE = JS.hide("#menu").push("escaped")

WIDGETS = Template(
    '<section class="widgets"><h1>Widgets</h1>'
    '<nav><button id="menu-button" lf-click="{open_menu}">Menu</button>'
    '<ul id="menu" style="display:none" lf-click-away="{close_menu}">'
    '<li>opened {opens} times</li><li><a lf-navigate href="counter">counter</a></li></ul></nav>'
    '<p id="escape-catcher" lf-window-keydown="{escape}" lf-key="Escape">'
    'Escape pressed <b id="escapes">{escapes}</b> times · menu opened <b id="opens">{opens}</b></p>'
    '<p><button id="bump" lf-click="bump" lf-throttle="1000">bump (once a second)</button> '
    '<b id="bumps">{bumps}</b></p>'
    '<form id="save-form" lf-submit="save"><input id="title" name="title" value="{saved}" '
    'lf-focus="focused" lf-blur="blurred" autocomplete="off"> '
    '<button id="save" lf-disable-with="Saving…">Save</button></form>'
    '<p>Saved <b id="saved">{saved}</b> · the field is <b id="focus">{focus}</b></p>'
    '<div id="pinger" lf-hook="Pinger" lf-update="ignore" data-nudges="{nudges}">not mounted</div>'
    '<p><button id="nudge" lf-click="nudge">nudge the hook</button> '
    'pings from the hook: <b id="pings">{pings}</b></p></section>'
)

HOOKS = """<script>
window.lightflowLiveOptions = {hooks: {Pinger: {
  mounted() {
    this.count = 0;
    this.el.textContent = "mounted";
    this.handleEvent("highlight", (payload) => {
      this.el.style.background = payload.color;
      this.pushEvent("ping", {n: ++this.count}).then((reply) => {
        (window.pingReplies = window.pingReplies || [])
          .push([reply.pings, document.getElementById("pings").textContent]);
      });
    });
  },
  updated() { this.el.dataset.updates = String(Number(this.el.dataset.updates || 0) + 1); },
  disconnected() { this.el.textContent = "disconnected"; },
  reconnected() { this.el.textContent = "reconnected"; },
  destroyed() { window.lightflowPingerDestroyed = true; }
}}};
</script><style>.fade{transition:opacity .2s}.fade-from{opacity:0}.fade-to{opacity:1}</style>"""


class WidgetsView(LiveView[Widgets, WidgetEvent]):
    title = "Widgets"
    head = HOOKS

    def mount(self, params: Params, session: SessionInfo) -> Widgets:
        return Widgets()

    def handle_event(self, event: WidgetEvent, state: Widgets) -> Widgets | Update[Widgets]:
        replace = msgspec.structs.replace
        match event:
            case Opened():
                return replace(state, opens=state.opens + 1)
            case Escaped():
                return replace(state, escapes=state.escapes + 1)
            case Bump():
                return replace(state, bumps=state.bumps + 1)
            case Save(title=title):
                return replace(state, saved=title)
            case Focused():
                return replace(state, focus="focused")
            case Blurred():
                return replace(state, focus="blurred")
            case Nudge():
                color = "#ffd" if state.nudges % 2 == 0 else "#dff"
                return Update(
                    replace(state, nudges=state.nudges + 1),
                    (PushEvent("highlight", {"color": color}),),
                )
            case Ping(n=n):  # the hook's pushEvent resolves with this reply
                return Update(replace(state, pings=n), (EventReply({"pings": n}),))

    def render(self, state: Widgets) -> Rendered:
        return WIDGETS(
            open_menu=OPEN_MENU,
            close_menu=CLOSE_MENU,
            escape=ESCAPE,
            opens=state.opens,
            escapes=state.escapes,
            bumps=state.bumps,
            saved=state.saved,
            focus=state.focus,
            nudges=state.nudges,
            pings=state.pings,
        )
