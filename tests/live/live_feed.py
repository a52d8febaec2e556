"""An infinite-scroll feed: a stream with ``lf-viewport-bottom`` (the next 30 items, the
browser keeping the last 60) and ``lf-viewport-top`` (the 30 before, keeping the first
60), as Phoenix's bidirectional infinite scroll. The state keeps only the range the
browser holds and the log of the events it got."""

from __future__ import annotations

import msgspec

from lightflow_actors.live import (
    LiveView,
    Params,
    Rendered,
    SessionInfo,
    Stream,
    Template,
    Update,
    streamed,
)

PER_PAGE = 30
KEEP = 60


class More(msgspec.Struct, frozen=True, tag="more"):
    feed: str
    id: str = ""


class Prev(msgspec.Struct, frozen=True, tag="prev"):
    feed: str
    id: str = ""


class Feed(msgspec.Struct, frozen=True):
    first: int = 1
    last: int = PER_PAGE
    log: tuple[str, ...] = ()


PAGE = Template(
    '<div><p id="range">{first}-{last}</p><p id="log">{log}</p>'
    '<ul id="items" lf-update="stream" lf-viewport-top="prev" lf-viewport-bottom="more"'
    ' lf-value-feed="news" style="margin:0;padding:0">{items}</ul></div>'
)
ITEM = Template('<li id="item-{n}" style="height:60px;list-style:none">item {n}</li>')


def items(first: int, last: int) -> list[tuple[str | int, Rendered]]:
    return [(n, ITEM(n=n)) for n in range(first, last + 1)]


class FeedView(LiveView[Feed, More | Prev]):
    def mount(self, params: Params, session: SessionInfo) -> Update[Feed]:
        return Update(Feed(), (Stream(name="items", entries=items(1, PER_PAGE)),))

    def handle_event(self, event: More | Prev, state: Feed) -> Feed | Update[Feed]:
        match event:
            case More(feed=feed, id=id):
                log = (*state.log, f"more {feed} {id}")
                last = state.last + PER_PAGE
                first = max(state.first, last - KEEP + 1)
                added = items(state.last + 1, last)
                return Update(
                    Feed(first, last, log), (Stream(name="items", entries=added, limit=-KEEP),)
                )
            case Prev(feed=feed, id=id):
                log = (*state.log, f"prev {feed} {id}")
                if state.first == 1:
                    return Feed(state.first, state.last, log)
                first = max(1, state.first - PER_PAGE)
                last = min(state.last, first + KEEP - 1)
                before = list(reversed(items(first, state.first - 1)))  # each at index 0
                return Update(
                    Feed(first, last, log),
                    (Stream(name="items", entries=before, at=0, limit=KEEP),),
                )

    def render(self, state: Feed) -> Rendered:
        return PAGE(
            first=state.first,
            last=state.last,
            log="; ".join(state.log),
            items=streamed("items", ITEM),
        )
