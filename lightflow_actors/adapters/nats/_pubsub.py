"""`NatsPubSub`: the live pubsub's broker adapter over a NATS connection.

Each node's `PubSubServer` keeps its own topic table and fans out locally by reference;
this adapter only carries what crosses nodes:

- one NATS subscription per topic **per node** (taken when the topic gets its first
  local subscriber, dropped with its last), never one per session;
- a publication goes to `<prefix>.pubsub.<topic token>` once, whatever the number of
  subscribers on the other nodes (NATS fans it out to the nodes that want it);
- the connection is opened with `no_echo`, so the server never sends a node's own
  publications back to it: local subscribers get each message exactly once, from the
  local fan-out.

The adapter's methods are called from the pubsub actor's handlers and never block: they
queue an operation that one pump task performs in order (subscribe, publish, ...), so a
publication made right after a subscription is never overtaken by it. While NATS is
unreachable the client buffers publications (its `pending_size`) and resubscribes on
reconnect; what does not fit is counted in `dropped` and logged once per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ._subjects import check_prefix, pubsub_subject

logger = logging.getLogger(__name__)

LOG_EVERY_S: Final = 10.0
"""Failures of the pump are logged at most once per this interval, with a count."""


class NatsPubSub:
    """A `PubSubAdapter` (lightflow_actors.live) over `client`.

    ::

        client = await connect_cluster("nats://127.0.0.1:4222", node="a")
        hub = LiveHub(system, views, pubsub_adapter=NatsPubSub(client))

    `client` must have been connected with ``no_echo=True`` (`connect_cluster` does):
    otherwise a node would receive its own publications twice.
    """

    remote: bool = True

    def __init__(self, client: Client, *, prefix: str = "lf") -> None:
        if not client.options.get("no_echo"):
            raise ValueError(
                "the NATS client for pubsub must be connected with no_echo=True "
                "(use lightflow_actors.adapters.nats.connect_cluster)"
            )
        self._client = client
        self._prefix = check_prefix(prefix)
        self._deliver: Callable[[str, bytes], None] | None = None
        self._interested: set[str] = set()
        self._subscriptions: dict[str, Subscription] = {}
        self._ops: deque[tuple[str, str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._barriers: deque[asyncio.Future[None]] = deque()
        self.published = 0
        self.received = 0
        self.dropped = 0
        self._failures = 0
        self._last_log = float("-inf")

    # -- PubSubAdapter ----------------------------------------------------------------------

    def attach(self, deliver: Callable[[str, bytes], None]) -> None:
        self._deliver = deliver
        for topic in list(self._interested):  # a restarted server starts with no topics
            self.disinterest(topic)

    def interest(self, topic: str) -> None:
        if topic not in self._interested:
            self._interested.add(topic)
            self._queue("sub", topic, b"")

    def disinterest(self, topic: str) -> None:
        if topic in self._interested:
            self._interested.discard(topic)
            self._queue("unsub", topic, b"")

    def publish(self, topic: str, payload: bytes) -> None:
        self._queue("pub", topic, payload)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def topics(self) -> frozenset[str]:
        """The topics this node holds a NATS subscription for (or is about to)."""
        return frozenset(self._interested)

    async def flush(self) -> None:
        """Wait until every operation queued so far is handed to the client, then until
        the server has them (a round trip): after it, other nodes see them."""
        done = asyncio.get_running_loop().create_future()
        self._barriers.append(done)
        self._queue("barrier", "", b"")
        await done
        await self._client.flush()

    async def flush_quietly(self, timeout_s: float = 5.0) -> None:
        """`flush`, bounded and silent: for a stop, where NATS may already be gone."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout_s)

    async def close(self) -> None:
        """Stop the pump and drop every subscription (the client stays open)."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for subscription in self._subscriptions.values():
            try:
                await subscription.unsubscribe()
            except Exception:  # a closed connection has no subscriptions left to drop
                logger.debug("unsubscribe failed while closing", exc_info=True)
        self._subscriptions.clear()
        self._interested.clear()

    def rebind(self, client: Client) -> None:
        """Carry on over `client`, a new connection (the node's link restarted after its
        connection was lost): the old connection's subscriptions went with it, so every
        topic of interest is subscribed again; what the pump has queued goes to `client`."""
        if not client.options.get("no_echo"):
            raise ValueError("the NATS client for pubsub must be connected with no_echo=True")
        self._client = client
        self._subscriptions.clear()
        for topic in self._interested:
            self._queue("sub", topic, b"")

    # -- the pump ----------------------------------------------------------------------------

    def _queue(self, op: str, topic: str, payload: bytes) -> None:
        self._ops.append((op, topic, payload))
        self._wake.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run(), name="nats-pubsub")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ops:
                op, topic, payload = self._ops.popleft()
                try:
                    await self._perform(op, topic, payload)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failed(op, topic, exc)

    async def _perform(self, op: str, topic: str, payload: bytes) -> None:
        if op == "barrier":
            done = self._barriers.popleft()
            if not done.done():
                done.set_result(None)
        elif op == "pub":
            await self._client.publish(pubsub_subject(self._prefix, topic), payload)
            self.published += 1
        elif op == "sub":
            if topic in self._interested and topic not in self._subscriptions:
                self._subscriptions[topic] = await self._client.subscribe(
                    pubsub_subject(self._prefix, topic), cb=self._callback(topic)
                )
        elif topic not in self._interested:  # "unsub", unless interest came back meanwhile
            subscription = self._subscriptions.pop(topic, None)
            if subscription is not None:
                await subscription.unsubscribe()

    def _callback(self, topic: str) -> Callable[[Msg], Awaitable[None]]:
        async def arrived(msg: Msg) -> None:
            deliver = self._deliver
            if deliver is not None and topic in self._interested:
                self.received += 1
                deliver(topic, msg.data)

        return arrived

    def _failed(self, op: str, topic: str, exc: Exception) -> None:
        if op == "pub":
            self.dropped += 1
        self._failures += 1
        now = asyncio.get_running_loop().time()
        if now - self._last_log >= LOG_EVERY_S:
            logger.warning(
                "NATS pubsub: %s %r failed (%s: %s); %d failures, %d publications dropped so far",
                op,
                topic,
                type(exc).__name__,
                exc,
                self._failures,
                self.dropped,
            )
            self._last_log = now
