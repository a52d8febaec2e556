"""Session snapshots: where a live session's state outlives its node (specs/cluster.md).

A view whose rejoin policy is ``"rehydrate"`` (the default when the hub has a store) has
its state written to a `SessionStore` after each handled message that changed it; when
its browser rejoins, here after a restart or on another node, the session claims the
snapshot and the view continues from it instead of being mounted again.

Ownership is fenced by the store's revision: `claim` makes the caller the owner by a
compare-and-set on the revision it read, and every later write of that owner is a
compare-and-set on the revision of its previous write. Once another owner has claimed,
the old owner's next write is refused with `StaleSessionOwner` (through the `fenced`
callback), and its session stops.

`InMemorySessionStore` is the executable contract (several nodes in one process share
one `SessionBook`); `lightflow_actors.adapters.nats.NatsSessionStore` keeps snapshots in
a JetStream key-value bucket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import msgspec

from ._errors import SessionStoreUnavailable, StaleSessionOwner

OnFenced = Callable[[StaleSessionOwner], None]
"""Called (from any task) when a write was refused because another owner claimed."""


class SessionSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What is kept of a session: its view, its state (msgspec MessagePack of the view's
    state, transient fields left at their defaults), its topics and title, who wrote it."""

    view: str
    state: bytes
    topics: tuple[str, ...] = ()
    title: str | None = None
    owner: str = ""
    saved_ms: int = 0


def snapshot_key(session_id: str, view: str) -> str:
    """The store key of `view` in session `session_id` (a page can navigate between views
    on one session id; each keeps its own state). Only `[A-Za-z0-9_=-]` and `.`."""
    return f"{_token(session_id)}.{_token(view)}"


def _token(text: str) -> str:
    if text and all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
        return text
    return "=" + text.encode("utf-8", "surrogatepass").hex()


class SessionStore(Protocol):
    """Keeps session snapshots for a node; `owner` names this node in what it writes."""

    owner: str

    async def claim(self, key: str) -> SessionSnapshot | None:
        """Become the owner of `key` (fenced); its last snapshot, or None. Raises
        `SessionStoreUnavailable` when the store cannot be reached."""
        ...

    def save(self, key: str, snapshot: SessionSnapshot, fenced: OnFenced) -> None:
        """Queue `snapshot` as the latest state of `key` (never blocks; a newer snapshot
        replaces one not yet written). A refusal by fencing calls `fenced`."""
        ...

    def release(self, key: str) -> None:
        """This node's session of `key` stopped: forget its revision (the snapshot stays)."""
        ...


class _Record(msgspec.Struct, frozen=True):
    snapshot: SessionSnapshot
    revision: int


class SessionBook:
    """The shared storage of `InMemorySessionStore`s (what a key-value bucket would be)."""

    def __init__(self) -> None:
        self.records: dict[str, _Record] = {}
        self.revision = 0
        self.available = True

    def get(self, key: str) -> _Record | None:
        self._check()
        return self.records.get(key)

    def update(self, key: str, snapshot: SessionSnapshot, last: int) -> int:
        """Write if the key's revision is `last` (0: absent); the new revision."""
        self._check()
        record = self.records.get(key)
        found = record.revision if record is not None else 0
        if found != last:
            raise StaleSessionOwner(key, snapshot.owner, last, found or None)
        self.revision += 1
        self.records[key] = _Record(snapshot, self.revision)
        return self.revision

    def _check(self) -> None:
        if not self.available:
            raise SessionStoreUnavailable("the session book is unavailable")


class InMemorySessionStore:
    """A node's store over a `SessionBook`; writes happen on the next loop turn, in order.

    >>> book = SessionBook()
    >>> node_a, node_b = InMemorySessionStore(book, "a"), InMemorySessionStore(book, "b")
    """

    def __init__(self, book: SessionBook, owner: str) -> None:
        self.book = book
        self.owner = owner
        self.revisions: dict[str, int] = {}
        self.writes = 0

    async def claim(self, key: str) -> SessionSnapshot | None:
        record = self.book.get(key)
        if record is None:
            self.revisions[key] = 0
            return None
        claimed = msgspec.structs.replace(record.snapshot, owner=self.owner)
        self.revisions[key] = self.book.update(key, claimed, record.revision)
        return record.snapshot

    def save(self, key: str, snapshot: SessionSnapshot, fenced: OnFenced) -> None:
        asyncio.get_running_loop().call_soon(self._write, key, snapshot, fenced)

    def release(self, key: str) -> None:
        self.revisions.pop(key, None)

    def _write(self, key: str, snapshot: SessionSnapshot, fenced: OnFenced) -> None:
        last = self.revisions.get(key)
        if last is None:
            return  # released meanwhile
        try:
            self.revisions[key] = self.book.update(key, snapshot, last)
            self.writes += 1
        except StaleSessionOwner as error:
            self.revisions.pop(key, None)
            fenced(error)
