"""Deterministic scheduler bench (#4): schedules explored per second.

The scenario: 3 actors (producer → relay → sink) and 100 messages, then an ask for the
count. Each figure is the rate of whole schedules (fresh loop, fresh system, run, check),
printed beside the same scenario run on a plain asyncio loop in this same run (the
baseline), with the ratio. Rates are in CPU time of this process (``time.process_time``):
on a shared 2-core machine wall time mostly measures the neighbours. Five samples each,
interleaved (a baseline sample before each strategy's), so a burst of load hits all alike;
figures are medians with their spread, and the ratio of each strategy's sample to the
baseline sample just before it (paired) is summarised the same way. Both use
``throughput=1`` (one message per scheduling step, the simulation's default), so the
difference is the simulation's own cost: the chosen callback order, virtual time, the
trace, the FIFO check.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from bench._report import median, row
from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import explore

MESSAGES = 100
SCHEDULES = 200


class Item(msgspec.Struct, frozen=True):
    n: int


class Count(Ask[int], frozen=True):
    pass


class Start(msgspec.Struct, frozen=True):
    pass


class Flush(Ask[bool], frozen=True):
    """Answered after every message queued before it (mailboxes are FIFO)."""


class Sink(Actor[Item | Count]):
    def __init__(self) -> None:
        self.count = 0

    @handler
    def item(self, msg: Item) -> None:
        self.count += 1

    @handler
    def get(self, msg: Count) -> int:
        return self.count


class Relay(Actor[Item | Flush]):
    def __init__(self, sink: ActorRef[Item | Count]) -> None:
        self.sink = sink

    @handler
    def item(self, msg: Item) -> None:
        self.sink.tell(msg)

    @handler
    def flush(self, msg: Flush) -> bool:
        return True


class Producer(Actor[Start | Flush]):
    def __init__(self, relay: ActorRef[Item | Flush]) -> None:
        self.relay = relay

    @handler
    def start(self, msg: Start) -> None:
        for n in range(MESSAGES):
            self.relay.tell(Item(n))

    @handler
    def flush(self, msg: Flush) -> bool:
        return True


async def three_actors(system: ActorSystem) -> None:
    sink = system.spawn(Sink, name="sink")
    relay = system.spawn(lambda: Relay(sink), name="relay")
    producer = system.spawn(lambda: Producer(relay), name="producer")
    producer.tell(Start())
    # No sleeps (the baseline would wait in wall time): FIFO asks flush each hop in turn.
    await producer.ask(Flush())
    await relay.ask(Flush())
    assert await sink.ask(Count()) == MESSAGES, "the sink did not receive every message"


def _plain_rate() -> float:
    async def main() -> None:
        async with ActorSystem(throughput=1) as system:
            await three_actors(system)

    start = time.process_time()
    for _ in range(SCHEDULES):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(main())
        loop.close()
    return SCHEDULES / (time.process_time() - start)


def _explore_rate(strategy: str) -> float:
    start = time.process_time()
    exploration = explore(three_actors, seeds=SCHEDULES, strategy=strategy, out=None)
    elapsed = time.process_time() - start
    exploration.raise_if_failed()
    return exploration.runs / elapsed


SAMPLES = 5
STRATEGIES = ("random", "pct", "fifo", "portfolio")


def main() -> None:
    print(
        f"3 actors, {MESSAGES} messages, {SCHEDULES} schedules per sample; median of "
        f"{SAMPLES} samples (spread min-max), CPU time, interleaved with the baseline's"
    )
    samples: dict[str, list[float]] = {"baseline": [], **{s: [] for s in STRATEGIES}}
    paired: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    for _ in range(SAMPLES):
        for strategy in STRATEGIES:
            base = _plain_rate()
            samples["baseline"].append(base)
            rate = _explore_rate(strategy)
            samples[strategy].append(rate)
            paired[strategy].append(rate / base)
    baseline = median(samples["baseline"])
    _row("plain asyncio loop (baseline)", samples["baseline"])
    for strategy in STRATEGIES:
        _row(f"explore, strategy {strategy}", samples[strategy], baseline)
        ratios = paired[strategy]
        print(
            f"{'':<44} paired ratio median {median(ratios):.2f}x "
            f"(spread {min(ratios):.2f}x - {max(ratios):.2f}x)",
            flush=True,
        )


def _row(label: str, rates: list[float], baseline: float | None = None) -> None:
    row(label, median(rates), "schedules/s", baseline, "plain loop")
    print(f"{'':<44} spread {min(rates):,.0f} - {max(rates):,.0f}", flush=True)


if __name__ == "__main__":
    main()
