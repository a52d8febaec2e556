"""`PresenceSet`: the presence table of a cluster as a delta-CRDT (an ORSWOT), after
Phoenix.Tracker's `State` (phoenix_pubsub `lib/phoenix/tracker/state.ex`).

Each node is a **replica** with its own counter. Every local change takes the next
**dot** `(replica, counter)`: a track adds an entry under its dot; an untrack removes the
entry and takes a fresh dot too, so a peer that missed the removal sees the counter move
and asks for the state. Beside the entries the set keeps its **causal context**: every
dot it has seen (a contiguous `base` per replica and a `cloud` of dots past a gap).

`join(other)` is the lattice join (commutative, associative, idempotent):

- an entry of `other` is added unless this set has already seen its dot (then it was
  added here and removed since, or is here already);
- an entry here is removed when `other` has seen its dot but no longer holds it;
- the contexts are unioned, and compacted (a cloud dot that closes a gap joins `base`).

A **delta** is a `PresenceSet` holding only what changed since the last `reset_delta`:
the entries added and the dots of every change; joining it has the same effect as
joining the whole state for a replica that had joined everything before it. The set
knows nothing of up/down replicas or of the network: that is the tracker's
(`PresenceServer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Annotated, TypeAlias

import msgspec

from ._commands import MetaValue

Dot: TypeAlias = tuple[str, int]
"""`(replica, counter)`: the identity of one change, unique in the cluster."""

Entries: TypeAlias = list[tuple[Dot, "Tracked"]]


class Tracked(msgspec.Struct, frozen=True):
    """What an entry says: who (`key`) is on `topic`, with `meta`."""

    topic: str
    key: str
    meta: Mapping[str, MetaValue]


class CausalContext:
    """The dots a set has seen: `base[r]` covers `(r, 1..base[r])`, `cloud[r]` the others."""

    __slots__ = ("base", "cloud")

    def __init__(
        self, base: dict[str, int] | None = None, cloud: dict[str, set[int]] | None = None
    ) -> None:
        self.base: dict[str, int] = base if base is not None else {}
        self.cloud: dict[str, set[int]] = cloud if cloud is not None else {}

    def __contains__(self, dot: Dot) -> bool:
        replica, counter = dot
        if counter <= self.base.get(replica, 0):
            return True
        extra = self.cloud.get(replica)
        return extra is not None and counter in extra

    def add(self, dot: Dot) -> None:
        replica, counter = dot
        base = self.base.get(replica, 0)
        if counter <= base:
            return
        if counter == base + 1:
            self.base[replica] = counter
            self._close(replica)
        else:
            self.cloud.setdefault(replica, set()).add(counter)

    def union(self, other: CausalContext) -> None:
        for replica, counter in other.base.items():
            if counter > self.base.get(replica, 0):
                self.base[replica] = counter
            self._close(replica)
        for replica, extra in other.cloud.items():
            for counter in extra:
                self.add((replica, counter))

    def forget(self, replica: str) -> None:
        """Drop every dot of `replica` (it is permanently gone)."""
        self.base.pop(replica, None)
        self.cloud.pop(replica, None)

    def dots(self) -> Iterator[Dot]:
        for replica, counter in self.base.items():
            for n in range(1, counter + 1):
                yield (replica, n)
        for replica, extra in self.cloud.items():
            for n in extra:
                yield (replica, n)

    def copy(self) -> CausalContext:
        return CausalContext(dict(self.base), {r: set(c) for r, c in self.cloud.items()})

    def normal(self) -> tuple[dict[str, int], dict[str, frozenset[int]]]:
        """A canonical form (for equality): zero bases and empty clouds left out."""
        base = {r: n for r, n in self.base.items() if n > 0}
        return base, {r: frozenset(c) for r, c in self.cloud.items() if c}

    def _close(self, replica: str) -> None:
        extra = self.cloud.get(replica)
        if not extra:
            self.cloud.pop(replica, None)
            return
        base = self.base.get(replica, 0)
        for counter in [c for c in extra if c <= base]:
            extra.discard(counter)
        while base + 1 in extra:
            base += 1
            extra.discard(base)
        if base:
            self.base[replica] = base
        if not extra:
            del self.cloud[replica]


class PresenceSet:
    """Entries by dot, a causal context, and (for the local replica) the pending delta.

    >>> a, b = PresenceSet("a"), PresenceSet("b")
    >>> dot = a.add(Tracked("room", "ada", {}))
    >>> joined, left = b.join(a.delta)
    >>> [t.key for _, t in joined], left
    (['ada'], [])
    >>> _ = a.remove(dot)
    >>> b.join(a.delta)[1] == [(dot, Tracked("room", "ada", {}))]
    True
    """

    __slots__ = ("by_topic", "context", "delta", "entries", "replica")

    def __init__(self, replica: str, *, track_delta: bool = True) -> None:
        self.replica = replica
        self.entries: dict[Dot, Tracked] = {}
        self.context = CausalContext()
        # topic -> dots, oldest first (what a view lists)
        self.by_topic: dict[str, dict[Dot, None]] = {}
        self.delta: PresenceSet | None = (
            PresenceSet(replica, track_delta=False) if track_delta else None
        )

    # -- local changes (this replica only) ----------------------------------------------

    @property
    def counter(self) -> int:
        return self.context.base.get(self.replica, 0)

    def add(self, tracked: Tracked) -> Dot:
        dot = self._next_dot()
        self._put(dot, tracked)
        if self.delta is not None:
            self.delta._put(dot, tracked)
        return dot

    def remove(self, dot: Dot) -> Tracked | None:
        """Remove this replica's entry `dot`; the removal takes a fresh dot of its own."""
        tracked = self._drop(dot)
        if tracked is None:
            return None
        fresh = self._next_dot()
        if self.delta is not None:
            self.delta._drop(dot)
            self.delta.context.add(dot)
            self.delta.context.add(fresh)
        return tracked

    def reset_delta(self) -> PresenceSet | None:
        """The delta accumulated so far (None when nothing changed), and start a new one."""
        delta = self.delta
        if delta is None or not (delta.entries or delta.context.base or delta.context.cloud):
            return None
        self.delta = PresenceSet(self.replica, track_delta=False)
        return delta

    # -- the lattice ------------------------------------------------------------------

    def join(self, other: PresenceSet) -> tuple[Entries, Entries]:
        """Join `other` (a state or a delta) into this set; returns (joined, left) entries."""
        joined: list[tuple[Dot, Tracked]] = []
        left: list[tuple[Dot, Tracked]] = []
        context = self.context
        for dot, tracked in other.entries.items():
            if dot not in self.entries and dot not in context:
                self._put(dot, tracked)
                joined.append((dot, tracked))
        removed = [d for d in self.entries if d not in other.entries and d in other.context]
        for dot in removed:
            gone = self._drop(dot)
            if gone is not None:
                left.append((dot, gone))
        context.union(other.context)
        return joined, left

    def copy(self) -> PresenceSet:
        out = PresenceSet(self.replica, track_delta=False)
        out.entries = dict(self.entries)
        out.context = self.context.copy()
        out.by_topic = {t: dict(d) for t, d in self.by_topic.items()}
        return out

    def restricted(self, replicas: Iterable[str]) -> PresenceSet:
        """This set without the entries and dots of any replica not in `replicas`."""
        keep = set(replicas)
        out = PresenceSet(self.replica, track_delta=False)
        for dot, tracked in self.entries.items():
            if dot[0] in keep:
                out._put(dot, tracked)
        out.context.base = {r: n for r, n in self.context.base.items() if r in keep}
        out.context.cloud = {r: set(c) for r, c in self.context.cloud.items() if r in keep}
        return out

    def forget_replica(self, replica: str) -> list[tuple[Dot, Tracked]]:
        """Drop every entry and dot of `replica` (permanently gone); returns its entries."""
        gone = [(d, t) for d, t in self.entries.items() if d[0] == replica]
        for dot, _ in gone:
            self._drop(dot)
        self.context.forget(replica)
        return gone

    def of_replica(self, replica: str) -> list[tuple[Dot, Tracked]]:
        return [(d, t) for d, t in self.entries.items() if d[0] == replica]

    def on_topic(self, topic: str) -> list[tuple[Dot, Tracked]]:
        entries = self.entries
        return [(d, entries[d]) for d in self.by_topic.get(topic, ())]

    def normal(self) -> tuple[dict[Dot, Tracked], tuple[dict[str, int], dict[str, frozenset[int]]]]:
        """A canonical form (for equality in tests)."""
        return dict(self.entries), self.context.normal()

    def __len__(self) -> int:
        return len(self.entries)

    # -- internals ----------------------------------------------------------------------

    def _next_dot(self) -> Dot:
        dot = (self.replica, self.counter + 1)
        self.context.add(dot)
        return dot

    def _put(self, dot: Dot, tracked: Tracked) -> None:
        self.entries[dot] = tracked
        self.context.add(dot)
        self.by_topic.setdefault(tracked.topic, {})[dot] = None

    def _drop(self, dot: Dot) -> Tracked | None:
        tracked = self.entries.pop(dot, None)
        if tracked is not None:
            dots = self.by_topic.get(tracked.topic)
            if dots is not None:
                dots.pop(dot, None)
                if not dots:
                    del self.by_topic[tracked.topic]
        return tracked


