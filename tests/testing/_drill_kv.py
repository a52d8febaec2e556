"""What the deterministic cluster drills share (`test_cluster_drill`: a live session,
`test_runs_drill`: a run, moving between nodes over a faulty network).

- `Kv`, a JetStream key-value bucket as an actor on node ``kv``: revisions, ``create``,
  ``update(last=)`` and ``delete(last=)`` by compare-and-set. ``check_revisions=False``
  is a drill's planted bug: writes are accepted whatever revision their writer last saw.
- `SimBucket`, the `KeyValue` a node's real NATS code is given (``get``, ``create``,
  ``update``, ``delete`` with JetStream's semantics: a write on another revision raises
  `KeyWrongLastSequenceError`, a request unanswered in `REQUEST_S` raises
  ``TimeoutError``). Every request and answer crosses the simulated network: answers come
  back through the node's `KvPort` (actor ``port-<node>``).
- `drill_plan`, the fault plan of nodes ``kv``, the drill's own and one per simulated
  node; `storm`, the network faults drawn from the run's RNG, then calm.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from lightflow_actors import Actor, ActorRef, ActorSystem, Ask, handler
from lightflow_actors.testing import FaultPlan, network

REQUEST_S = 0.5  # a bucket request unanswered this long fails (a NATS request timeout)


class Get(msgspec.Struct, frozen=True):
    key: str
    request: int
    reply_to: Any


class Put(msgspec.Struct, frozen=True):
    """`create` (``last`` None: the key must be absent) or `update(last=)`."""

    key: str
    value: bytes
    last: int | None
    request: int
    reply_to: Any


class Delete(msgspec.Struct, frozen=True):
    key: str
    last: int
    request: int
    reply_to: Any


class Answer(msgspec.Struct, frozen=True):
    request: int
    found: bool  # Get: the key exists; Put, Delete: the write was applied
    value: bytes = b""
    revision: int = 0


class Dump(Ask[tuple[bytes, list[tuple[int, int, bytes]]]], frozen=True):
    """`key`'s value now, and every write of it accepted: (revision it replaced, new
    revision, value), oldest first."""

    key: str


class Kv(Actor[Get | Put | Delete | Dump]):
    """The bucket (node ``kv``)."""

    def __init__(self, check_revisions: bool = True) -> None:
        self.check_revisions = check_revisions
        self.values: dict[str, bytes] = {}
        self.revision: dict[str, int] = {}
        self.sequence = 0  # the bucket's stream sequence: revisions of every key
        self.accepted: dict[str, list[tuple[int, int, bytes]]] = {}

    def _found(self, key: str) -> int:
        return self.revision.get(key, 0) if key in self.values else 0

    @handler
    def get(self, msg: Get) -> None:
        held = msg.key in self.values
        value, revision = self.values.get(msg.key, b""), self.revision.get(msg.key, 0)
        msg.reply_to.tell(Answer(msg.request, held, value, revision))

    @handler
    def put(self, msg: Put) -> None:
        found = self._found(msg.key)
        expected = 0 if msg.last is None else msg.last
        if self.check_revisions and found != expected:
            msg.reply_to.tell(Answer(msg.request, False, revision=found))
            return
        self.sequence += 1
        self.values[msg.key] = msg.value
        self.revision[msg.key] = self.sequence
        self.accepted.setdefault(msg.key, []).append((found, self.sequence, msg.value))
        msg.reply_to.tell(Answer(msg.request, True, revision=self.sequence))

    @handler
    def delete(self, msg: Delete) -> None:
        found = self._found(msg.key)
        if self.check_revisions and found != msg.last:
            msg.reply_to.tell(Answer(msg.request, False, revision=found))
            return
        self.values.pop(msg.key, None)
        msg.reply_to.tell(Answer(msg.request, True))

    @handler
    def dump(self, msg: Dump) -> tuple[bytes, list[tuple[int, int, bytes]]]:
        return self.values.get(msg.key, b""), list(self.accepted.get(msg.key, ()))


class Entry(msgspec.Struct, frozen=True):
    value: bytes
    revision: int


class KvPort(Actor[Answer]):
    """A node's end of the bucket: answers come back here, to the waiting request."""

    def __init__(self, waiting: dict[int, asyncio.Future[Answer]]) -> None:
        self.waiting = waiting

    @handler
    def answer(self, msg: Answer) -> None:
        future = self.waiting.pop(msg.request, None)
        if future is not None and not future.done():
            future.set_result(msg)


