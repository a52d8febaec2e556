"""Opening a JetStream key-value bucket that any node may be the first to need."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore


async def open_bucket(client: Client, bucket: str) -> KeyValue:
    """`bucket` (history 1), created if absent; when two nodes create it at once, the
    loser opens the winner's. Errors of the last attempt (no JetStream, timeouts) pass."""
    js = client.jetstream()
    try:
        return await js.key_value(bucket)
    except Exception:  # nats-py: BucketNotFoundError, or the server is not ready yet
        pass
    try:
        return await js.create_key_value(bucket=bucket, history=1)
    except Exception:
        return await js.key_value(bucket)


async def open_objects(client: Client, bucket: str) -> ObjectStore:
    """The object store `bucket`, created if absent (as `open_bucket`)."""
    js = client.jetstream()
    try:
        return await js.object_store(bucket)
    except Exception:  # nats-py: BucketNotFoundError, or the server is not ready yet
        pass
    try:
        return await js.create_object_store(bucket)
    except Exception:
        return await js.object_store(bucket)
