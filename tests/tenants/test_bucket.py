"""Token buckets on a clock the caller passes: rate, burst, and the wait they answer."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors.tenants import TokenBucket


def test_a_bucket_starts_full_then_answers_the_wait_for_the_next_token() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)  # half a token came back
    assert bucket.take(0.5) == 0.0
    assert bucket.peek(0.5) == pytest.approx(0.5)


def test_a_bucket_saves_at_most_its_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=2.0, now=0.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) > 0


def test_time_going_backwards_takes_nothing_back() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0, now=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5)])
def test_a_bucket_without_a_positive_rate_or_a_whole_burst_is_refused(
    rate: float, burst: float
) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, 0.0)


@given(
    rate=st.floats(min_value=0.1, max_value=1000),
    burst=st.floats(min_value=1, max_value=100),
    steps=st.lists(st.floats(min_value=0, max_value=2), max_size=60),
)
def test_a_bucket_never_admits_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: float, steps: list[float]
) -> None:
    bucket = TokenBucket(rate, burst, 0.0)
    now, taken = 0.0, 0
    for step in steps:
        now += step
        while bucket.take(now) == 0.0:
            taken += 1
        assert taken <= burst + rate * now + 1e-6


def test_callers_refused_together_are_told_one_slot_each() -> None:
    bucket = TokenBucket(rate=10.0, burst=1.0, now=0.0)
    assert bucket.take(0.0) == 0.0
    waits = [bucket.wait_in_line(0.0) for _ in range(4)]
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert bucket.tokens == pytest.approx(0.0)  # a promise takes nothing
    # Once the promised slots are past, a refusal is told the plain wait again.
    assert bucket.wait_in_line(5.0) == 0.0
    assert bucket.take(5.0) == 0.0
    assert bucket.wait_in_line(5.0) == pytest.approx(0.1)


@given(
    rate=st.floats(min_value=0.5, max_value=500),
    refused=st.lists(st.floats(min_value=0, max_value=0.05), min_size=1, max_size=40),
)
def test_slots_in_line_are_one_token_apart_and_never_before_a_token(
    rate: float, refused: list[float]
) -> None:
    bucket = TokenBucket(rate, 1.0, 0.0)
    bucket.take(0.0)
    now, slots = 0.0, []
    for gap in refused:
        now += gap
        wait = bucket.wait_in_line(now)
        assert wait >= bucket.peek(now) - 1e-9
        slots.append(now + wait)
    assert all(b - a >= 1 / rate - 1e-9 for a, b in itertools.pairwise(slots))


def test_charge_goes_into_debt_and_forgives_only_float_rounding() -> None:
    bucket = TokenBucket(rate=10.0, burst=2.0, now=0.0)
    assert bucket.charge(0.0, 5) == 0.0  # one token there: the five go, three owed
    assert bucket.charge(0.0) == pytest.approx(0.4)  # back to one token: 4 / 10 s
    assert bucket.charge(0.3) == pytest.approx(0.1)
    assert bucket.charge(0.4) == 0.0
    bucket.tokens, bucket.stamp = 1.0 - 1e-12, 1.0  # rate * elapsed a hair under one
    assert bucket.until_charge(1.0) == 0.0
    bucket.tokens = 0.999
    assert bucket.until_charge(1.0) == pytest.approx(0.0001)
