"""Presence: who is on a topic, with join/leave diffs, on one node or across a cluster.

One `PresenceServer` actor per node is a replica of the cluster's presence table, a
delta-CRDT (`PresenceSet`, after Phoenix.Tracker). Tracking monitors the owner (a
session), so an owner that exits for any reason is removed. The tracker receives the
full `PresenceState` at once; every subscriber of the topic receives `PresenceDiff`s
through the local pubsub, **batched** per `diff_interval` (one diff per topic per
interval, whatever the number of joins in it). `apply_diff` folds a diff into a state
(idempotent, so a diff that raced with the snapshot is harmless).

In a cluster (the pubsub's adapter is remote) the server replicates: every
`broadcast_period` it publishes its delta (or, when silent long enough, an empty
heartbeat) on `lf:presence`; a peer that finds a gap asks for the whole state on the
sender's own topic; a replica silent for `down_period` is down (its presences leave the
views) and after `permdown_period` it is forgotten. specs/presence.md is normative.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, Literal, TypeAlias

import msgspec

from ..kernel import Actor, ActorRef, AnyRef, Ask, Down, MailboxFull, Timer, handler
from ._commands import MetaValue
from ._orswot import Dot, PresenceSet, Tracked, WireSet, from_wire, to_wire
from ._pubsub import Delivery, Publish, PubSubMessage, SubscribeTopic

logger = logging.getLogger(__name__)


class PresenceEntry(msgspec.Struct, frozen=True):
    """One tracking: `ref` is unique per track call (two tabs of one user: two refs)."""

    ref: str
    meta: Mapping[str, MetaValue]


Presences: TypeAlias = Mapping[str, tuple[PresenceEntry, ...]]
"""key -> its entries, oldest first."""


class PresenceState(msgspec.Struct, frozen=True):
    """Everyone on `topic` now (sent to a tracker when it tracks, or on `ListPresence`)."""

    topic: str
    presences: Presences


class PresenceDiff(msgspec.Struct, frozen=True):
    """What changed on `topic`: entries that joined and entries that left, by key."""

    topic: str
    joins: Presences = msgspec.field(default_factory=dict)
    leaves: Presences = msgspec.field(default_factory=dict)


def apply_diff(presences: Presences, diff: PresenceDiff) -> dict[str, tuple[PresenceEntry, ...]]:
    """`presences` after `diff`: leaves first, then joins; known refs are not added twice.

    >>> a = PresenceEntry("1.1", {"name": "ada"})
    >>> state = apply_diff({}, PresenceDiff("room", joins={"ada": (a,)}))
    >>> sorted(state)
    ['ada']
    >>> apply_diff(state, PresenceDiff("room", leaves={"ada": (a,)}))
    {}
    """
    out = dict(presences)
    for key, left in diff.leaves.items():
        gone = {entry.ref for entry in left}
        remaining = tuple(e for e in out.get(key, ()) if e.ref not in gone)
        if remaining:
            out[key] = remaining
        else:
            out.pop(key, None)
    for key, joined in diff.joins.items():
        held = out.get(key, ())
        refs = {e.ref for e in held}
        added: list[PresenceEntry] = []
        for entry in joined:
            if entry.ref not in refs:
                refs.add(entry.ref)
                added.append(entry)
        if added:
            out[key] = held + tuple(added)
    return out


class PresenceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Timings of the presence tracker (seconds; Phoenix.Tracker's defaults).

    - `diff_interval`: local diffs are batched this long (0: one diff per change).
    - `broadcast_period`: a replica sends its delta to its peers this often.
    - `max_silent_periods`: with nothing to send, a heartbeat goes out every this many
      periods anyway, so peers know the replica is alive.
    - `down_period`: a peer not heard from this long is down: its presences leave.
    - `permdown_period`: a peer not heard from this long is forgotten (its entries and
      clock dropped); heard again, it is a new peer and its state is transferred.
    """

    diff_interval: float = 0.05
    broadcast_period: float = 1.5
    max_silent_periods: int = 10
    down_period: float | None = None
    permdown_period: float = 1200.0

    def __post_init__(self) -> None:
        if self.diff_interval < 0 or not self.broadcast_period > 0:
            raise ValueError(
                "PresenceConfig needs diff_interval >= 0 and broadcast_period > 0, got "
                f"{self.diff_interval!r} and {self.broadcast_period!r}"
            )
        if self.max_silent_periods < 1:
            raise ValueError("PresenceConfig.max_silent_periods must be >= 1")
        if self.down_after < 2 * self.broadcast_period:
            raise ValueError(
                "PresenceConfig.down_period must be at least twice the broadcast_period"
            )
        if self.permdown_period <= self.down_after:
            raise ValueError("PresenceConfig.permdown_period must be longer than down_period")

    @property
    def down_after(self) -> float:
        """`down_period`, by default twice the longest silence a live peer keeps."""
        if self.down_period is not None:
            return self.down_period
        return self.broadcast_period * self.max_silent_periods * 2


