"""The presence CRDT (`PresenceSet`, an ORSWOT after Phoenix.Tracker's State) is a lattice:
join is commutative, associative and idempotent on every state replicas can reach, and
joining a replica's delta has the effect of joining its whole state."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.live._orswot import (
    PresenceSet,
    Tracked,
    WireSet,
    from_wire,
    to_wire,
)

REPLICAS = ("a", "b", "c")


@dataclass(frozen=True)
class Add:
    replica: int
    key: str


@dataclass(frozen=True)
class Remove:
    replica: int
    which: int


@dataclass(frozen=True)
class Sync:
    into: int
    source: int
    delta: bool


OPS = st.one_of(
    st.builds(Add, st.integers(0, 2), st.sampled_from(["ada", "bob", "cy"])),
    st.builds(Remove, st.integers(0, 2), st.integers(0, 10)),
    st.builds(Sync, st.integers(0, 2), st.integers(0, 2), st.booleans()),
)


def run(ops: list[Add | Remove | Sync]) -> list[PresenceSet]:
    """Three replicas after `ops`: adds, removes of own entries, and syncs (a whole state,
    or the delta since the source's last delta: it may reach one replica and miss the
    others, as a lost message would)."""
    sets = [PresenceSet(r) for r in REPLICAS]
    for op in ops:
        match op:
            case Add(replica=i, key=key):
                sets[i].add(Tracked("room", key, {"n": len(sets[i])}))
            case Remove(replica=i, which=which):
                own = [d for d in sets[i].entries if d[0] == REPLICAS[i]]
                if own:
                    sets[i].remove(own[which % len(own)])
            case Sync(into=i, source=j, delta=delta) if i != j:
                if delta:
                    piece = sets[j].reset_delta()
                    if piece is not None:
                        sets[i].join(piece)
                else:
                    sets[i].join(sets[j].copy())
            case _:
                pass
    return sets


def joined(*sets: PresenceSet) -> PresenceSet:
    out = sets[0].copy()
    for other in sets[1:]:
        out.join(other.copy())
    return out


HISTORIES = st.lists(OPS, max_size=40)


@settings(max_examples=300, deadline=None)
@given(HISTORIES)
def test_join_is_commutative_associative_and_idempotent(ops: list[Add | Remove | Sync]) -> None:
    a, b, c = run(ops)
    assert joined(a, b).normal() == joined(b, a).normal()
    assert joined(joined(a, b), c).normal() == joined(a, joined(b, c)).normal()
    assert joined(a, a).normal() == a.normal()
    assert joined(joined(a, b), b).normal() == joined(a, b).normal()


@settings(max_examples=300, deadline=None)
@given(HISTORIES, st.lists(OPS, max_size=15))
def test_joining_a_delta_equals_joining_the_whole_state(
    ops: list[Add | Remove | Sync], after: list[Add | Remove | Sync]
) -> None:
    sets = run(ops)
    source, target = sets[0], sets[1]
    # the target has everything the source had when its delta started
    source.reset_delta()
    target.join(source.copy())
    for op in after:  # then only local changes on the source (and on the target)
        match op:
            case Add(replica=0 | 1 as i, key=key):
                sets[i].add(Tracked("room", key, {}))
            case Remove(replica=0 | 1 as i, which=which):
                own = [d for d in sets[i].entries if d[0] == REPLICAS[i]]
                if own:
                    sets[i].remove(own[which % len(own)])
            case _:
                pass
    delta = source.reset_delta()
    if delta is None:
        delta = PresenceSet("a", track_delta=False)
    by_delta, by_state = target.copy(), target.copy()
    joins_d, leaves_d = by_delta.join(delta)
    joins_s, leaves_s = by_state.join(source.copy())
    assert by_delta.normal() == by_state.normal()
    assert sorted(joins_d) == sorted(joins_s) and sorted(leaves_d) == sorted(leaves_s)


@settings(max_examples=200, deadline=None)
@given(HISTORIES)
def test_replicas_that_exchanged_everything_agree(ops: list[Add | Remove | Sync]) -> None:
    sets = run(ops)
    everything = joined(*sets)
    for replica in sets:
        replica.join(everything.copy())
    assert len({repr(sorted(s.entries.items())) for s in sets}) == 1
    # and a removal seen by one survives any later exchange
    for replica in sets:
        assert set(replica.entries) == set(everything.entries)


def test_a_removal_wins_over_the_add_it_saw_but_not_over_a_concurrent_add() -> None:
    a, b = PresenceSet("a"), PresenceSet("b")
    dot = a.add(Tracked("room", "ada", {}))
    b.join(a.copy())
    a.remove(dot)
    again = a.add(Tracked("room", "ada", {"tab": 2}))  # ada is back, with a new dot
    b.join(a.copy())
    assert list(b.entries) == [again]
    # an old state of a (with the first dot) cannot bring it back
    stale = PresenceSet("a", track_delta=False)
    stale.join(b.copy())
    b2 = b.copy()
    b2.join(stale)
    assert list(b2.entries) == [again]


@settings(max_examples=200, deadline=None)
@given(HISTORIES)
def test_the_wire_form_round_trips(ops: list[Add | Remove | Sync]) -> None:
    for s in run(ops):
        data = msgspec.msgpack.encode(to_wire(s))
        back = from_wire(msgspec.msgpack.decode(data, type=WireSet), "x")
        assert back.normal() == s.normal()


@pytest.mark.parametrize(
    "raw",
    [
        {"entries": [["a", 0, "room", "ada", {}]]},  # counter 0 is no dot
        {"entries": [["a", 1, "room", "ada", {"x": [1]}]]},  # meta values are scalars
        {"entries": [["", 1, "room", "ada", {}]]},  # a replica has a name
        {"base": {"a": -1}},
        {"cloud": {"a": [0]}},
        {"entries": "nope"},
    ],
)
def test_a_malformed_wire_set_is_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\."):
        msgspec.convert(raw, WireSet)
