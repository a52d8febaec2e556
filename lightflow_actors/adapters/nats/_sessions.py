"""`NatsSessionStore`: live session snapshots in a JetStream key-value bucket.

The bucket (`lf_sessions` by default, one revision kept per key, entries expire after
`ttl_s`) maps `snapshot_key(session, view)` to a `SessionSnapshot` (msgspec MessagePack).
Ownership is fenced by the bucket's revision (specs/cluster.md §Sessions):

- `claim` reads the key and rewrites it with this node as owner, as a compare-and-set on
  the revision it read (`kv.update(last=...)`); two nodes claiming at once: one wins, the
  other reads again. The revision written is this node's.
- each write of the owner is a compare-and-set on the revision of its previous write (a
  `create` for a session never written). If another node claimed meanwhile the server
  refuses it (`KeyWrongLastSequenceError`) and the session's `fenced` callback gets a
  `StaleSessionOwner`.

Writes never block the session: `save` keeps the newest snapshot per key and a writer
task per key sends it (at most one write in flight per key, `max_in_flight` overall); a
snapshot saved while one is in flight replaces the pending one (coalescing). A write that
fails for another reason (NATS unreachable) is retried with backoff while the session
lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import msgspec
from nats.aio.client import Client
from nats.js.errors import (
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from lightflow_actors.live import (
    OnFenced,
    SessionSnapshot,
    SessionStoreUnavailable,
    StaleSessionOwner,
)

logger = logging.getLogger(__name__)

SESSIONS_BUCKET: Final = "lf_sessions"
DEFAULT_TTL_S: Final = 24 * 3600.0
CLAIM_ATTEMPTS: Final = 5
RETRY_S: Final = (0.05, 0.2, 0.5, 1.0, 2.0)

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(SessionSnapshot)


async def open_session_bucket(
    client: Client, *, bucket: str = SESSIONS_BUCKET, ttl_s: float = DEFAULT_TTL_S
) -> KeyValue:
    """The sessions bucket, created if absent. Raises `SessionStoreUnavailable` when the
    server has no JetStream (start it with ``-js``)."""
    js = client.jetstream()
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    except Exception as exc:  # nats-py: ServiceUnavailableError, NoRespondersError, timeouts
        raise _unavailable(bucket, exc) from None
    try:
        return await js.create_key_value(bucket=bucket, history=1, ttl=ttl_s)
    except Exception as exc:
        with contextlib.suppress(Exception):  # another node created it first
            return await js.key_value(bucket)
        raise _unavailable(bucket, exc) from None


def _unavailable(bucket: str, exc: BaseException) -> SessionStoreUnavailable:
    return SessionStoreUnavailable(
        f"the session bucket {bucket!r} cannot be opened ({type(exc).__name__}: {exc}); "
        "the NATS server needs JetStream (start it with -js)"
    )


class NatsSessionStore:
    """A `lightflow_actors.live.SessionStore` over a JetStream key-value bucket.

    ::

        kv = await open_session_bucket(client)
        hub = LiveHub(system, views, session_store=NatsSessionStore(kv, owner="a"))
    """

    def __init__(
        self,
        kv: KeyValue,
        owner: str,
        *,
        bucket: str = SESSIONS_BUCKET,
        max_in_flight: int = 64,
    ) -> None:
        self.kv = kv
        self.bucket = bucket
        self.owner = owner
        self.revisions: dict[str, int] = {}
        self._pending: dict[str, tuple[SessionSnapshot, OnFenced]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(max_in_flight)
        self.writes = 0
        self.coalesced = 0
        self.fenced = 0
        self.failures = 0

    async def claim(self, key: str) -> SessionSnapshot | None:
        kv = self.kv
        try:
            for _ in range(CLAIM_ATTEMPTS):
                try:
                    entry = await kv.get(key)
                except (KeyNotFoundError, KeyDeletedError):
                    self.revisions[key] = 0  # the first write creates it
                    return None
                previous = _decode(entry.value)
                if previous is None:  # unreadable: take the key over with the next write
                    self.revisions[key] = entry.revision or 0
                    return None
                claimed = msgspec.structs.replace(previous, owner=self.owner)
                try:
                    revision = await kv.update(key, _ENCODER.encode(claimed), last=entry.revision)
                except KeyWrongLastSequenceError:
                    continue  # another node claimed between our read and write: read again
                self.revisions[key] = revision
                return previous
        except SessionStoreUnavailable:
            raise
        except Exception as exc:  # NATS unreachable, timeouts
            raise SessionStoreUnavailable(
                f"session {key!r}: the sessions bucket did not answer ({type(exc).__name__}: {exc})"
            ) from None
        raise SessionStoreUnavailable(
            f"session {key!r}: claimed by others {CLAIM_ATTEMPTS} times while claiming it"
        )

    def save(self, key: str, snapshot: SessionSnapshot, fenced: OnFenced) -> None:
        if key not in self.revisions:
            return  # not claimed by this node (or released, or fenced already)
        if key in self._pending:
            self.coalesced += 1
        self._pending[key] = (snapshot, fenced)
        if key not in self._writers:
            task = asyncio.get_running_loop().create_task(self._write(key), name="lf-session-write")
            self._writers[key] = task

    def release(self, key: str) -> None:
        self.revisions.pop(key, None)
        # a write in flight finishes; nothing newer is written for a stopped session
        self._pending.pop(key, None)

    def rebind(self, kv: KeyValue) -> None:
        """Carry on over `kv`, the bucket opened on a new connection (the node's link
        restarted): snapshots not yet written go there; the fences (revisions) stay."""
        self.kv = kv

    async def flush(self) -> None:
        """Wait until every snapshot saved so far is written (tests, graceful stop)."""
        while self._writers:
            await asyncio.gather(*list(self._writers.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._writers.values()):
            task.cancel()
        for task in list(self._writers.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._writers.clear()
        self._pending.clear()

    async def _write(self, key: str) -> None:
        try:
            attempt = 0
            while True:
                taken = self._pending.pop(key, None)
                last = self.revisions.get(key)
                if taken is None or last is None:
                    return
                snapshot, fenced = taken
                data = _ENCODER.encode(snapshot)
                try:
                    async with self._slots:
                        if last == 0:
                            revision = await self.kv.create(key, data)
                        else:
                            revision = await self.kv.update(key, data, last=last)
                except KeyWrongLastSequenceError:
                    self.fenced += 1
                    self.revisions.pop(key, None)
                    self._pending.pop(key, None)
                    found = await self._revision_now(key)
                    fenced(StaleSessionOwner(key, self.owner, last, found))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.failures += 1
                    delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                    attempt += 1
                    if attempt == 1 or attempt % 10 == 0:
                        logger.warning(
                            "session %s: snapshot write failed (%s: %s); retrying",
                            key,
                            type(exc).__name__,
                            exc,
                        )
                    self._pending.setdefault(key, taken)  # unless a newer one came meanwhile
                    await asyncio.sleep(delay)
                    continue
                attempt = 0
                self.writes += 1
                if key in self.revisions:
                    self.revisions[key] = revision
        finally:
            self._writers.pop(key, None)

    async def _revision_now(self, key: str) -> int | None:
        try:
            return (await self.kv.get(key)).revision
        except Exception:
            return None


def _decode(data: bytes | None) -> SessionSnapshot | None:
    if not data:
        return None
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
