"""Live diff benchmark (#7): patch bytes per update against re-sending the full HTML.

Views: (a) a counter, (b) a 1 000-row keyed table where one cell changes (target:
patch <= 5 % of the full HTML), plus a move and an insert+delete in that table.
Rates: diffs per second against `to_html` per second (the "resend everything"
baseline), both measured in this run on freshly rendered trees.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench._report import best_of, row
from lightflow_actors.live import (
    ClientState,
    DiffState,
    Rendered,
    Template,
    apply_patch,
    encode_patch,
    keyed,
    to_html,
)

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


if __name__ == "__main__":
    main()
