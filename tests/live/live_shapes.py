"""A view whose whole state arrives in one event, and Hypothesis strategies for that state.

Used by the session-level property (state sequences through the session actor and
the wire) and by the JS-vs-Python merge check: the same renders, two clients.
The render covers every diff case: text, nested nodes that appear and disappear,
a keyed collection (insert, delete, move, update), a positional list that grows and
shrinks, nesting inside entries, and hostile text.
"""

from __future__ import annotations

import msgspec
from hypothesis import strategies as st

from lightflow_actors.live import (
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Template,
    each,
    keyed,
)


class Item(msgspec.Struct, frozen=True):
    key: str
    text: str
    tags: list[str] = []
    done: bool = False


class Shape(msgspec.Struct, frozen=True):
    title: str = ""
    items: list[Item] = []
    notes: list[str] = []
    banner: str | None = None


class SetShape(msgspec.Struct, frozen=True, tag="set"):
    shape: Shape


PAGE = Template(
    '<main><h1 title="{title}">{title}</h1>{banner}<ul>{items}</ul><ol>{notes}</ol></main>'
)
BANNER = Template('<div class="banner">{text}</div>')
ITEM = Template('<li id="i-{key}" class="{state}">{text}<span>{tags}</span></li>')
TAG = Template("<b>{tag}</b>")
NOTE = Template("<p>{note}</p>")


def render_shape(shape: Shape) -> Rendered:
    items = [
        (
            item.key,
            ITEM(
                key=item.key,
                state="done" if item.done else "open",
                text=item.text,
                tags=each(TAG, [TAG(tag=t) for t in item.tags]),
            ),
        )
        for item in shape.items
    ]
    return PAGE(
        title=shape.title,
        banner=BANNER(text=shape.banner) if shape.banner is not None else None,
        items=keyed(ITEM, items),
        notes=each(NOTE, [NOTE(note=n) for n in shape.notes]),
    )


class ShapeView(LiveView[Shape, SetShape]):
    def mount(self, params: Params, session: SessionInfo) -> Shape:
        return Shape()

    def handle_event(self, event: SetShape, state: Shape) -> Shape:
        return event.shape

    def render(self, state: Shape) -> Rendered:
        return render_shape(state)


TEXT = st.one_of(
    st.sampled_from(["", "a & b", "<script>x</script>", "\"'", "日本 😀", "{x}", "__proto__"]),
    st.text(max_size=6),
)
KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "__proto__", "1", "constructor"])


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    keys = draw(st.lists(KEYS, unique=True, max_size=6))
    items = [
        Item(
            key=k,
            text=draw(TEXT),
            tags=draw(st.lists(TEXT, max_size=3)),
            done=draw(st.booleans()),
        )
        for k in keys
    ]
    return Shape(
        title=draw(TEXT),
        items=items,
        notes=draw(st.lists(TEXT, max_size=4)),
        banner=draw(st.none() | TEXT),
    )
