"""Leases fenced by revision in the `lf_leases` bucket: who owns a thing (a run) in the cluster.

The owner of a key is whoever wrote its latest revision. `acquire` creates the key
(`kv.create`); if another node holds it, it is taken over only when the caller says that
node is down (`holder_down`), by compare-and-set on the revision read. Every later
`confirm` of the owner (before it makes an effect visible: a step's answer committed) is a
compare-and-set on its own previous revision, so an owner whose lease was taken over
learns it at its next confirmation (`LeaseLost`) and makes nothing more visible. No
clocks are compared between nodes; liveness comes from the caller's node-down signal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.js.errors import (
    APIError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from lightflow_actors.kernel import LightflowError

from ._buckets import open_bucket

LEASES_BUCKET: Final = "lf_leases"


class LeaseRecord(msgspec.Struct, frozen=True):
    owner: str
    epoch: int = 0  # how many times the lease changed hands


class LeaseHeld(LightflowError):
    """The lease is held by a node that is not down."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"lease {key!r} is held by node {owner!r}, which is up")
        self.key, self.owner = key, owner


class LeaseLost(LightflowError):
    """This node's lease was taken over (or deleted): it must make nothing more visible."""

    def __init__(self, key: str, expected: int | None) -> None:
        super().__init__(f"lease {key!r} is no longer held here (our revision {expected})")
        self.key, self.expected = key, expected


_decoder = msgspec.msgpack.Decoder(LeaseRecord)
_WRONG_LAST: Final = (10071, 10164)  # JetStream's wrong-last-sequence error codes


def _decode(data: bytes | None) -> LeaseRecord | None:
    try:
        return _decoder.decode(data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


class NatsLeases:
    """This node's leases in `kv` (keys as NATS KV keys, e.g. `run.<id>`)."""

    def __init__(self, kv: KeyValue, node: str) -> None:
        self.kv, self.node = kv, node
        self.held: dict[str, tuple[int, int]] = {}  # key -> (revision, epoch)

    async def acquire(self, key: str, *, holder_down: Callable[[str], bool]) -> int:
        """Hold `key` (its revision): created, already ours, or taken from a down node."""
        if key in self.held:
            return self.held[key][0]
        for _ in range(3):
            try:
                revision = await self.kv.create(key, msgspec.msgpack.encode(LeaseRecord(self.node)))
                self.held[key] = (revision, 0)
                return revision
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue  # released meanwhile: create again
            record = _decode(entry.value)
            owner = record.owner if record is not None else "?"
            if record is not None and owner != self.node and not holder_down(owner):
                raise LeaseHeld(key, owner)
            epoch = (record.epoch if record is not None else 0) + 1
            value = msgspec.msgpack.encode(LeaseRecord(self.node, epoch))
            try:
                revision = await self.kv.update(key, value, last=entry.revision)
            except KeyWrongLastSequenceError:
                raise LeaseHeld(key, "another node (taken meanwhile)") from None
            self.held[key] = (revision, epoch)
            return revision
        raise LeaseHeld(key, "another node (contended)")

    async def confirm(self, key: str) -> int:
        """Still ours? Rewrites the lease on our own revision (`LeaseLost` if it moved)."""
        held = self.held.get(key)
        if held is None:
            raise LeaseLost(key, None)
        revision, epoch = held
        value = msgspec.msgpack.encode(LeaseRecord(self.node, epoch))
        try:
            revision = await self.kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            # Our own earlier confirm may have been applied with its answer lost (the
            # connection broke): the lease then holds exactly our record, which no other
            # node writes (a takeover writes its node and the next epoch).
            try:
                entry = await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                entry = None
            if entry is None or entry.value != value or entry.revision is None:
                del self.held[key]
                raise LeaseLost(key, held[0]) from None
            revision = entry.revision
        self.held[key] = (revision, epoch)
        return revision

    async def release(self, key: str) -> bool:
        """Give `key` up (deleted on our revision only: a taken-over lease stays theirs).

        The lease is forgotten here only once NATS answered: deleted (True) or no longer
        on our revision (False: taken over, or our own delete applied with its answer
        lost). A delete that fails otherwise (NATS away, a timeout) raises and leaves the
        lease held, as it still is in the bucket: `confirm` and another `release` keep
        working on it, and no later `acquire` of this node mistakes it for another's."""
        held = self.held.get(key)
        if held is None:
            return False
        try:
            await self.kv.delete(key, last=held[0])
        except KeyWrongLastSequenceError:
            self._forget(key, held)
            return False
        except APIError as exc:  # nats-py raises a delete's wrong last revision untranslated
            if exc.err_code in _WRONG_LAST:
                self._forget(key, held)
                return False
            raise
        self._forget(key, held)
        return True

    def _forget(self, key: str, held: tuple[int, int]) -> None:
        # Only the holding the delete was for: a confirm during the await moved it on.
        if self.held.get(key) == held:
            del self.held[key]


async def open_lease_bucket(client: Client, *, bucket: str = LEASES_BUCKET) -> KeyValue:
    """The leases bucket (history 1), created if absent."""
    return await open_bucket(client, bucket)
