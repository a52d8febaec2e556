"""Presence: who is on a topic, with join/leave diffs; a crashed session leaves by itself.

One `PresenceServer` actor per node holds topic -> key -> entries. Tracking
monitors the owner (a session), so an owner that exits for any reason, a crash or
a kill included, is removed and a leave diff goes out. The tracker receives the
full `PresenceState` at once; every subscriber of the topic then receives each
`PresenceDiff` through PubSub. `apply_diff` folds a diff into a state (idempotent,
so a diff that raced with the snapshot is harmless). Phoenix.Presence is the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import msgspec

from ..kernel import Actor, ActorRef, AnyRef, Ask, Down, MailboxFull, handler
from ._commands import MetaValue
from ._pubsub import Delivery, Publish


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
    """Ask for everyone on `topic` (operators, tests)."""

    topic: str


PresenceMessage = TrackPresence | UntrackPresence | ListPresences | GetPresences


class PresenceServer(Actor[PresenceMessage | Down]):
    """The node's presence table; diffs are published on the tracked topic itself.

    ::

        presence = system.spawn(lambda: PresenceServer(pubsub))
        presence.tell(TrackPresence("room:1", "ada", {"name": "Ada"}, session_ref))
    """

    def __init__(self, pubsub: ActorRef[Publish]) -> None:
        self.pubsub = pubsub
        self.topics: dict[str, dict[str, dict[str, PresenceEntry]]] = {}
        # owner -> (monitor id, [(topic, key, ref)]): a Down removes exactly these.
        self.owners: dict[AnyRef, tuple[int, list[tuple[str, str, str]]]] = {}
        self.seq = 0

    @handler
    def track(self, msg: TrackPresence) -> None:
        owner = msg.owner
        if not owner.alive:
            return
        self.seq += 1
        entry = PresenceEntry(f"{owner.id}.{self.seq}", dict(msg.meta))
        self.topics.setdefault(msg.topic, {}).setdefault(msg.key, {})[entry.ref] = entry
        held = self.owners.get(owner)
        if held is None:
            held = (self.monitor(owner), [])
            self.owners[owner] = held
        held[1].append((msg.topic, msg.key, entry.ref))
        self._tell(owner, Delivery(msg.topic, PresenceState(msg.topic, self._snapshot(msg.topic))))
        self.pubsub.tell(Publish(msg.topic, PresenceDiff(msg.topic, joins={msg.key: (entry,)})))

    @handler
    def untrack(self, msg: UntrackPresence) -> None:
        held = self.owners.get(msg.owner)
        if held is None:
            return
        mine = [t for t in held[1] if t[0] == msg.topic and t[1] == msg.key]
        held[1][:] = [t for t in held[1] if t not in mine]
        if not held[1]:
            self.demonitor(held[0])
            del self.owners[msg.owner]
        self._leave(mine)

    @handler
    def list_presences(self, msg: ListPresences) -> None:
        self._tell(
            msg.reply_to, Delivery(msg.topic, PresenceState(msg.topic, self._snapshot(msg.topic)))
        )

    @handler
    def get(self, msg: GetPresences) -> dict[str, tuple[PresenceEntry, ...]]:
        return self._snapshot(msg.topic)

    @handler
    def down(self, msg: Down) -> None:
        held = self.owners.pop(msg.actor, None)
        if held is not None:
            self._leave(held[1])

    def _leave(self, tracked: list[tuple[str, str, str]]) -> None:
        leaves: dict[str, dict[str, list[PresenceEntry]]] = {}
        for topic, key, ref in tracked:
            keys = self.topics.get(topic)
            if keys is None or key not in keys:
                continue
            entry = keys[key].pop(ref, None)
            if entry is None:
                continue
            leaves.setdefault(topic, {}).setdefault(key, []).append(entry)
            if not keys[key]:
                del keys[key]
                if not keys:
                    del self.topics[topic]
        for topic, by_key in leaves.items():
            diff = PresenceDiff(topic, leaves={k: tuple(v) for k, v in by_key.items()})
            self.pubsub.tell(Publish(topic, diff))

    def _snapshot(self, topic: str) -> dict[str, tuple[PresenceEntry, ...]]:
        keys = self.topics.get(topic, {})
        return {key: tuple(entries.values()) for key, entries in keys.items()}

    def _tell(self, target: ActorRef[Delivery], message: Delivery) -> None:
        try:
            target.tell(message)
        except MailboxFull:
            return  # a full bounded mailbox misses the snapshot; it can ListPresence again
