"""`NatsLink`: the actor that owns a node's NATS connection (and its pubsub adapter).

Started by the composition root when the node joins a cluster, with the client that
`connect_cluster` opened (an unreachable cluster stops the node's start before, with
`ClusterUnreachable` naming the servers). Its stop drops the node's subscriptions and
drains the connection, so no publication queued before the stop is lost. While it runs,
nats-py reconnects by itself after a lost connection and resubscribes every topic.
"""

from __future__ import annotations

import contextlib

import msgspec
from nats.aio.client import Client

from lightflow_actors.kernel import Actor, Ask, ExitReason, handler

from ._pubsub import NatsPubSub


class LinkInfo(msgspec.Struct, frozen=True):
    """What the operator sees of a node's NATS link."""

    node: str
    servers: tuple[str, ...]
    connected: bool
    connected_url: str | None
    topics: int
    published: int
    received: int
    dropped: int


class GetLinkInfo(Ask[LinkInfo], frozen=True):
    """Ask a `NatsLink` how its connection is doing."""


class GetPubSub(Ask[NatsPubSub], frozen=True):
    """Ask a started `NatsLink` for its pubsub adapter (to hand to a `LiveHub`)."""


class NatsLink(Actor[GetLinkInfo | GetPubSub]):
    """Owns `node`'s connected `client` (to the NATS `servers`) and its pubsub adapter.

    ::

        client = await connect_cluster(servers, node="a")
        link = await system.start_actor(lambda: NatsLink(client, servers, "a"), name=...)
    """

    def __init__(
        self, client: Client, servers: tuple[str, ...], node: str, *, prefix: str = "lf"
    ) -> None:
        self.servers = servers
        self.node = node
        self.client: Client | None = client
        self.pubsub: NatsPubSub | None = NatsPubSub(client, prefix=prefix)

    async def on_stop(self, reason: ExitReason) -> None:
        if self.pubsub is not None:
            await self.pubsub.flush_quietly()
            await self.pubsub.close()
        if self.client is not None and not self.client.is_closed:
            with contextlib.suppress(Exception):  # already gone: nothing left to drain
                await self.client.drain()

    @handler
    def adapter(self, msg: GetPubSub) -> NatsPubSub:
        assert self.pubsub is not None, "answered only once started"
        return self.pubsub

    @handler
    def info(self, msg: GetLinkInfo) -> LinkInfo:
        client, pubsub = self.client, self.pubsub
        url = client.connected_url if client is not None else None
        return LinkInfo(
            node=self.node,
            servers=self.servers,
            connected=client is not None and client.is_connected,
            connected_url=url.geturl() if url is not None else None,
            topics=len(pubsub.topics) if pubsub is not None else 0,
            published=pubsub.published if pubsub is not None else 0,
            received=pubsub.received if pubsub is not None else 0,
            dropped=pubsub.dropped if pubsub is not None else 0,
        )
