"""Live diff benchmark (#7): patch bytes per update against re-sending the full HTML.

Views: (a) a counter, (b) a 1 000-row keyed table where one cell changes (target:
patch <= 5 % of the full HTML), plus a move and an insert+delete in that table.
Rates: diffs per second against `to_html` per second (the "resend everything"
baseline), both measured in this run on freshly rendered trees. (c) a message
prepended to a 1 000-entry list as a stream insert against the same list kept as a
keyed collection (bytes, time and entries the server keeps); (d) an event of one of
1 000 live components against the same rows changed through the view's state; (e) a
row prepended to 1 000 rows that are each a live component (the oldest row and its
component leave), the rows in a stream (ADR 0109) against the same rows kept as a
keyed list of components.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench._report import best_of, row
from lightflow_actors.live import (
    ClientState,
    DiffState,
    LiveComponent,
    Rendered,
    Stream,
    StreamInsert,
    Template,
    apply_patch,
    encode_patch,
    keyed,
    live_component,
    streamed,
    to_html,
)
from lightflow_actors.live._live_component import Components
from lightflow_actors.live._rendered import StreamOp
from lightflow_actors.live._streams import add_ops, pending_ops, sent

COUNTER = Template(
    '<div class="counter"><p>Count: <b>{count}</b></p>'
    '<button phx-click="dec">-</button><button phx-click="inc">+</button></div>'
)
ROW = Template(
    '<tr id="user-{id}"><td>{id}</td><td>{name}</td><td>{email}</td>'
    '<td class="num">{score}</td><td><span class="badge {status}">{status}</span></td></tr>'
)
TABLE = Template(
    '<section><h1>{title}</h1><table class="users"><thead><tr><th>id</th><th>name</th>'
    "<th>email</th><th>score</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>"
    "<p>{count} users</p></section>"
)
N_ROWS = 1_000

User = tuple[int, str, str, int, str]


def users() -> list[User]:
    return [
        (i, f"User {i}", f"user{i}@example.com", (i * 37) % 1000, ("active", "idle")[i % 2])
        for i in range(N_ROWS)
    ]


def table(data: list[User]) -> Rendered:
    rows = keyed(
        ROW,
        [(u[0], ROW(id=u[0], name=u[1], email=u[2], score=u[3], status=u[4])) for u in data],
    )
    return TABLE(title="Users", rows=rows, count=len(data))


def patch_bytes(before: Rendered, after: Rendered) -> tuple[int, int]:
    """(patch bytes, full HTML bytes) for the update `before` -> `after` on a fresh connection."""
    state = DiffState()
    state.diff(before)
    return len(encode_patch(state.diff(after))), len(to_html(after).encode())


def bytes_line(label: str, patch: int, full: int) -> None:
    print(
        f"{label:<44} {patch:>10,} B patch | full HTML: {full:,} B   ratio {patch / full:.4f}"
        f" ({100 * patch / full:.2f} %)",
        flush=True,
    )


def rate(fn: Callable[[], object], seconds: float = 0.4) -> Callable[[], float]:
    def measure() -> float:
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            fn()
            count += 1
        return count / elapsed

    return measure


def main() -> None:
    # -- bytes -------------------------------------------------------------------
    state = DiffState()
    state.diff(COUNTER(count=0))
    counter_bytes = [len(encode_patch(state.diff(COUNTER(count=n)))) for n in range(1, 1001)]
    counter_patch = sum(counter_bytes) / len(counter_bytes)
    counter_full = sum(len(to_html(COUNTER(count=n)).encode()) for n in range(1, 1001)) / 1000
    bytes_line("(a) counter +1, mean per update", round(counter_patch), round(counter_full))

    data = users()
    base = table(data)
    changed = list(data)
    changed[517] = (*changed[517][:3], 999_999, changed[517][4])
    cell_patch, full = patch_bytes(base, table(changed))
    bytes_line("(b) 1000-row table, one cell changes", cell_patch, full)
    verdict = "meets" if cell_patch <= 0.05 * full else "MISSES"
    print(f"    target <= 5 % of full HTML: {verdict}", flush=True)
    moved = [*data[:10], data[900], *data[10:900], *data[901:]]
    bytes_line("    one row moved (900 -> 10)", *patch_bytes(base, table(moved)))
    churn = [*data[1:500], (N_ROWS, "New", "new@example.com", 1, "active"), *data[500:]]
    bytes_line("    one row deleted + one inserted", *patch_bytes(base, table(churn)))
    first = DiffState()
    bytes_line("    first join (statics + all rows)", len(encode_patch(first.diff(base))), full)

    # -- rates: diff vs full re-render, on freshly rendered trees ------------------
    counters = [COUNTER(count=n) for n in range(2)]
    counter_state = DiffState()
    flip = iter(range(10**12))

    def counter_diff() -> None:
        counter_state.diff(counters[next(flip) % 2])

    row(
        "(a) counter diffs/s",
        best_of(3, rate(counter_diff)),
        "/s",
        best_of(3, rate(lambda: to_html(counters[1]))),
        "to_html/s",
    )
    trees = [table(data), table(changed)]
    table_state = DiffState()

    def table_diff() -> None:
        table_state.diff(trees[next(flip) % 2])

    row(
        "(b) 1000-row table diffs/s (one cell)",
        best_of(3, rate(table_diff)),
        "/s",
        best_of(3, rate(lambda: to_html(trees[1]))),
        "to_html/s",
    )
    view_state = DiffState()
    view_state.diff(table(data))
    row(
        "    render view + diff per update/s",
        best_of(3, rate(lambda: view_state.diff(table(changed if next(flip) % 2 else data)))),
        "/s",
        best_of(3, rate(lambda: to_html(table(changed)))),
        "render+to_html/s",
    )
    one_cell = DiffState()
    client = apply_patch(ClientState(), one_cell.diff(trees[0]))
    patch = one_cell.diff(trees[1])
    row(
        "    Python reference merge of that patch/s",
        best_of(3, rate(lambda: apply_patch(client, patch))),
        "/s",
    )

    streams_vs_keyed()
    components_vs_rows()
    component_stream_vs_keyed()


LINE = Template('<li id="m-{n}"><b>{who}</b> {text}</li>')
FEED = Template('<section><h2>{title}</h2><ul id="feed" lf-update="stream">{items}</ul></section>')
UPDATES = 2_000


def _line(n: int) -> Rendered:
    return LINE(n=n, who=f"user{n % 17}", text=f"message number {n} of the feed")


def streams_vs_keyed() -> None:
    """(c) prepend one message to a 1 000-entry list: a stream insert (limit 1 000) against
    the keyed collection the view re-renders (the oldest entry dropped to stay at 1 000)."""
    keyed_items = [(n, _line(n)) for n in range(N_ROWS, 0, -1)]
    keyed_state = DiffState()
    keyed_state.diff(FEED(title="Feed", items=keyed(LINE, keyed_items)))
    keyed_bytes = 0
    start = time.perf_counter()
    for n in range(N_ROWS + 1, N_ROWS + 1 + UPDATES):
        keyed_items.insert(0, (n, _line(n)))
        keyed_items.pop()
        keyed_bytes += len(
            encode_patch(keyed_state.diff(FEED(title="Feed", items=keyed(LINE, keyed_items))))
        )
    keyed_time = (time.perf_counter() - start) / UPDATES

    pending: dict[str, list[StreamOp]] = {}
    stream_state = DiffState()
    add_ops(pending, Stream(name="feed", entries=[(n, _line(n)) for n in range(N_ROWS, 0, -1)]))
    with pending_ops(pending):
        stream_state.diff(FEED(title="Feed", items=streamed("feed", LINE)))
    sent(pending)
    stream_bytes = 0
    start = time.perf_counter()
    for n in range(N_ROWS + 1, N_ROWS + 1 + UPDATES):
        add_ops(pending, StreamInsert(name="feed", key=n, entry=_line(n), at=0, limit=N_ROWS))
        with pending_ops(pending):
            tree = FEED(title="Feed", items=streamed("feed", LINE))
        stream_bytes += len(encode_patch(stream_state.diff(tree)))
        sent(pending)
    stream_time = (time.perf_counter() - start) / UPDATES

    print(
        f"(c) prepend to a 1000-entry list, per update   stream {stream_bytes / UPDATES:,.0f} B"
        f" in {stream_time * 1e6:,.0f} us | keyed list {keyed_bytes / UPDATES:,.0f} B in"
        f" {keyed_time * 1e6:,.0f} us   time ratio {stream_time / keyed_time:.3f}x",
        flush=True,
    )
    held = keyed_state.rendered.dynamics[1] if keyed_state.rendered else None
    keyed_held = len(held.entries) if held is not None and hasattr(held, "entries") else 0
    stream_slot = stream_state.rendered.dynamics[1] if stream_state.rendered else None
    stream_held = len(getattr(stream_slot, "ops", ()))
    print(
        f"    entries the server keeps after the run      stream {stream_held} | keyed list"
        f" {keyed_held}",
        flush=True,
    )


ITEM = Template(
    '<tr id="item-{id}"><td>{id}</td><td>{name}</td><td>{count}</td>'
    '<td><button lf-click="bump" lf-target="{myself}">+</button></td></tr>'
)
ROWS_PAGE = Template("<table><tbody>{rows}</tbody></table><p>{total}</p>")
ROW_SLOT = Template("{item}")


class _Item(LiveComponent[int, tuple[int, int], None]):
    def mount(self, props: int) -> tuple[int, int]:
        return (props, 0)

    def render(self, state: tuple[int, int], myself: int) -> Rendered:
        return ITEM(id=state[0], name=f"item {state[0]}", count=state[1], myself=myself)


def components_vs_rows() -> None:
    """(d) one row of 1 000 changes by an event: its live component alone re-renders,
    against the view re-rendering all rows from its state (memoised rows, keyed diff)."""
    component = _Item()
    components = Components()
    page = ROWS_PAGE(
        rows=keyed(
            ROW_SLOT, [(i, ROW_SLOT(item=live_component(component, i, i))) for i in range(N_ROWS)]
        ),
        total=N_ROWS,
    )
    comp_state = DiffState()
    comp_state.diff(page, components)
    comp_bytes = 0
    start = time.perf_counter()
    for n in range(UPDATES):
        mounted = components.by_cid[1 + (n * 7919) % N_ROWS]
        components.set_state(mounted, (mounted.state[0], mounted.state[1] + 1), "handle_event")
        comp_bytes += len(encode_patch(comp_state.diff(page, components)))
    comp_time = (time.perf_counter() - start) / UPDATES

    counts = [0] * N_ROWS
    rendered_rows = [ITEM(id=i, name=f"item {i}", count=0, myself=0) for i in range(N_ROWS)]
    row_state = DiffState()
    row_state.diff(ROWS_PAGE(rows=keyed(ITEM, list(enumerate(rendered_rows))), total=N_ROWS))
    row_bytes = 0
    start = time.perf_counter()
    for n in range(UPDATES):
        i = (n * 7919) % N_ROWS
        counts[i] += 1
        rendered_rows[i] = ITEM(id=i, name=f"item {i}", count=counts[i], myself=0)
        tree = ROWS_PAGE(rows=keyed(ITEM, list(enumerate(rendered_rows))), total=N_ROWS)
        row_bytes += len(encode_patch(row_state.diff(tree)))
    row_time = (time.perf_counter() - start) / UPDATES
    print(
        f"(d) one of 1000 rows changes, per event         component {comp_bytes / UPDATES:,.0f} B"
        f" in {comp_time * 1e6:,.0f} us | view re-render {row_bytes / UPDATES:,.0f} B in"
        f" {row_time * 1e6:,.0f} us   time ratio {comp_time / row_time:.3f}x",
        flush=True,
    )


def component_stream_vs_keyed() -> None:
    """(e) prepend a row to 1 000 component rows (limit 1 000: the oldest row and its
    component leave): a stream of component rows against a keyed list of them."""
    component = _Item()

    def row(i: int) -> Rendered:
        return ROW_SLOT(item=live_component(component, i, i))

    keyed_components = Components()
    keyed_rows = [(i, row(i)) for i in range(N_ROWS, 0, -1)]
    keyed_state = DiffState()
    keyed_state.diff(ROWS_PAGE(rows=keyed(ROW_SLOT, keyed_rows), total=0), keyed_components)
    keyed_bytes = 0
    start = time.perf_counter()
    for n in range(N_ROWS + 1, N_ROWS + 1 + UPDATES):
        keyed_rows.insert(0, (n, row(n)))
        keyed_rows.pop()
        tree = ROWS_PAGE(rows=keyed(ROW_SLOT, keyed_rows), total=n)
        keyed_bytes += len(encode_patch(keyed_state.diff(tree, keyed_components)))
    keyed_time = (time.perf_counter() - start) / UPDATES

    stream_components = Components()
    pending: dict[str, list[StreamOp]] = {}
    stream_state = DiffState()
    add_ops(pending, Stream(name="rows", entries=[(i, row(i)) for i in range(N_ROWS, 0, -1)]))
    with pending_ops(pending):
        tree = ROWS_PAGE(rows=streamed("rows", ROW_SLOT), total=0)
    stream_state.diff(tree, stream_components)
    sent(pending)
    stream_bytes = 0
    start = time.perf_counter()
    for n in range(N_ROWS + 1, N_ROWS + 1 + UPDATES):
        add_ops(pending, StreamInsert(name="rows", key=n, entry=row(n), at=0, limit=N_ROWS))
        with pending_ops(pending):
            tree = ROWS_PAGE(rows=streamed("rows", ROW_SLOT), total=n)
        stream_bytes += len(encode_patch(stream_state.diff(tree, stream_components)))
        sent(pending)
    stream_time = (time.perf_counter() - start) / UPDATES
    assert len(stream_components) == len(keyed_components) == N_ROWS
    print(
        f"(e) prepend to 1000 component rows, per update stream {stream_bytes / UPDATES:,.0f} B"
        f" in {stream_time * 1e6:,.0f} us | keyed list {keyed_bytes / UPDATES:,.0f} B in"
        f" {keyed_time * 1e6:,.0f} us   time ratio {stream_time / keyed_time:.3f}x",
        flush=True,
    )
    held = keyed_state.rendered.dynamics[0] if keyed_state.rendered else None
    keyed_held = len(held.entries) if held is not None and hasattr(held, "entries") else 0
    mirror = stream_components.streams.get("rows")
    keys = len(mirror.keys) if mirror else 0
    print(
        f"    the server keeps                            stream {keys}"
        f" keys, no entry | keyed list {keyed_held} entries; {N_ROWS} components either way",
        flush=True,
    )


if __name__ == "__main__":
    main()
