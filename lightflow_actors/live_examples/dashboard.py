"""Dashboard: a page of live children (`live_render`, ADR 0115).

The page places two tallies side by side, each a live view of its own with its own
session under the page's: a click in one reaches it alone, and re-rendering the page
(its heading, the panel toggle) leaves them as they are. Hiding a panel stops its tally;
showing it again mounts a new one. Each tally is told its label through the
``session`` values of `live_render`.
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import Params, Rendered, SessionInfo, Template, live_render, live_view


class Tally(msgspec.Struct, frozen=True):
    label: str
    count: int = 0


TALLY = Template(
    '<h2>{label}</h2><p>Count: <b class="count">{count}</b></p>'
    '<button class="inc" lf-click="inc">+1</button> '
    '<button class="reset" lf-click="reset">reset</button>'
)


def _mount_tally(params: Params, session: SessionInfo) -> Tally:
    return Tally(str(session.signed.get("label", "tally")))


panel = live_view(lambda t: TALLY(label=t.label, count=t.count), mount=_mount_tally, state=Tally)


@panel.on("inc")
def inc(tally: Tally) -> Tally:
    return Tally(tally.label, tally.count + 1)


@panel.on("reset")
def reset(tally: Tally) -> Tally:
    return Tally(tally.label)


class Board(msgspec.Struct, frozen=True):
    renders: int = 0  # how often the page changed (its children are not re-mounted)
    right: bool = True


PAGE = Template(
    '<section class="dashboard"><h1>Dashboard <small id="page-changes">{renders}</small></h1>'
    '<button id="touch" lf-click="touch">re-render the page</button> '
    '<button id="toggle" lf-click="toggle">{toggle}</button>'
    '<div class="panels">{left}{right}</div></section>'
)


def _render(board: Board) -> Rendered:
    left = live_render(panel, id="left", session={"label": "Left"}, attrs={"class": "panel"})
    right = (
        live_render(panel, id="right", session={"label": "Right"}, attrs={"class": "panel"})
        if board.right
        else ""
    )
    toggle = "hide the right panel" if board.right else "show the right panel"
    return PAGE(renders=board.renders, toggle=toggle, left=left, right=right)


dashboard = live_view(_render, mount=lambda params: Board(), title="Dashboard", state=Board)


@dashboard.on("touch")
def touch(board: Board) -> Board:
    return Board(board.renders + 1, board.right)


@dashboard.on("toggle")
def toggle(board: Board) -> Board:
    return Board(board.renders + 1, not board.right)
