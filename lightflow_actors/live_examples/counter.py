"""Counter: the smallest live view. Buttons send events; the count lives in the URL.

Every change pushes ``?count=N`` into the URL (a live patch that replaces the
history entry), so a reconnect after a crash mounts the view again at the same
count: state worth keeping goes where the next mount can read it (ADR 0020).
Written as functions (ADR 0107): each handler's parameters after the count are its
event's fields, validated at the boundary.
"""

from __future__ import annotations

from lightflow_actors.live import Params, PushPatch, Template, Update, live_view

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


def _to(count: int) -> Update[int]:
    """`count`, pushed into the URL (replacing the history entry)."""
    return Update(count, (PushPatch({"count": str(count)}, replace=True),))


counter = live_view(
    lambda count: COUNTER(count=count),
    mount=count_of,
    handle_params=lambda params, count: count_of(params),
    title="Counter",
)


@counter.on("inc")
def inc(count: int, by: int = 1) -> Update[int]:
    return _to(count + by)


@counter.on("dec")
def dec(count: int, by: int = 1) -> Update[int]:
    return _to(count - by)


@counter.on("set")
def set_to(count: int, value: str = "", key: str = "") -> int | Update[int]:
    """Enter in the number field: `value` is what it holds (the client sends it)."""
    try:
        return _to(int(value))
    except ValueError:
        return count
