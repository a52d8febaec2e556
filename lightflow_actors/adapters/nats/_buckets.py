"""Opening a JetStream key-value bucket that any node may be the first to need."""

from __future__ import annotations

from nats.aio.client import Client
from nats.js.kv import KeyValue


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