# -- wire form (what replicas exchange; specs/presence.md §Wire) -----------------------------

Counter = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Replica = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class WireEntry(msgspec.Struct, frozen=True, array_like=True):
    """One entry: its dot and what it tracks."""

    replica: Replica
    counter: Counter
    topic: str
    key: str
    meta: dict[str, MetaValue]


class WireSet(msgspec.Struct, frozen=True):
    """A state or a delta: entries, and the causal context (`base` and `cloud`)."""

    entries: list[WireEntry] = msgspec.field(default_factory=list)
    base: dict[Replica, Annotated[int, msgspec.Meta(ge=0, le=2**62)]] = msgspec.field(
        default_factory=dict
    )
    cloud: dict[Replica, list[Counter]] = msgspec.field(default_factory=dict)


def to_wire(presences: PresenceSet) -> WireSet:
    return WireSet(
        entries=[
            WireEntry(r, n, t.topic, t.key, dict(t.meta)) for (r, n), t in presences.entries.items()
        ],
        base=dict(presences.context.base),
        cloud={r: sorted(c) for r, c in presences.context.cloud.items() if c},
    )


def from_wire(wire: WireSet, replica: str) -> PresenceSet:
    """The set `wire` describes (as seen by `replica`, which owns no delta of it)."""
    out = PresenceSet(replica, track_delta=False)
    for entry in wire.entries:
        out._put((entry.replica, entry.counter), Tracked(entry.topic, entry.key, entry.meta))
    context = CausalContext()
    context.base = {r: n for r, n in wire.base.items() if n > 0}
    for r, counters in wire.cloud.items():
        for n in counters:
            context.add((r, n))
    for r in list(context.base):
        context._close(r)
    out.context.union(context)
    return out
