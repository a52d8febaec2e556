"""A deterministic drill of the runs protocol (specs/cluster.md §Runs on any node): leases
and fenced record writes, while the run moves between nodes over a faulty network.

Three simulated nodes (``a``, ``b``, ``c``) each run the **real `NatsLeases`** (acquire,
take over from a down holder with the next epoch, confirm before each call, release) over
a simulated JetStream bucket on node ``kv`` (`_drill_kv`, shared with the session drill: every
request and answer crosses the simulated network), and drive one run of `STEPS` paid calls
as a run owner does (ADR 0098): before each call it confirms its lease; the call goes to
a provider on node ``api`` that honours idempotency keys; its answer is committed by a
compare-and-set of the run's record on the owner's previous revision. A node that hears
no heartbeat of the lease holder for `DOWN_AFTER_S` and whose id wins the run's hash
among the live nodes takes the run over: the lease (next epoch), then the record (claimed
by compare-and-set on the revision read), and drives on from the record.

The invariant, checked after the network heals:

- no two record writes were accepted on the same revision (the fence);
- each step was committed by one owner epoch only (no step answered twice);
- the run finished: every step is in the final record.

``PLANTED_UNFENCED`` is the bucket without its revision check (test-only): ``explore``
must find the lost or double answer it allows within 1 000 seeds.

The drill found a stuck run in the real warden's rule: a takeover that took the lease but
could neither claim the record nor give the lease back (the bucket unreachable for both)
left a lease naming a live node that drives nothing, which no node took again (seed 338,
FairPCT). `NatsRuns.unclaimed` and the warden now take such a run again; the owner here
follows the same rule (`unclaimed`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.adapters.nats import LeaseHeld, LeaseLost, NatsLeases
from lightflow_actors.testing import Scenario, explore, run_schedule

from ._drill_kv import Dump, Kv, SimBucket, drill_plan
from ._drill_kv import storm as network_storm

NODES = ("a", "b", "c")
STEPS = 5
TICK_S = 0.25
HEARTBEAT_S = 0.25
DOWN_AFTER_S = 1.0
CALL_S = 0.3  # how long the provider takes to answer
CALL_TIMEOUT_S = 1.5  # an unanswered call is made again (same idempotency key)
LEASE = "run.r1"
RECORD = "r1.m"


class Record(msgspec.Struct, frozen=True):
    owner: str
    epoch: int
    steps: dict[int, int] = {}  # step -> the epoch that committed its answer


class Call(msgspec.Struct, frozen=True):
    step: int
    key: str
    reply_to: Any


class Answered(msgspec.Struct, frozen=True):
    step: int
    key: str


class Provider(Actor[Call]):
    """A paid API honouring idempotency keys: a repeated key gets the first answer."""

    def __init__(self) -> None:
        self.computed: dict[str, int] = {}

    @handler
    def call(self, msg: Call) -> None:
        self.computed[msg.key] = self.computed.get(msg.key, 0) + 1
        self.send_after(CALL_S, msg.reply_to, Answered(msg.step, msg.key))


class Beat(msgspec.Struct, frozen=True):
    node: str


class _Tick(msgspec.Struct, frozen=True):
    pass


class _Peers(msgspec.Struct, frozen=True):
    peers: tuple[Any, ...]


def _weight(node: str, run_id: str) -> bytes:
    return hashlib.sha256(f"{node}\x00{run_id}".encode()).digest()


class State(Ask[str], frozen=True):
    pass


class Owner(Actor[_Tick | Beat | Answered | _Peers | State]):
    """One node's runs side for run `r1`: drives it while it holds its lease and record,
    takes it over when its holder is down and the run hashes here among the live nodes."""

    def __init__(self, node: str, bucket: SimBucket, api: ActorRef[Call], create: bool) -> None:
        self.node, self.bucket, self.api, self.create = node, bucket, api, create
        self.leases = NatsLeases(bucket, node)  # type: ignore[arg-type]
        self.peers: list[ActorRef[Beat]] = []
        self.heard: dict[str, float] = {}
        self.driving = False
        self.revision = 0
        self.record: Record | None = None
        self.in_flight: int | None = None
        self.done = False
        self.unclaimed = False
        self.writing = False
        self.called_at = 0.0

    async def on_start(self) -> None:
        self.started = self.system.clock.now()
        self.send_after(TICK_S, self.ref, _Tick())

    def is_down(self, node: str) -> bool:
        if node == self.node:
            return False
        last = self.heard.get(node, self.started)
        return self.system.clock.now() - last > DOWN_AFTER_S

    def live(self) -> list[str]:
        return sorted({self.node, *(n for n in NODES if not self.is_down(n))})

    @handler
    def state(self, msg: State) -> str:
        return (
            f"{self.node}: driving={self.driving} in_flight={self.in_flight} "
            f"writing={self.writing} done={self.done} unclaimed={self.unclaimed} "
            f"held={self.leases.held} record={self.record} live={self.live()}"
        )

    @handler
    def peers_are(self, msg: _Peers) -> None:
        self.peers = list(msg.peers)

    @handler
    def beat(self, msg: Beat) -> None:
        self.heard[msg.node] = self.system.clock.now()

    @handler
    async def tick(self, msg: _Tick) -> None:
        self.send_after(TICK_S, self.ref, _Tick())
        for peer in self.peers:
            peer.tell(Beat(self.node))
        try:
            if self.create:
                await self._create()
            elif self.driving:
                await self._drive()
            elif not self.done:
                await self._maybe_take_over()
        except TimeoutError:
            return  # the bucket did not answer: next tick

    async def _create(self) -> None:
        await self.leases.acquire(LEASE, holder_down=self.is_down)
        record = Record(self.node, 0)
        self.revision = await self.bucket.create(RECORD, msgspec.msgpack.encode(record))
        self.record, self.driving, self.create = record, True, False

    async def _drive(self) -> None:
        record = self.record
        assert record is not None
        if self.in_flight is not None:
            # no answer in time (the call or its answer lost): call again, same key
            if not self.writing and self.system.clock.now() - self.called_at > CALL_TIMEOUT_S:
                self.called_at = self.system.clock.now()
                self.api.tell(Call(self.in_flight, f"r1:{self.in_flight}", self.ref))
            return
        missing = [s for s in range(STEPS) if s not in record.steps]
        if not missing:
            self.driving, self.done = False, True
            await self.leases.release(LEASE)
            return
        try:
            await self.leases.confirm(LEASE)  # before each call: still ours?
        except LeaseLost:
            self.driving = False  # fenced: commit nothing more
            return
        step = missing[0]
        self.in_flight, self.called_at = step, self.system.clock.now()
        self.api.tell(Call(step, f"r1:{step}", self.ref))

    async def _maybe_take_over(self) -> None:
        try:
            entry = await self.bucket.get(LEASE)
        except KeyNotFoundError:
            return  # released: the run finished (or was never started)
        holder = msgspec.msgpack.decode(entry.value).get("owner", "?")
        # A lease of this node's for a run it does not drive is a takeover whose claim
        # failed and whose release did not reach the bucket: taken again (next epoch).
        stale_own = holder == self.node and self.unclaimed
        if not stale_own and (holder == self.node or not self.is_down(holder)):
            return
        if max(self.live(), key=lambda n: _weight(n, "r1")) != self.node:
            return
        try:
            await self.leases.acquire(LEASE, holder_down=self.is_down)
        except LeaseHeld:
            return
        epoch = self.leases.held[LEASE][1]
        try:
            for _ in range(8):  # claim the record: rewrite it as ours, on the revision read
                found = await self.bucket.get(RECORD)
                record = msgspec.msgpack.decode(found.value, type=Record)
                mine = msgspec.structs.replace(record, owner=self.node, epoch=epoch)
                try:
                    self.revision = await self.bucket.update(
                        RECORD, msgspec.msgpack.encode(mine), last=found.revision
                    )
                except KeyWrongLastSequenceError:
                    continue
                self.record, self.driving, self.unclaimed = mine, True, False
                return
        except BaseException:
            await self._release_unclaimed()
            raise
        await self._release_unclaimed()

    async def _release_unclaimed(self) -> None:
        self.unclaimed = True  # until the release is known to have reached the bucket
        await self.leases.release(LEASE)
        self.unclaimed = False

    @handler
    async def answered(self, msg: Answered) -> None:
        if msg.step != self.in_flight:
            return
        self.in_flight = None
        record = self.record
        if not self.driving or record is None:
            return  # fenced meanwhile: the answer is not ours to commit
        epoch = self.leases.held.get(LEASE, (0, record.epoch))[1]
        committed = msgspec.structs.replace(record, steps={**record.steps, msg.step: epoch})
        data = msgspec.msgpack.encode(committed)
        self.in_flight, self.writing = msg.step, True  # until written: no other call
        try:
            await self._commit(data)
        finally:
            self.writing = False

    async def _commit(self, data: bytes) -> None:
        committed = msgspec.msgpack.decode(data, type=Record)
        while True:  # as `NatsRuns.publish`: through timeouts, its own write recognised
            try:
                self.revision = await self.bucket.update(RECORD, data, last=self.revision)
                break
            except TimeoutError:
                await asyncio.sleep(0.1)
            except KeyWrongLastSequenceError:
                try:
                    found = await self.bucket.get(RECORD)
                except TimeoutError:
                    continue
                if found.value != data:  # fenced: another's now (`NatsRuns._lost`)
                    self.in_flight, self.driving = None, False
                    self.leases.held.pop(LEASE, None)
                    return
                self.revision = found.revision
                break
        self.in_flight = None
        self.record = committed


# -- the drill ------------------------------------------------------------------------------

PLAN = drill_plan(NODES, "owner", "api")


async def _drill(system: ActorSystem, *, check_revisions: bool, storm: bool = True) -> None:
    kv = system.spawn(lambda: Kv(check_revisions), name="kv")
    api = system.spawn(Provider, name="api")
    owners: list[ActorRef[Any]] = []
    for node in NODES:
        bucket = SimBucket.on_node(system, kv, node)
        owners.append(
            system.spawn(
                lambda n=node, b=bucket: Owner(n, b, api, create=n == "a"), name=f"owner-{node}"
            )
        )
    for owner in owners:
        owner.tell(_Peers(tuple(o for o in owners if o != owner)))
    await network_storm(system, ("kv", "api", *NODES), faults=storm, pause_s=1.5)
    final = b""
    for _ in range(120):
        final, writes = await kv.ask(Dump(RECORD))
        if final and len(msgspec.msgpack.decode(final, type=Record).steps) == STEPS:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2.0)  # let stale answers and duplicates land
    final, writes = await kv.ask(Dump(RECORD))
    replaced: dict[int, bytes] = {}
    committed_by: dict[int, set[int]] = {}
    for old, _new, value in writes:
        assert old not in replaced, f"two record writes on revision {old}: {writes}"
        replaced[old] = value
        for step, epoch in msgspec.msgpack.decode(value, type=Record).steps.items():
            committed_by.setdefault(step, set()).add(epoch)
    twice = {step: epochs for step, epochs in committed_by.items() if len(epochs) > 1}
    assert not twice, f"steps answered by two owners (epochs): {twice}"
    record = msgspec.msgpack.decode(final, type=Record)
    if sorted(record.steps) != list(range(STEPS)):
        states = [await owner.ask(State(), timeout=5) for owner in owners]
        log = [(o, n, msgspec.msgpack.decode(v, type=Record)) for o, n, v in writes]
        raise AssertionError(
            f"the run did not finish: {record}; owners: {states}; record writes: {log}"
        )


async def _fenced(system: ActorSystem) -> None:
    await _drill(system, check_revisions=True)


async def _unfenced(system: ActorSystem) -> None:
    await _drill(system, check_revisions=False)


RUN_MOVES = Scenario(
    _fenced,
    faults=PLAN,
    name="run_moves_between_nodes",
    ref="tests.testing.test_runs_drill:RUN_MOVES",
)
PLANTED_UNFENCED = Scenario(
    _unfenced,
    faults=PLAN,
    name="run_moves_without_fencing",
    ref="tests.testing.test_runs_drill:PLANTED_UNFENCED",
)
DRILL_SEEDS = int(os.environ.get("LIGHTFLOW_RUNS_DRILL_SEEDS", "150"))


def test_explore_finds_a_step_answered_twice_without_fencing() -> None:
    found = explore(PLANTED_UNFENCED, seeds=1000, out=None)
    assert found.failure is not None, "no seed of 1000 found the planted bug"
    print(f"planted bug found at seed {found.failure.seed} after {found.runs} runs")
    print(found.report())
    again = run_schedule(PLANTED_UNFENCED, seed=found.failure.seed, strategy=found.failure.strategy)
    assert not again.ok and again.sha256() == found.failure.result.sha256()


def test_the_runs_protocol_passes_every_seed() -> None:
    result = explore(RUN_MOVES, seeds=DRILL_SEEDS, out=None)
    assert result.ok, result.report()
