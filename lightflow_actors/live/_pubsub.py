"""PubSub: topics, subscribe/broadcast, local fan-out behind an adapter ready for a broker.

One `PubSubServer` actor per node keeps topic -> subscribers and monitors each
subscriber, so a crashed session leaves every topic without anyone unsubscribing.
Local fan-out passes the message object by reference (one `Delivery` shared by all
subscribers). A `PubSubAdapter` carries publications to other nodes: `LocalAdapter`
(one node, the default) does nothing; a broker adapter (NATS, Redis) encodes with
msgspec and calls back `deliver` for what other nodes published. `InMemoryBroker`
links several servers in one process and is the executable spec of that contract.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

import msgspec

from ..kernel import Actor, ActorRef, AnyRef, Ask, Down, MailboxFull, handler


class Delivery(msgspec.Struct, frozen=True):
    """What a subscriber receives: the topic and the published message."""

    topic: str
    message: object


class SubscribeTopic(msgspec.Struct, frozen=True):
    """Add `subscriber` to `topic` (idempotent)."""

    topic: str
    subscriber: ActorRef[Delivery]


class UnsubscribeTopic(msgspec.Struct, frozen=True):
    """Remove `subscriber` from `topic` (idempotent)."""

    topic: str
    subscriber: ActorRef[Delivery]


class Publish(msgspec.Struct, frozen=True):
    """Deliver `message` to every subscriber of `topic`, here and on other nodes (only
    here when `local`: Phoenix's `local_broadcast`, e.g. the presence diffs each node
    computes for its own views)."""

    topic: str
    message: object
    local: bool = False


class RemoteDelivery(msgspec.Struct, frozen=True):
    """A publication that arrived from another node through the adapter (msgspec bytes)."""

    topic: str
    payload: bytes


class CountSubscribers(Ask[int], frozen=True):
    """How many local subscribers `topic` has (0 for an unknown topic)."""

    topic: str


PubSubMessage = SubscribeTopic | UnsubscribeTopic | Publish | RemoteDelivery | CountSubscribers


class PubSubAdapter(Protocol):
    """Carries publications between nodes. Implementations must not block the loop.

    `attach` is called when the server starts (again after each restart, replacing the
    previous callback and forgetting every interest) with the function to call for every
    publication another node made (topic, msgspec-encoded message). `interest` is called
    when a topic gets its first local subscriber and `disinterest` when it loses its last:
    an adapter needs one broker subscription per topic per node, never one per
    subscriber, and may drop what arrives for a topic nobody here wants. `publish` sends
    this node's publication to the others; it must not echo it back here.
    """

    remote: bool
    """False for a single node: the server then skips encoding messages."""

    def attach(self, deliver: Callable[[str, bytes], None]) -> None: ...

    def interest(self, topic: str) -> None: ...

    def disinterest(self, topic: str) -> None: ...

    def publish(self, topic: str, payload: bytes) -> None: ...


class LocalAdapter:
    """The single-node adapter: nothing leaves this process."""

    remote: bool = False

    def attach(self, deliver: Callable[[str, bytes], None]) -> None:
        return None

    def interest(self, topic: str) -> None:
        return None

    def disinterest(self, topic: str) -> None:
        return None

    def publish(self, topic: str, payload: bytes) -> None:
        return None


class InMemoryBroker:
    """Links the pubsub servers of several systems in one process, as a broker would.

    >>> broker = InMemoryBroker()
    >>> node_a, node_b = broker.adapter(), broker.adapter()   # pass to each PubSubServer
    """

    def __init__(self) -> None:
        self._nodes: list[_BrokerNode] = []
        self.sent = 0
        """Publications handed to a node (what a broker would put on the wire)."""

    def adapter(self) -> _BrokerNode:
        node = _BrokerNode(self)
        self._nodes.append(node)
        return node

    def _fan_out(self, sender: _BrokerNode, topic: str, data: bytes) -> None:
        for node in self._nodes:
            if node is not sender and topic in node.topics and node.deliver is not None:
                self.sent += 1
                node.deliver(topic, data)


class _BrokerNode:
    remote: bool = True

    def __init__(self, broker: InMemoryBroker) -> None:
        self._broker = broker
        self.deliver: Callable[[str, bytes], None] | None = None
        self.topics: set[str] = set()

    def attach(self, deliver: Callable[[str, bytes], None]) -> None:
        self.deliver = deliver
        self.topics.clear()

    def interest(self, topic: str) -> None:
        self.topics.add(topic)

    def disinterest(self, topic: str) -> None:
        self.topics.discard(topic)

    def publish(self, topic: str, payload: bytes) -> None:
        self._broker._fan_out(self, topic, payload)


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder()


class PubSubServer(Actor[PubSubMessage | Down]):
    """The node's topic table.

    ::

        pubsub = system.spawn(PubSubServer)
        pubsub.tell(SubscribeTopic("room:1", session_ref))
        pubsub.tell(Publish("room:1", ChatMessage(...)))   # each subscriber gets a Delivery

    A message from another node arrives decoded to builtins (dicts, lists): typed
    messages do not survive a broker, so convert them with ``msgspec.convert``.
    """

    def __init__(self, adapter: PubSubAdapter | None = None) -> None:
        self.adapter: PubSubAdapter = adapter if adapter is not None else LocalAdapter()
        self.topics: dict[str, dict[AnyRef, ActorRef[Delivery]]] = {}
        # subscriber -> (monitor id, its topics): one monitor per subscriber, not per topic.
        self.watched: dict[AnyRef, tuple[int, set[str]]] = {}
        self.dropped = 0

    def on_start(self) -> None:
        ref = self.ref
        self.adapter.attach(lambda topic, payload: ref.tell(RemoteDelivery(topic, payload)))

    @handler
    def subscribe(self, msg: SubscribeTopic) -> None:
        subscriber = msg.subscriber
        if not subscriber.alive:
            return
        subscribers = self.topics.get(msg.topic)
        if subscribers is None:
            subscribers = self.topics[msg.topic] = {}
            self.adapter.interest(msg.topic)
        subscribers[subscriber] = subscriber
        entry = self.watched.get(subscriber)
        if entry is None:
            entry = (self.monitor(subscriber), set())
            self.watched[subscriber] = entry
        entry[1].add(msg.topic)

    @handler
    def unsubscribe(self, msg: UnsubscribeTopic) -> None:
        self._remove(msg.subscriber, msg.topic)
        entry = self.watched.get(msg.subscriber)
        if entry is not None:
            entry[1].discard(msg.topic)
            if not entry[1]:
                self.demonitor(entry[0])
                del self.watched[msg.subscriber]

    @handler
    def publish(self, msg: Publish) -> None:
        self._fan_out(msg.topic, msg.message)
        if self.adapter.remote and not msg.local:
            self.adapter.publish(msg.topic, _ENCODER.encode(msg.message))

    @handler
    def remote(self, msg: RemoteDelivery) -> None:
        try:
            message = _DECODER.decode(msg.payload)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return  # a broker delivered bytes no node of ours wrote: drop, never crash
        self._fan_out(msg.topic, message)

    @handler
    def count(self, msg: CountSubscribers) -> int:
        return len(self.topics.get(msg.topic, ()))

    @handler
    def down(self, msg: Down) -> None:
        entry = self.watched.pop(msg.actor, None)
        if entry is not None:
            for topic in entry[1]:
                self._remove(msg.actor, topic)

    def _fan_out(self, topic: str, message: object) -> None:
        subscribers = self.topics.get(topic)
        if not subscribers:
            return
        delivery = Delivery(topic, message)
        for subscriber in subscribers.values():
            try:
                subscriber.tell(delivery)
            except MailboxFull:
                # A subscriber with a bounded mailbox that is full misses this one;
                # the publisher and the other subscribers must not pay for it.
                self.dropped += 1

    def _remove(self, subscriber: AnyRef, topic: str) -> None:
        subscribers = self.topics.get(topic)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self.topics[topic]
                self.adapter.disinterest(topic)