class TrackPresence(msgspec.Struct, frozen=True):
    """Add an entry for `owner` under `key` on `topic`."""

    topic: str
    key: str
    meta: Mapping[str, MetaValue]
    owner: ActorRef[Delivery]


class UntrackPresence(msgspec.Struct, frozen=True):
    """Remove `owner`'s entries under `key` on `topic`."""

    topic: str
    key: str
    owner: ActorRef[Delivery]


class ListPresences(msgspec.Struct, frozen=True):
    """Send `reply_to` a `Delivery(topic, PresenceState)`."""

    topic: str
    reply_to: ActorRef[Delivery]


class GetPresences(Ask[dict[str, tuple[PresenceEntry, ...]]], frozen=True):
    """Ask for everyone on `topic` (operators, tests): the presences of live replicas."""

    topic: str


ReplicaStatus: TypeAlias = Literal["up", "down"]


class ReplicaInfo(msgspec.Struct, frozen=True):
    """A peer replica as this node sees it."""

    replica: str
    node: str
    status: ReplicaStatus
    silent_for: float
    entries: int


class TrackerInfo(msgspec.Struct, frozen=True):
    """What an operator sees of the node's tracker."""

    replica: str
    node: str
    replicating: bool
    entries: int
    clock: dict[str, int]
    peers: tuple[ReplicaInfo, ...]
    deltas_sent: int
    transfers_sent: int
    transfers_asked: int
    dropped: int


class GetTrackerInfo(Ask[TrackerInfo], frozen=True):
    """Ask the presence server for its replica, its peers and its counters."""


class _FlushDiffs(msgspec.Struct, frozen=True):
    """Timer: publish the local diffs batched so far."""


class _Heartbeat(msgspec.Struct, frozen=True):
    """Timer: one broadcast period has passed."""


PresenceMessage = TrackPresence | UntrackPresence | ListPresences | GetPresences | GetTrackerInfo


# -- what replicas publish to each other (specs/presence.md §Wire) -------------------------

REPLICATION_TOPIC: Final = "lf:presence"
"""Every replica subscribes; heartbeats (with deltas) and goodbyes go here."""


def replica_topic(replica: str) -> str:
    """The topic only `replica` subscribes to: state transfers asked of it, or for it."""
    return f"lf:presence:{replica}"


class Heartbeat(msgspec.Struct, frozen=True, tag="lf.presence.heartbeat"):
    """`replica` (of `node`) is alive; `clock` is its context's base; `delta` what changed."""

    replica: str
    node: str
    clock: dict[str, int]
    delta: WireSet | None = None


class TransferRequest(msgspec.Struct, frozen=True, tag="lf.presence.transfer_req"):
    """`replica` found a gap: the receiver answers with its whole state."""

    replica: str
    node: str


class TransferAck(msgspec.Struct, frozen=True, tag="lf.presence.transfer_ack"):
    """The whole state of `replica`, for the replica that asked."""

    replica: str
    node: str
    state: WireSet


class Goodbye(msgspec.Struct, frozen=True, tag="lf.presence.goodbye"):
    """`replica` stops: forget it now instead of after `permdown_period`."""

    replica: str
    node: str


Replication = Heartbeat | TransferRequest | TransferAck | Goodbye


class _Peer:
    __slots__ = ("asked_at", "last_heard", "node", "status")

    def __init__(self, node: str, now: float) -> None:
        self.node = node
        self.status: ReplicaStatus = "up"
        self.last_heard = now
        self.asked_at = float("-inf")


