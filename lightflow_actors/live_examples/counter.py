"""Counter: the smallest live view. Buttons send events; the count lives in the URL.

Every change pushes ``?count=N`` into the URL (a live patch that replaces the
history entry), so a reconnect after a crash mounts the view again at the same
count: state worth keeping goes where the next mount can read it (ADR 0020).
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import (
    LiveView,
    Params,
    PushPatch,
    Rendered,
    SessionInfo,
    Template,
    Update,
)


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    by: int = 1


class Dec(msgspec.Struct, frozen=True, tag="dec"):
    by: int = 1


class SetTo(msgspec.Struct, frozen=True, tag="set"):
    """Enter in the number field: ``value`` is what it holds (the client sends it)."""

    value: str = ""
    key: str = ""


COUNTER = Template(
    '<section class="counter"><h1>Counter</h1>'
    '<p>Count: <b id="count">{count}</b></p>'
    '<button id="dec" lf-click="dec">-</button> '
    '<button id="inc" lf-click="inc" lf-value-by="1">+</button> '
    '<button id="inc10" lf-click="inc" lf-value-by="10">+10</button> '
    '<input id="set" lf-keydown="set" lf-key="Enter" inputmode="numeric" '
    'placeholder="a number, then Enter">'
    '<p><a id="reset" lf-patch href="?count=0">reset</a> · '
    '<a id="to-chat" lf-navigate href="chat">chat</a> · '
    '<a id="to-table" lf-navigate href="table">table</a></p></section>'
)


def count_of(params: Params) -> int:
    """The count in the URL, or 0 when it is missing or not a number."""
    try:
        return int(params.get("count", "0"))
    except ValueError:
        return 0


class Counter(LiveView[int, Inc | Dec | SetTo]):
    title = "Counter"

    def mount(self, params: Params, session: SessionInfo) -> int:
        return count_of(params)

    def handle_event(self, event: Inc | Dec | SetTo, state: int) -> int | Update[int]:
        if isinstance(event, SetTo):
            try:
                count = int(event.value)
            except ValueError:
                return state
        elif isinstance(event, Inc):
            count = state + event.by
        else:
            count = state - event.by
        return Update(count, (PushPatch({"count": str(count)}, replace=True),))

    def handle_params(self, params: Params, state: int) -> int:
        return count_of(params)

    def render(self, state: int) -> Rendered:
        return COUNTER(count=state)
