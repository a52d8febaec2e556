"""The observer's last ten minutes: samples every 5 s whoever watches, restarts on the
supervisors' timelines, and the pictures drawn from them.

The schedule test runs in virtual time (seeded schedules): a supervised worker crashes
every 20 s for twenty minutes; the history keeps ten minutes of samples, the restarts
per minute match the crashes, and the supervisor's timeline holds the last ten minutes'.
"""

from __future__ import annotations

import asyncio

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import Actor, ActorSystem, handler
from lightflow_actors.live import to_html
from lightflow_actors.observer import GetSnapshot, TreeFeed, TreeSnapshot
from lightflow_actors.observer._charts import (
    SPARK_H,
    SPARK_W,
    points,
    render_charts,
    render_timeline,
)
from lightflow_actors.observer._history import (
    MAX_SAMPLES,
    History,
    Mailbox,
    RestartMark,
    Sample,
)
from lightflow_actors.supervision import ChildSpec, Supervisor
from lightflow_actors.testing import explore, scenario

from .test_feed_schedules import FakePubSub, Published


class Crash(msgspec.Struct, frozen=True):
    pass


class Worker(Actor[Crash]):
    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("boom")


@scenario
async def ten_minutes_are_kept(system: ActorSystem) -> None:
    pubsub = system.spawn(FakePubSub)
    feed = system.spawn(lambda: TreeFeed(lambda: pubsub, interval=0.25, refresh=3600.0))
    sup = await system.start_actor(
        lambda: Supervisor(
            [ChildSpec(id="w", start=Worker, name="worker")], intensity=1000, period=1.0
        )
    )
    for _ in range(60):  # twenty minutes, a crash every 20 s
        worker = system.whereis("worker")
        assert worker is not None  # restarted within the 20 s
        worker.tell(Crash())  # type: ignore[arg-type]
        await asyncio.sleep(20.0)

    snapshot: TreeSnapshot = await feed.ask(GetSnapshot())
    history = snapshot.history
    assert len(history.samples) == MAX_SAMPLES
    span = history.samples[-1].at_ms - history.samples[0].at_ms
    assert 595_000 <= span <= 600_000, span
    rates = history.restarts_per_min()
    assert abs(sum(rates) / len(rates) - 3.0) < 0.2, rates  # one every 20 s
    marks = history.restarts_by(sup.id)
    assert 29 <= len(marks) <= 31 and all(m.label == "worker" for m in marks)
    assert all(m.reason and "boom" in m.reason for m in marks)
    html = to_html(render_timeline(marks, history.samples[-1].at_ms))
    assert f'data-restarts="{len(marks)}"' in html and "boom" in html
    published = await pubsub.ask(Published())  # each restart's snapshot carries them too
    assert published and len(published[-1].history.samples) >= MAX_SAMPLES - 4


def test_ten_minutes_are_kept_random_schedules() -> None:
    explore(ten_minutes_are_kept, seeds=5, strategy="random", out=lambda _: None).raise_if_failed()


def test_series_are_rates_between_samples() -> None:
    boxes = (Mailbox(7, "pool", 40), Mailbox(9, "db", 5))
    history = History(
        samples=(
            Sample(0, 100, 0, 0, 1 << 20, ()),
            Sample(5_000, 600, 1, 0, 2 << 20, (Mailbox(7, "pool", 10),)),
            Sample(10_000, 1100, 1, 2, 3 << 20, boxes),
        ),
        restarts=(RestartMark(4_000, 3, 8, "w", "killed"),),
    )
    assert history.messages_per_s() == [100.0, 100.0]
    assert history.restarts_per_min() == [12.0, 0.0]
    assert history.runs_per_min() == [0.0, 24.0]
    assert history.memory_mb() == [1.0, 2.0, 3.0]
    assert history.mailbox_series() == [(boxes[0], [0.0, 10.0, 40.0]), (boxes[1], [0.0, 0.0, 5.0])]
    html = to_html(render_charts(history))
    for chart in ("messages", "restarts", "memory", "runs"):
        assert f'id="spark-{chart}"' in html
    assert 'data-id="7" data-depth="40"' in html and "#9 db" in html
    assert history.restarts_by(3)[0].reason == "killed" and history.restarts_by(4) == []


@given(st.lists(st.floats(min_value=0, max_value=1e12, allow_nan=False), max_size=130))
def test_points_stay_inside_the_picture(values: list[float]) -> None:
    drawn = points(values)
    pairs = [p.split(",") for p in drawn.split()] if drawn else []
    assert len(pairs) == (0 if not values else max(len(values), 2))
    for x, y in pairs:
        assert 0 <= int(x) <= SPARK_W and 0 <= int(y) <= SPARK_H


def test_no_samples_draw_no_lines() -> None:
    html = to_html(render_charts(History()))
    assert "waiting for the first samples" in html and "every mailbox is empty" in html
    assert 'data-restarts="0"' in to_html(render_timeline([], 0))