class SimBucket:
    """One node's `KeyValue`: each call is a request to the bucket actor across the
    simulated network, answered through the node's `KvPort`. Remembers which value each of
    this node's accepted writes held (its own knowledge)."""

    def __init__(self, kv: ActorRef[Any]) -> None:
        self.kv = kv
        self.port: ActorRef[Answer] | None = None
        self.waiting: dict[int, asyncio.Future[Answer]] = {}
        self.ids = itertools.count(1)
        self.written: dict[int, bytes] = {}  # revision -> the value it wrote

    @classmethod
    def on_node(cls, system: ActorSystem, kv: ActorRef[Any], node: str) -> SimBucket:
        """The bucket of `node`, with its port (actor ``port-<node>``) spawned."""
        bucket = cls(kv)
        bucket.port = system.spawn(lambda: KvPort(bucket.waiting), name=f"port-{node}")
        return bucket

    async def _ask(self, make: Any) -> Answer:
        request = next(self.ids)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.waiting[request] = future
        self.kv.tell(make(request, self.port))
        try:
            return await asyncio.wait_for(future, REQUEST_S)
        finally:
            self.waiting.pop(request, None)

    async def get(self, key: str) -> Entry:
        answer = await self._ask(lambda rid, port: Get(key, rid, port))
        if not answer.found:
            raise KeyNotFoundError
        return Entry(answer.value, answer.revision)

    async def create(self, key: str, value: bytes) -> int:
        return await self._put(key, value, None)

    async def update(self, key: str, value: bytes, last: int) -> int:
        return await self._put(key, value, last)

    async def delete(self, key: str, last: int | None = None) -> bool:
        answer = await self._ask(lambda rid, port: Delete(key, last or 0, rid, port))
        if not answer.found:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        return True

    async def _put(self, key: str, value: bytes, last: int | None) -> int:
        answer = await self._ask(lambda rid, port: Put(key, value, last, rid, port))
        if not answer.found:
            raise KeyWrongLastSequenceError(description="wrong last sequence")
        self.written[answer.revision] = value
        return answer.revision


def drill_plan(nodes: Sequence[str], actor: str, *others: str) -> FaultPlan:
    """Node ``kv`` (the bucket), one node per name in `others` (its one actor of that
    name), and per simulated node its `actor` (``<actor>-<node>``) and ``port-<node>``."""
    return FaultPlan(
        nodes={
            "kv": ("kv",),
            **{other: (other,) for other in others},
            **{node: (f"{actor}-{node}", f"port-{node}") for node in nodes},
        }
    )


async def storm(
    system: ActorSystem, everyone: Sequence[str], *, faults: bool = True, pause_s: float
) -> None:
    """2 to 5 network faults (none without `faults`) drawn from the run's RNG, up to
    `pause_s` apart: a node cut off from everybody else, a delay, duplicates, random
    loss, a heal; then up to 2 s more, and the network heals."""
    net = network(system)
    rng = system.random
    for _ in range(rng.randint(2, 5) if faults else 0):
        await asyncio.sleep(rng.uniform(0.0, pause_s))
        action = rng.randrange(5)
        if action == 0:  # cut one node off from everybody else (a pause, a partition)
            alone = rng.choice(everyone)
            net.partition([alone], [n for n in everyone if n != alone])
        elif action == 1:
            net.delay(rng.choice(everyone), rng.choice((None, "kv")), rng.uniform(0.1, 2.0))
        elif action == 2:
            net.duplicate(rng.choice(everyone), None)
        elif action == 3:
            net.drop(None, rng.choice(everyone), rng.uniform(0.2, 0.8))
        else:
            net.heal()
    await asyncio.sleep(rng.uniform(0.0, 2.0))
    net.heal()
