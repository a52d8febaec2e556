"""The fair queue: round robin across tenants, FIFO within one, weights, skipped items."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.tenants import FairQueue


def test_a_flooding_tenant_does_not_make_a_quiet_one_wait_behind_its_flood() -> None:
    queue: FairQueue[int] = FairQueue()
    for i in range(1000):
        queue.push("noisy", i)
    queue.push("quiet", -1)
    served = [queue.pop() for _ in range(3)]
    assert ("quiet", -1) in served  # after at most one noisy item, not a thousand
    assert len(queue) == 998


def test_within_a_tenant_order_is_fifo_and_tenants_alternate() -> None:
    queue: FairQueue[str] = FairQueue()
    for item in ("a1", "a2", "a3"):
        queue.push("a", item)
    for item in ("b1", "b2"):
        queue.push("b", item)
    assert [item for _, item in queue.drain()] == ["a1", "b1", "a2", "b2", "a3"]
    assert not queue
    assert queue.pop() is None


def test_a_tenant_of_weight_two_is_served_twice_per_round() -> None:
    queue: FairQueue[int] = FairQueue(weight=lambda tenant: 2 if tenant == "gold" else 1)
    for i in range(6):
        queue.push("gold", i)
        queue.push("free", i)
    order = [tenant for tenant, _ in queue.drain()]
    assert order[:6] == ["gold", "gold", "free", "gold", "gold", "free"]


def test_an_item_that_cannot_go_now_keeps_its_place_and_the_turn_passes() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("a", "blocked")
    queue.push("a", "a2")
    queue.push("b", "b1")
    assert queue.pop(lambda _t, item: item != "blocked") == ("a", "a2")
    assert queue.pop(lambda _t, item: item != "blocked") == ("b", "b1")
    assert queue.pop(lambda _t, item: item != "blocked") is None
    assert queue.waiting() == {"a": 1}
    assert queue.pop() == ("a", "blocked")


def test_work_handed_back_goes_first() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push("a", "a1")
    queue.push("b", "b1")
    queue.push_front("c", "c0")
    assert queue.pop() == ("c", "c0")
    queue.push_front("a", "a0")  # first among a's; a's turn is next anyway
    assert [item for _, item in queue.drain()] == ["a0", "b1", "a1"]


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 3)),
        max_size=80,
    )
)
def test_every_item_is_served_once_fifo_per_tenant_and_no_tenant_waits_more_than_a_round(
    pushes: list[tuple[str, int]],
) -> None:
    weights = {"a": 1, "b": 2, "c": 3, "d": 1}
    queue: FairQueue[int] = FairQueue(weight=weights.__getitem__)
    for n, (tenant, _) in enumerate(pushes):
        queue.push(tenant, n)
    served = list(queue.drain())
    assert sorted(item for _, item in served) == list(range(len(pushes)))
    for tenant in weights:
        mine = [item for t, item in served if t == tenant]
        assert mine == sorted(mine)
    # Between two items of one tenant (while it still waits), every other tenant is served
    # at most its weight.
    for tenant in weights:
        positions = [i for i, (t, _) in enumerate(served) if t == tenant]
        for first, second in itertools.pairwise(positions):
            between = [t for t, _ in served[first + 1 : second]]
            for other in set(between):
                assert between.count(other) <= weights[other]


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), max_size=30),
)
def test_removing_items_keeps_the_others_order_and_the_count(
    pushes: list[tuple[str, bool]],
) -> None:
    queue: FairQueue[object] = FairQueue()
    kept: dict[str, list[object]] = {}
    removed: list[tuple[str, object]] = []
    for tenant, remove in pushes:
        item = object()
        queue.push(tenant, item)
        if remove:
            removed.append((tenant, item))
        else:
            kept.setdefault(tenant, []).append(item)
    for tenant, item in removed:
        assert queue.remove(tenant, item)
        assert not queue.remove(tenant, item)  # once
    assert len(queue) == sum(map(len, kept.values()))
    assert queue.waiting() == {t: len(items) for t, items in kept.items()}
    served: dict[str, list[object]] = {}
    for tenant, item in queue.drain():
        served.setdefault(tenant, []).append(item)
    assert served == kept  # FIFO within each tenant, nothing lost, nothing removed served