class PresenceServer(Actor[PresenceMessage | Delivery | Down | _FlushDiffs | _Heartbeat]):
    """The node's presence replica; diffs are published on the tracked topic itself.

    ::

        presence = system.spawn(lambda: PresenceServer(pubsub))
        presence.tell(TrackPresence("room:1", "ada", {"name": "Ada"}, session_ref))

    With ``replicate=True`` (the hub sets it when its pubsub crosses nodes) the server
    replicates its table to the other nodes' servers through the pubsub.
    """

    def __init__(
        self,
        pubsub: ActorRef[PubSubMessage],
        config: PresenceConfig | None = None,
        *,
        node: str = "node",
        replicate: bool = False,
    ) -> None:
        self.pubsub = pubsub
        self.config = config if config is not None else PresenceConfig()
        self.node = node
        self.replicate = replicate
        self.replica = node
        self.set = PresenceSet(node, track_delta=replicate)
        # owner -> (monitor id, its dots): a Down removes exactly these.
        self.owners: dict[AnyRef, tuple[int, list[Dot]]] = {}
        self.peers: dict[str, _Peer] = {}
        # topic -> (joins by dot, leaves by dot) not yet published to the views
        self.pending: dict[str, tuple[dict[Dot, Tracked], dict[Dot, Tracked]]] = {}
        self.flush_timer: Timer | None = None
        self.silent_periods = 0
        self.deltas_sent = 0
        self.transfers_sent = 0
        self.transfers_asked = 0
        self.dropped = 0

    def on_start(self) -> None:
        if not self.replicate:
            return
        # A new incarnation is a new replica: peers forget the one a restart replaced.
        self.replica = f"{self.node}:{self.system.random.getrandbits(48):012x}"
        self.set = PresenceSet(self.replica)
        self.pubsub.tell(SubscribeTopic(REPLICATION_TOPIC, self.ref))
        self.pubsub.tell(SubscribeTopic(replica_topic(self.replica), self.ref))
        # The first heartbeat goes out soon, stuttered so that nodes started together
        # do not all speak at once; then one per period.
        first = self.config.broadcast_period * self.system.random.random() * 0.25
        self.send_after(first, self.ref, _Heartbeat())
        self.silent_periods = self.config.max_silent_periods

    def on_stop(self, reason: object) -> None:
        if self.replicate:
            self._publish(REPLICATION_TOPIC, Goodbye(self.replica, self.node))

    # -- local presences --------------------------------------------------------------

    @handler
    def track(self, msg: TrackPresence) -> None:
        owner = msg.owner
        if not owner.alive:
            return
        tracked = Tracked(msg.topic, msg.key, dict(msg.meta))
        dot = self.set.add(tracked)
        held = self.owners.get(owner)
        if held is None:
            held = (self.monitor(owner), [])
            self.owners[owner] = held
        held[1].append(dot)
        self._report([(dot, tracked)], [])
        self._tell(owner, Delivery(msg.topic, PresenceState(msg.topic, self._snapshot(msg.topic))))

    @handler
    def untrack(self, msg: UntrackPresence) -> None:
        held = self.owners.get(msg.owner)
        if held is None:
            return
        entries = self.set.entries
        mine = [
            d for d in held[1] if (t := entries.get(d)) is not None
            and t.topic == msg.topic and t.key == msg.key
        ]  # fmt: skip
        held[1][:] = [d for d in held[1] if d not in mine]
        if not held[1]:
            self.demonitor(held[0])
            del self.owners[msg.owner]
        self._remove(mine)

    @handler
    def list_presences(self, msg: ListPresences) -> None:
        self._tell(
            msg.reply_to, Delivery(msg.topic, PresenceState(msg.topic, self._snapshot(msg.topic)))
        )

    @handler
    def get(self, msg: GetPresences) -> dict[str, tuple[PresenceEntry, ...]]:
        return self._snapshot(msg.topic)

    @handler
    def info(self, msg: GetTrackerInfo) -> TrackerInfo:
        now = self.system.clock.now()
        counts: dict[str, int] = {}
        for replica, _ in self.set.entries:
            counts[replica] = counts.get(replica, 0) + 1
        return TrackerInfo(
            replica=self.replica,
            node=self.node,
            replicating=self.replicate,
            entries=len(self.set),
            clock=dict(self.set.context.base),
            peers=tuple(
                ReplicaInfo(r, p.node, p.status, now - p.last_heard, counts.get(r, 0))
                for r, p in sorted(self.peers.items())
            ),
            deltas_sent=self.deltas_sent,
            transfers_sent=self.transfers_sent,
            transfers_asked=self.transfers_asked,
            dropped=self.dropped,
        )

    @handler
    def down(self, msg: Down) -> None:
        held = self.owners.pop(msg.actor, None)
        if held is not None:
            self._remove(held[1])

    # -- batching of local diffs --------------------------------------------------------

    @handler
    def flush(self, msg: _FlushDiffs) -> None:
        self.flush_timer = None
        pending, self.pending = self.pending, {}
        for topic, (joins, leaves) in pending.items():
            if joins or leaves:
                self._publish_diff(topic, joins, leaves)

    def _report(self, joined: list[tuple[Dot, Tracked]], left: list[tuple[Dot, Tracked]]) -> None:
        """Views learn of `joined` and `left` (entries of replicas they may see)."""
        visible = self._visible
        joined = [(d, t) for d, t in joined if visible(d[0])]
        left = [(d, t) for d, t in left if visible(d[0])]
        if not (joined or left):
            return
        if self.config.diff_interval == 0:
            by_topic: dict[str, tuple[dict[Dot, Tracked], dict[Dot, Tracked]]] = {}
            for dot, tracked in joined:
                by_topic.setdefault(tracked.topic, ({}, {}))[0][dot] = tracked
            for dot, tracked in left:
                by_topic.setdefault(tracked.topic, ({}, {}))[1][dot] = tracked
            for topic, (joins, leaves) in by_topic.items():
                self._publish_diff(topic, joins, leaves)
            return
        for dot, tracked in joined:
            joins, leaves = self.pending.setdefault(tracked.topic, ({}, {}))
            if leaves.pop(dot, None) is None:  # left and back (a peer down, then up): no news
                joins[dot] = tracked
        for dot, tracked in left:
            joins, leaves = self.pending.setdefault(tracked.topic, ({}, {}))
            if joins.pop(dot, None) is None:  # joined and left within one batch: no news
                leaves[dot] = tracked
        if self.flush_timer is None:
            self.flush_timer = self.send_after(self.config.diff_interval, self.ref, _FlushDiffs())

    def _publish_diff(
        self, topic: str, joins: Mapping[Dot, Tracked], leaves: Mapping[Dot, Tracked]
    ) -> None:
        diff = PresenceDiff(topic, joins=_by_key(joins), leaves=_by_key(leaves))
        self.pubsub.tell(Publish(topic, diff, local=True))

    def _remove(self, dots: list[Dot]) -> None:
        left: list[tuple[Dot, Tracked]] = []
        for dot in dots:
            tracked = self.set.remove(dot)
            if tracked is not None:
                left.append((dot, tracked))
        self._report([], left)

    # -- replication --------------------------------------------------------------------

    @handler
    def heartbeat(self, msg: _Heartbeat) -> None:
        config = self.config
        delta = self.set.reset_delta()
        if delta is not None:
            self._publish(REPLICATION_TOPIC, self._heartbeat(to_wire(delta)))
            self.deltas_sent += 1
            self.silent_periods = 0
        elif self.silent_periods + 1 >= config.max_silent_periods:
            self._publish(REPLICATION_TOPIC, self._heartbeat(None))
            self.silent_periods = 0
        else:
            self.silent_periods += 1
        now = self.system.clock.now()
        for replica, peer in list(self.peers.items()):
            silent = now - peer.last_heard
            if silent > config.permdown_period:
                self._forget(replica)
            elif silent > config.down_after and peer.status == "up":
                peer.status = "down"
                logger.info("presence: replica %s (node %s) is down", replica, peer.node)
                self._report_replica(replica, "down")
        self.send_after(config.broadcast_period, self.ref, _Heartbeat())

    @handler
    def replication(self, msg: Delivery) -> None:
        if not self.replicate or msg.topic not in (
            REPLICATION_TOPIC, replica_topic(self.replica)
        ):  # fmt: skip
            return
        message = msg.message
        if not isinstance(message, Heartbeat | TransferRequest | TransferAck | Goodbye):
            try:
                message = msgspec.convert(message, Replication)
            except (msgspec.ValidationError, TypeError):
                self.dropped += 1  # not from a replica of ours: drop, never crash
                return
        if message.replica == self.replica:
            return  # our own publication, fanned out back to us locally
        match message:
            case Heartbeat():
                self._heard(message.replica, message.node)
                if message.delta is not None:
                    self._join(from_wire(message.delta, self.replica))
                self._compare(message.replica, message.clock)
            case TransferRequest():
                self._heard(message.replica, message.node)
                self.transfers_sent += 1
                reply = TransferAck(self.replica, self.node, to_wire(self.set))
                self._publish(replica_topic(message.replica), reply)
            case TransferAck():
                self._heard(message.replica, message.node)
                self._join(from_wire(message.state, self.replica))
            case Goodbye():
                if message.replica in self.peers:
                    self._forget(message.replica)

    def _heartbeat(self, delta: WireSet | None) -> Heartbeat:
        return Heartbeat(self.replica, self.node, dict(self.set.context.base), delta)

    def _heard(self, replica: str, node: str) -> None:
        now = self.system.clock.now()
        peer = self.peers.get(replica)
        if peer is None:
            # The same node under another incarnation: that one restarted, forget the old.
            for old, known in list(self.peers.items()):
                if known.node == node:
                    self._forget(old)
            self.peers[replica] = _Peer(node, now)
            logger.info("presence: replica %s (node %s) is up", replica, node)
            return
        peer.last_heard = now
        if peer.status == "down":
            peer.status = "up"
            logger.info("presence: replica %s (node %s) is up again", replica, node)
            self._report_replica(replica, "up")

    def _join(self, remote: PresenceSet) -> None:
        known = {self.replica, *self.peers}
        joined, left = self.set.join(remote.restricted(known))
        # A peer cannot remove this replica's entries (they are removed here first).
        self._report(joined, left)

    def _compare(self, sender: str, clock: Mapping[str, int]) -> None:
        """Ask `sender` for its state when its clock shows changes this replica missed."""
        base = self.set.context.base
        behind = any(
            n > base.get(r, 0)
            for r, n in clock.items()
            if r != self.replica and (r == sender or self._visible(r))
        )
        peer = self.peers.get(sender)
        if not behind or peer is None:
            return
        now = self.system.clock.now()
        if now - peer.asked_at < self.config.broadcast_period:
            return  # one request per period: the answer may be on its way
        peer.asked_at = now
        self.transfers_asked += 1
        self._publish(replica_topic(sender), TransferRequest(self.replica, self.node))

    def _report_replica(self, replica: str, status: ReplicaStatus) -> None:
        entries = self.set.of_replica(replica)
        if status == "up":
            self._report(entries, [])
        else:
            self._report_hidden(entries)

    def _report_hidden(self, entries: list[tuple[Dot, Tracked]]) -> None:
        """Leaves for entries of a replica that just went down (no longer visible)."""
        if not entries:
            return
        if self.config.diff_interval == 0:
            by_topic: dict[str, dict[Dot, Tracked]] = {}
            for dot, tracked in entries:
                by_topic.setdefault(tracked.topic, {})[dot] = tracked
            for topic, leaves in by_topic.items():
                self._publish_diff(topic, {}, leaves)
            return
        for dot, tracked in entries:
            joins, leaves = self.pending.setdefault(tracked.topic, ({}, {}))
            if joins.pop(dot, None) is None:
                leaves[dot] = tracked
        if self.flush_timer is None:
            self.flush_timer = self.send_after(self.config.diff_interval, self.ref, _FlushDiffs())

    def _forget(self, replica: str) -> None:
        peer = self.peers.pop(replica, None)
        gone = self.set.forget_replica(replica)
        if peer is not None and peer.status == "up":
            self._report_hidden(gone)
        logger.info("presence: replica %s forgotten (%d presences)", replica, len(gone))

    # -- helpers ------------------------------------------------------------------------

    def _visible(self, replica: str) -> bool:
        if replica == self.replica:
            return True
        peer = self.peers.get(replica)
        return peer is not None and peer.status == "up"

    def _snapshot(self, topic: str) -> dict[str, tuple[PresenceEntry, ...]]:
        out: dict[str, list[PresenceEntry]] = {}
        visible = self._visible
        for dot, tracked in self.set.on_topic(topic):
            if visible(dot[0]):
                out.setdefault(tracked.key, []).append(_entry(dot, tracked))
        return {key: tuple(entries) for key, entries in out.items()}

    def _publish(self, topic: str, message: Replication) -> None:
        self.pubsub.tell(Publish(topic, message))

    def _tell(self, target: ActorRef[Delivery], message: Delivery) -> None:
        try:
            target.tell(message)
        except MailboxFull:
            return  # a full bounded mailbox misses the snapshot; it can ListPresence again


def _entry(dot: Dot, tracked: Tracked) -> PresenceEntry:
    return PresenceEntry(f"{dot[0]}/{dot[1]}", tracked.meta)


def _by_key(entries: Mapping[Dot, Tracked]) -> dict[str, tuple[PresenceEntry, ...]]:
    out: dict[str, list[PresenceEntry]] = {}
    for dot, tracked in entries.items():
        out.setdefault(tracked.key, []).append(_entry(dot, tracked))
    return {key: tuple(v) for key, v in out.items()}
