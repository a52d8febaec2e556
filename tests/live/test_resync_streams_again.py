"""A view whose rows are a stream gets them back when the browser holds nothing any more
(ADR 0112): a function view's ``handle_resync`` (as a class view's) on a full render the
browser asked for, and on a rehydrating rejoin (a cluster's snapshot continued on another
node without ``mount``), whose page starts with empty streams too."""

from __future__ import annotations

import msgspec
import pytest

from lightflow_actors import ActorSystem
from lightflow_actors.live import (
    FunctionView,
    InMemorySessionStore,
    LiveHub,
    SessionBook,
    Stream,
    Template,
    Update,
    live_view,
    snapshot_key,
    streamed,
)
from lightflow_actors.testing.live import live_test

from .test_session_snapshots import SECRET, browser, first_visit, written

pytestmark = pytest.mark.anyio

PAGE = Template(
    '<p id="n">{n}</p><ul id="rows">{rows}</ul><button id="add" lf-click="add">+</button>'
)
ROW = Template('<li id="row-{i}">row {i}</li>')


class Rows(msgspec.Struct, frozen=True):
    n: int = 0


def all_rows(state: Rows) -> Update[Rows]:
    entries = [(i, ROW(i=i)) for i in range(state.n)]
    return Update(state, (Stream("rows", entries, reset=True),))


def make_rows(*, resync: bool) -> FunctionView[Rows]:
    view = live_view(
        lambda s: PAGE(n=s.n, rows=streamed("rows", ROW)),
        mount=lambda params: Rows(),
        handle_resync=all_rows if resync else None,
        state=Rows,
    )

    @view.on("add")
    def add(state: Rows) -> Update[Rows]:
        return Update(Rows(state.n + 1), (Stream("rows", [(state.n, ROW(i=state.n))]),))

    return view


@pytest.mark.parametrize("resync", [True, False])
async def test_a_function_views_handle_resync_streams_its_rows_again(resync: bool) -> None:
    async with live_test({"rows": make_rows(resync=resync)}) as live:
        view = await live.mount("rows")
        for _ in range(3):
            await view.render_click("add")
        assert view.has_element("#row-2")
        html = await view.resync()
        assert ('<li id="row-0">row 0</li>' in html) is resync
        assert view.has_element("#row-2") is resync and view.element("#n").text() == "3"


@pytest.mark.parametrize("resync", [True, False])
async def test_a_rehydrating_rejoin_streams_the_rows_again(resync: bool) -> None:
    book = SessionBook()
    views = {"rows": make_rows(resync=resync)}
    async with ActorSystem("node-a") as system_a, ActorSystem("node-b") as system_b:
        a = LiveHub(system_a, views, secret=SECRET, session_store=InMemorySessionStore(book, "a"))
        b = LiveHub(system_b, views, secret=SECRET, session_store=InMemorySessionStore(book, "b"))
        await a.start()
        await b.start()
        on_a, session_id, token = await first_visit(a, "rows")
        for _ in range(2):
            await on_a.click("add", id="add")
        await written(book, snapshot_key(session_id, "rows"), lambda s: s.state.endswith(b"\x02"))
        await a.stop()
        on_b = await browser(b, "rows", session_id, token)
        assert on_b.element("#n").text() == "2"  # rehydrated, not mounted (mount gives 0)
        assert on_b.has_element("#row-1") is resync
        await on_b.click("add", id="add")
        assert on_b.has_element("#row-2")
        await b.stop()
