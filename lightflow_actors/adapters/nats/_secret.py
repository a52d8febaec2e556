"""The cluster's live token key: one for every node, kept in the `lf_cluster` bucket.

A page's join token is signed by the node that served the page (specs/live-wire.md); a
browser whose node died rejoins another node, which must accept that token. So in a
cluster the key is not each node's key file but one value in the key-value bucket
`lf_cluster` (key `live-token-key`), created by the first node that needs it (a `create`,
which only one node can win) and read by the others. Anyone who can read that bucket can
sign tokens: protect the NATS server as you would the key file.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Final

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from lightflow_actors.live import SessionStoreUnavailable

CLUSTER_BUCKET: Final = "lf_cluster"
SECRET_KEY: Final = "live-token-key"


async def cluster_secret(client: Client, *, bucket: str = CLUSTER_BUCKET) -> bytes:
    """The cluster-wide token key (32 bytes), created on first use."""
    js = client.jetstream()
    try:
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            try:
                kv = await js.create_key_value(bucket=bucket, history=1)
            except Exception:
                kv = await js.key_value(bucket)  # another node created it first
        try:
            entry = await kv.get(SECRET_KEY)
            if entry.value and len(entry.value) >= 32:
                return bytes(entry.value)
        except KeyNotFoundError:
            pass
        with contextlib.suppress(KeyWrongLastSequenceError):  # another node was first
            await kv.create(SECRET_KEY, secrets.token_bytes(32))
        entry = await kv.get(SECRET_KEY)
        if not entry.value or len(entry.value) < 32:
            raise ValueError(f"{bucket}/{SECRET_KEY} holds {len(entry.value or b'')} bytes")
        return bytes(entry.value)
    except Exception as exc:
        raise SessionStoreUnavailable(
            f"the cluster's live token key ({bucket}/{SECRET_KEY}) cannot be read or created "
            f"({type(exc).__name__}: {exc}); the NATS server needs JetStream (start it with -js)"
        ) from None
