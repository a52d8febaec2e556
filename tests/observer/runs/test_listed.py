"""The runs list is a stream: from whatever page the browser holds, the queued operations
leave exactly the page the state asks for, and a page of thousands of runs that only
changed elsewhere sends nothing. Driven without a browser on 3 000 listed runs: pages,
filters, a run that changes, a new run on top, a run shown and the list again."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import Guard
from lightflow_actors.kernel import Actor, handler
from lightflow_actors.live import (
    Command,
    Publish,
    Stream,
    StreamSlot,
    encode_patch,
    to_html,
)
from lightflow_actors.live._pubsub import PubSubServer
from lightflow_actors.live._rendered import stream_entries
from lightflow_actors.live._streams import add_ops
from lightflow_actors.observer.runs import (
    AssetIds,
    GetAssets,
    GetListing,
    GetRun,
    RunMissing,
    RunRow,
    RunsListing,
    RunsView,
)
from lightflow_actors.observer.runs._feed import LIST_TOPIC
from lightflow_actors.observer.runs._listed import sync_list
from lightflow_actors.observer.runs._render import LIST_STREAM, ROW, render_row
from lightflow_actors.observer.runs._state import PAGE_SIZE, RunsState
from lightflow_actors.testing.live import LiveTest, LiveViewHandle, live_test

from .test_view import ROW as ROW_HTML

STATUSES = ("running", "succeeded", "failed")


def row(n: int, status: str = "succeeded", workflow: str = "greet", done: int = 1) -> RunRow:
    return RunRow(
        run_id=f"r{n:05d}",
        workflow=workflow,
        status=status,  # type: ignore[arg-type]
        created_at_ms=1_700_000_000_000 + n * 1000,
        updated_at_ms=1_700_000_000_000 + n * 1000 + 500,
        done=done,
        total=1,
    )


def many(count: int) -> tuple[RunRow, ...]:
    """``count`` runs, newest first; every third fails, every fifth is a fanout."""
    return tuple(
        row(n, "failed" if n % 3 == 0 else "succeeded", "fanout" if n % 5 == 0 else "greet")
        for n in reversed(range(count))
    )


def applied(held: Sequence[RunRow] | None, commands: list[Command]) -> list[str]:
    """The HTML of the entries the browser holds after ``commands`` (from ``held``)."""
    pending: dict[str, list[object]] = {}
    if held is not None:
        add_ops(
            pending, Stream(name=LIST_STREAM, entries=[(r.run_id, render_row(r)) for r in held])
        )  # type: ignore[arg-type]
    for command in commands:
        add_ops(pending, command)  # type: ignore[arg-type]
    slot = StreamSlot(LIST_STREAM, ROW.fingerprint, ROW.statics, pending.get(LIST_STREAM, []))  # type: ignore[arg-type]
    return [to_html(entry) for entry in stream_entries(slot)]


POOL = [row(n) for n in range(12)] + [row(n, "running", done=0) for n in range(12)]
pages = st.lists(st.sampled_from(POOL), max_size=12).map(
    lambda rows: tuple({r.run_id: r for r in rows}.values())  # one row per run
)


@given(st.none() | pages, pages)
def test_the_operations_leave_the_browser_the_page_asked(
    held: tuple[RunRow, ...] | None, page: tuple[RunRow, ...]
) -> None:
    state = RunsState(
        session="s",
        connected=True,
        needs_token=False,
        listing=RunsListing(1, page),
        listed=held,
        matched=len(held or ()),
    )
    synced, commands = sync_list(state)
    assert applied(held, commands) == [to_html(render_row(r)) for r in page]
    assert synced.listed == page and synced.matched == len(page)
    assert len(commands) <= max(1, len(page))  # never more operations than rows
    again, more = sync_list(synced)
    assert more == [] and again is synced  # the same page twice: nothing


def test_runs_that_changed_elsewhere_send_nothing_and_one_run_sends_one_row() -> None:
    rows = many(3000)
    state = RunsState(session="s", connected=True, needs_token=False, listing=RunsListing(1, rows))
    state, first = sync_list(state)
    assert [c.reset for c in first if isinstance(c, Stream)] == [True]
    assert len(state.listed or ()) == PAGE_SIZE
    far = (*rows[:2000], row(999, "running", done=0), *rows[2001:])  # page 20 changed
    same, none = sync_list(msgspec.structs.replace(state, listing=RunsListing(2, far)))
    assert none == [] and same.listed == state.listed
    near = (*rows[:3], row(2996, "running", done=0), *rows[4:])
    _, one = sync_list(msgspec.structs.replace(state, listing=RunsListing(3, near)))
    assert len(one) == 1
    top = (row(3000, "running", done=0), *rows)  # a new run pushes the last one away
    _, shift = sync_list(msgspec.structs.replace(state, listing=RunsListing(4, top)))
    assert len(shift) == 2  # one delete, one insert


# -- driven without a browser, 3 000 runs ---------------------------------------------------


class StubFeed(Actor[GetListing | GetRun | GetAssets]):
    """Answers what a page asks of the feed; the test publishes listings itself."""

    def __init__(self, rows: tuple[RunRow, ...]) -> None:
        self.listing = RunsListing(1, rows)

    @handler
    def get_listing(self, msg: GetListing) -> RunsListing:
        return self.listing

    @handler
    def get_run(self, msg: GetRun) -> RunMissing:
        return RunMissing(msg.run_id, "not in this test")

    @handler
    def get_assets(self, msg: GetAssets) -> AssetIds:
        return AssetIds()


def listed(view: LiveViewHandle) -> list[tuple[str, str]]:
    return ROW_HTML.findall(view.html())


@pytest.mark.anyio
async def test_thousands_of_runs_are_paged_filtered_and_patched_one_row_at_a_time() -> None:
    rows = many(3000)
    async with ActorSystem("runs-list") as system:
        feed = await system.start_actor(lambda: StubFeed(rows), name="stub-feed")
        async with live_test({"runs": RunsView(lambda: feed, Guard(None))}, system=system) as live:
            await _browse(live, rows)


async def _browse(live: LiveTest, rows: tuple[RunRow, ...]) -> None:
    view = await live.mount("runs")
    assert len(listed(view)) == PAGE_SIZE and listed(view)[0] == ("r02999", "succeeded")
    assert "page 1 of 60" in view.html() and "3000 runs" in view.html()

    await view.live_patch({"page": "2"})
    await view.wait_for(lambda: listed(view)[0][0] == "r02949", "page 2")
    assert len(listed(view)) == PAGE_SIZE

    pubsub = live.system.lookup(f"{live.hub.name}.pubsub", PubSubServer)
    sent = len(view.patches)
    changed = (*rows[:60], row(2939, "running", done=0), *rows[61:])
    pubsub.tell(Publish(LIST_TOPIC, RunsListing(2, changed)))
    await view.wait_for(lambda: ("r02939", "running") in listed(view), "r02939 running")
    assert len(encode_patch(view.patches[sent])) < 400  # one row

    sent = len(view.patches)
    elsewhere = (*changed[:2500], row(499, "running", done=0), *changed[2501:])
    pubsub.tell(Publish(LIST_TOPIC, RunsListing(3, elsewhere)))
    newer = (row(3000, "running", done=0), *elsewhere)  # every page moves by one
    pubsub.tell(Publish(LIST_TOPIC, RunsListing(4, newer)))
    await view.wait_for(lambda: listed(view)[0][0] == "r02950", "page 2 moved by one")
    assert [r for r, _ in listed(view)] == [r.run_id for r in newer[50:100]]
    assert len(view.patches) == sent + 1  # the change on page 51 sent nothing

    await view.change("filter", {"status": "failed", "workflow": "fanout"})
    await view.wait_for(lambda: "of 3001 runs" in view.html(), "filtered")
    fanouts = [r.run_id for r in newer if r.status == "failed" and r.workflow == "fanout"]
    assert [r for r, _ in listed(view)] == fanouts[:PAGE_SIZE]
    assert f"{len(fanouts)} of 3001 runs" in view.html()

    await view.live_patch({"run": "r02999"})
    await view.wait_for(lambda: 'id="loading"' in view.html(), "a run asked")
    await view.live_patch({"status": "failed", "workflow": "fanout"})
    await view.wait_for(lambda: len(listed(view)) == PAGE_SIZE, "the list again")
    assert [r for r, _ in listed(view)] == fanouts[:PAGE_SIZE]
