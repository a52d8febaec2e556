"""Which peers the runs warden judges down when its own ticks come late (ADR 0135).

A tick half a lease period late means the node itself stood still (a `SIGSTOP`, a starved
loop): that time is not its peers' silence. On a loaded machine every node's ticks come
late every few ticks; a peer that really stopped must still be judged down, and a live one
never, whatever the lateness. A clock in the test's hands, no NATS: `NatsRuns.ticked` and
`NatsRuns.is_down` are the whole rule.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from lightflow_actors.adapters.nats._runs import DOWN_AFTER_S, NatsRuns

TICK_S = 0.25  # the warden's
BEAT_S = 1.0  # a node's heartbeat period


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t


def liveness(clock: Clock) -> NatsRuns:
    system = SimpleNamespace(clock=clock)
    client = SimpleNamespace(jetstream=lambda: None)
    return NatsRuns(cast(Any, system), cast(Any, client), cast(Any, None), cast(Any, None), "me")


def test_a_stopped_peer_is_judged_down_though_every_tick_of_this_node_comes_late() -> None:
    clock = Clock()
    runs = liveness(clock)
    runs.heard["b"] = clock.now()  # b's last heartbeat; then b stops (kill -STOP)
    late = DOWN_AFTER_S / 2 + 0.5  # every tick: 2 s after the one before
    ticks = 0
    while not runs.is_down("b"):
        clock.t += late
        runs.ticked(late, TICK_S)
        ticks += 1
        assert ticks <= DOWN_AFTER_S / TICK_S + 1, "b is never judged down"
    assert runs.live_nodes() == ["me"]


def test_a_node_that_stood_still_does_not_judge_its_peers_by_its_own_pause() -> None:
    clock = Clock()
    runs = liveness(clock)
    runs.heard["a"] = clock.now() - 0.9  # a beat 0.9 s before this node stopped
    clock.t += 20.0  # kill -STOP, 20 s, kill -CONT: a's beats wait in the socket
    runs.ticked(20.0, TICK_S)
    assert not runs.is_down("a")
    # a was silent before the pause too (0.9 s, and a tick's period of it): that silence
    # still counts, with the time after it, on ticks that come on time.
    woke = clock.now()
    while not runs.is_down("a"):
        clock.t += TICK_S
        runs.ticked(TICK_S, TICK_S)
    assert clock.now() - woke <= DOWN_AFTER_S - 0.9 - TICK_S + TICK_S


@settings(max_examples=300, deadline=None)
@given(lags=st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=60))
def test_a_live_peer_is_never_judged_down_whatever_this_node_stood_still(
    lags: list[float],
) -> None:
    """Each interval between two ticks: the loop runs `TICK_S`, then stands still `lag`
    (the worst place: the tick comes first after it, then the heartbeats that waited)."""
    clock = Clock()
    runs = liveness(clock)
    next_beat = clock.now()
    runs.heard["p"] = clock.now()
    for lag in lags:
        running_until = clock.t + TICK_S
        while next_beat <= running_until:  # heard as they come while the loop runs
            clock.t = next_beat
            runs.heard["p"] = clock.now()
            next_beat += BEAT_S
        clock.t = running_until + lag
        runs.ticked(TICK_S + lag, TICK_S)
        assert not runs.is_down("p"), (lag, clock.t - runs.heard["p"])
        if next_beat <= clock.t:  # the beats that waited in the socket
            runs.heard["p"] = clock.now()
            next_beat = clock.t + BEAT_S - (clock.t - next_beat) % BEAT_S
