"""Tally: a counter whose count lives only in its session, not in the URL.

On one node a reconnect mounts it again at 0 (ADR 0020). In a cluster the hub keeps
session snapshots (specs/cluster.md §Sessions): each click is written to the cluster's
key-value bucket, and a browser whose node died reconnects to another node and continues
from the last count (the view's `rejoin` is ``"rehydrate"``, the default).
"""

from __future__ import annotations

import msgspec

from lightflow_actors.live import Template, live_view


class TallyState(msgspec.Struct, frozen=True):
    count: int = 0
    clicks: int = 0


TALLY = Template(
    '<section class="tally"><h1>Tally</h1>'
    '<p>Count: <b id="count">{count}</b> <small>({clicks} clicks)</small></p>'
    '<button id="add" lf-click="add" lf-value-by="1">+1</button> '
    '<button id="sub" lf-click="add" lf-value-by="-1">-1</button></section>'
)

tally = live_view(
    lambda s: TALLY(count=s.count, clicks=s.clicks),
    mount=lambda params: TallyState(),
    state=TallyState,  # what a cluster's session snapshots decode into
    title="Tally",
)


@tally.on("add")
def add(state: TallyState, by: int = 1) -> TallyState:
    return TallyState(count=state.count + by, clicks=state.clicks + 1)
