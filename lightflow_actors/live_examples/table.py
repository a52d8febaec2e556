"""A live table of 1 000 rows, updated by a ticking actor.

`Ticker` owns the rows. Every `interval` seconds it changes a few prices (with the
system's seeded RNG) and publishes the new immutable snapshot on the topic; each
session keeps a reference to the latest snapshot and renders it. Unchanged rows
are the same objects from tick to tick, and `KEYED_ROWS` renders a row only the
first time it sees that object, so a render of 1 000 rows calls `render_row` for
the few that changed, the keyed diff skips the rest at once and a tick costs bytes
only for the rows that moved. `mount` is ``async``: it asks the ticker for the
current snapshot, so the first GET (no JavaScript) shows the full table too.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from lightflow_actors.kernel import Actor, ActorRef, Ask, handler
from lightflow_actors.live import (
    KeyedRows,
    LiveView,
    Params,
    Publish,
    Rendered,
    SessionInfo,
    SubscribeTo,
    Template,
    Update,
)

TOPIC = "table:prices"
ROWS = 1_000


class Row(msgspec.Struct, frozen=True):
    id: int
    symbol: str
    price: float
    change: float
    volume: int


class TableTick(msgspec.Struct, frozen=True):
    version: int
    rows: tuple[Row, ...]


class GetTable(Ask[TableTick], frozen=True):
    pass


class Tick(msgspec.Struct, frozen=True):
    pass


class Advance(Ask[TableTick], frozen=True):
    """Tick now (tests and benchmarks step the table by hand)."""


def initial_rows(count: int = ROWS) -> tuple[Row, ...]:
    return tuple(
        Row(id=i, symbol=f"SYM{i:04d}", price=100.0 + i % 97, change=0.0, volume=1000 + i)
        for i in range(count)
    )


class Ticker(Actor[Tick | GetTable | Advance]):
    """Changes `changes` rows every `interval` seconds and publishes the snapshot."""

    def __init__(
        self,
        pubsub: Callable[[], ActorRef[Publish] | None],
        *,
        rows: int = ROWS,
        interval: float = 0.5,
        changes: int = 5,
    ) -> None:
        self.pubsub = pubsub
        self.interval = interval
        self.changes = changes
        self.snapshot = TableTick(0, initial_rows(rows))

    def on_start(self) -> None:
        self.send_after(self.interval, self.ref, Tick())

    @handler
    def tick(self, msg: Tick) -> None:
        self.advance()
        self.send_after(self.interval, self.ref, Tick())

    @handler
    def get(self, msg: GetTable) -> TableTick:
        return self.snapshot

    @handler
    def step(self, msg: Advance) -> TableTick:
        return self.advance()

    def advance(self) -> TableTick:
        """One tick: a few rows change, the rest stay the very same objects."""
        rng = self.system.random
        rows = list(self.snapshot.rows)
        for _ in range(self.changes):
            i = rng.randrange(len(rows))
            old = rows[i]
            delta = round(rng.uniform(-1.0, 1.0), 2)
            rows[i] = Row(old.id, old.symbol, round(old.price + delta, 2), delta, old.volume + 1)
        self.snapshot = TableTick(self.snapshot.version + 1, tuple(rows))
        pubsub = self.pubsub()
        if pubsub is not None:
            pubsub.tell(Publish(TOPIC, self.snapshot))
        return self.snapshot


class Sort(msgspec.Struct, frozen=True, tag="sort"):
    column: str = "id"


class Pause(msgspec.Struct, frozen=True, tag="pause"):
    pass


class TableState(msgspec.Struct, frozen=True):
    tick: TableTick
    sort: str = "id"
    paused: bool = False


TABLE = Template(
    '<section class="table"><h1>Prices</h1>'
    '<p>Version <b id="version">{version}</b> · {count} rows · '
    '<button id="pause" lf-click="pause">{pause}</button> · sort by '
    '<button id="sort-id" lf-click="sort" lf-value-column="id">id</button> '
    '<button id="sort-price" lf-click="sort" lf-value-column="price">price</button> · '
    '<a lf-navigate href="counter">counter</a></p>'
    "<table><thead><tr><th>id</th><th>symbol</th><th>price</th><th>change</th>"
    "<th>volume</th></tr></thead><tbody>{rows}</tbody></table></section>"
)
ROW = Template(
    '<tr id="row-{id}"><td>{id}</td><td>{symbol}</td><td class="num">{price:.2f}</td>'
    '<td class="num {trend}">{change:+.2f}</td><td class="num">{volume}</td></tr>'
)


def render_row(row: Row) -> Rendered:
    """A row's `Rendered` (`KEYED_ROWS` remembers it per row object)."""
    trend = "up" if row.change > 0 else "down" if row.change < 0 else "flat"
    return ROW(
        id=row.id,
        symbol=row.symbol,
        price=row.price,
        trend=trend,
        change=row.change,
        volume=row.volume,
    )


KEYED_ROWS: KeyedRows[Row] = KeyedRows(ROW, render=render_row, key=lambda row: row.id)


# A re-sort moves most rows, and Chromium styles and lays out every moved table row
# again (the whole table's layout besides): about 75 ms of main thread for 1 000 rows,
# whatever the DOM calls. As grid boxes of fixed columns the rows take
# `content-visibility: auto`, which table rows do not, and the rows off screen are then
# neither styled nor laid out: about a quarter of that (ADR 0131). Chromium keeps the
# table's roles (table, row, cell) for assistive technology.
TABLE_CSS = (
    "section.table table,section.table thead,section.table tbody{display:block}"
    "section.table tr{display:grid;grid-template-columns:4em 7em 6em 5em 6em}"
    "section.table tbody>tr{content-visibility:auto;contain-intrinsic-size:auto 1.5em}"
    "section.table .num{text-align:right}"
)


class LiveTable(LiveView[TableState, Sort | Pause]):
    """`ticker` finds the ticker actor when a session mounts (it may have restarted)."""

    title = "Live table"
    head = f"<style>{TABLE_CSS}</style>"
    # 1 000 rows from the ticker, read again by mount: a rejoin mounts (no snapshot kept).
    rejoin = "remount"

    def __init__(self, ticker: Callable[[], ActorRef[GetTable]]) -> None:
        self.ticker = ticker

    async def mount(self, params: Params, session: SessionInfo) -> TableState | Update[TableState]:
        tick = await self.ticker().ask(GetTable())
        state = TableState(tick, sort=params.get("sort", "id"))
        if not session.connected:
            return state
        return Update(state, (SubscribeTo(topic=TOPIC),))

    def handle_event(self, event: Sort | Pause, state: TableState) -> TableState:
        if isinstance(event, Pause):
            return msgspec.structs.replace(state, paused=not state.paused)
        return msgspec.structs.replace(state, sort=event.column)

    def handle_info(self, message: object, state: TableState) -> TableState:
        if isinstance(message, TableTick) and not state.paused:
            return msgspec.structs.replace(state, tick=message)
        return state

    def render(self, state: TableState) -> Rendered:
        rows = state.tick.rows
        if state.sort == "price":
            rows = tuple(sorted(rows, key=lambda r: (-r.price, r.id)))
        return TABLE(
            version=state.tick.version,
            count=len(rows),
            pause="resume" if state.paused else "pause",
            rows=KEYED_ROWS(rows),
        )
