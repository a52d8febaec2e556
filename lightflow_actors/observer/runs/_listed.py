"""The runs list as a live stream: the page of rows the browser holds, moved by operations.

The list is paged (`PAGE_SIZE` runs a page, thousands of runs in all) and filtered by
status and workflow. Its rows are a stream (``streamed("runs", ROW)``, specs/live-diff.md
§8), so the session keeps no rendered row and the diff compares none: when a listing is
published, or the filter or the page changes, `sync_list` compares the page the
browser holds (`RunsState.listed`: the feed's shared, immutable rows, 50 references;
None while the page shows a run)
with the page the state now asks for and queues only the operations between them:

- a run whose row changed: one insert of its key at its place (the browser replaces
  the entry it holds in place);
- runs that left the page (filtered out, pushed to the next page, deleted): a delete
  each; runs that came onto it (a new run on top): an insert each at its index;
- anything else (the order of the runs kept changed, the list came back after a run
  was shown, a first render): a reset and the whole page, one insert per row.

A page the browser holds that equals the new one queues nothing, so a listing that
changed runs on other pages (or other workflows than the filter's) sends no patch.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from lightflow_actors.live import Command, Stream, StreamDelete, StreamInsert

from ._model import RunRow
from ._render import LIST_STREAM, render_row
from ._state import PAGE_SIZE, RunsState


def matching(state: RunsState) -> list[RunRow]:
    """The runs the filters keep, newest first."""
    status, workflow = state.status, state.workflow
    if not status and not workflow:
        return list(state.listing.rows)
    return [
        row
        for row in state.listing.rows
        if (not status or row.status == status) and (not workflow or row.workflow == workflow)
    ]


def sync_list(state: RunsState) -> tuple[RunsState, list[Command]]:
    """``state`` with the page it shows as ``listed`` (and ``matched``), and the stream
    operations that turn the page the browser holds into it (none when it holds it)."""
    if state.run is not None:  # a run is shown: the list (and its stream) is not
        if state.listed is not None:
            state = msgspec.structs.replace(state, listed=None, matched=0)
        return state, []
    rows = matching(state)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    start = (min(state.page, pages) - 1) * PAGE_SIZE
    page = tuple(rows[start : start + PAGE_SIZE])
    commands = _operations(state.listed, page)
    if not commands and len(rows) == state.matched:
        return state, commands
    return msgspec.structs.replace(state, listed=page, matched=len(rows)), commands


def _operations(held: Sequence[RunRow] | None, page: Sequence[RunRow]) -> list[Command]:
    """The stream operations from ``held`` (None: the browser holds no stream) to ``page``."""
    name = LIST_STREAM
    if held is None:
        return [_whole(page)]
    if len(held) == len(page) and all(a is b for a, b in zip(held, page, strict=True)):
        return []
    old = {row.run_id: row for row in held}
    new = {row.run_id for row in page}
    kept_old = [row.run_id for row in held if row.run_id in new]
    kept_new = [row.run_id for row in page if row.run_id in old]
    if kept_old != kept_new:
        return [_whole(page)]  # the runs kept moved among themselves
    commands: list[Command] = [
        StreamDelete(name=name, key=row.run_id) for row in held if row.run_id not in new
    ]
    for index, row in enumerate(page):
        before = old.get(row.run_id)
        if before is None or before != row:
            # a new key is inserted at its index (ascending: each lands where it
            # belongs); a held one is replaced where it is
            commands.append(
                StreamInsert(name=name, key=row.run_id, entry=render_row(row), at=index)
            )
    if len(commands) > len(page):
        return [_whole(page)]  # as many operations as rows: the page itself says it shorter
    return commands


def _whole(page: Sequence[RunRow]) -> Stream:
    return Stream(
        name=LIST_STREAM,
        entries=[(row.run_id, render_row(row)) for row in page],
        reset=True,
    )
