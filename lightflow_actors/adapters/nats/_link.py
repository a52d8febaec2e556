"""`NatsLink`: the actor that owns a node's NATS connection (and its pubsub adapter).

Started by the composition root when the node joins a cluster, with the client that
`connect_cluster` opened (an unreachable cluster stops the node's start before, with
`ClusterUnreachable` naming the servers). Its stop drops the node's subscriptions and
drains the connection, so no publication queued before the stop is lost. While it runs,
nats-py reconnects by itself after a lost connection and resubscribes every topic.
"""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
from nats.aio.client import Client

from lightflow_actors.kernel import Actor, Ask, ExitReason, handler

from ._pubsub import NatsPubSub
from ._runs import NatsRuns
from ._sessions import NatsSessionStore


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


class GetSessionStore(Ask[NatsSessionStore | None], frozen=True):
    """Ask a started `NatsLink` for its session snapshot store (None if it has none)."""


class GetTokenKey(Ask[bytes | None], frozen=True):
    """Ask a started `NatsLink` for the cluster's live token key (None if it has none)."""


class GetRuns(Ask[NatsRuns | None], frozen=True):
    """Ask a started `NatsLink` for the cluster side of its runs host (None if none)."""


class NatsLink(Actor[GetLinkInfo | GetPubSub | GetSessionStore | GetTokenKey | GetRuns]):
    """Owns `node`'s connected `client` (to the NATS `servers`), its pubsub adapter and
    its session snapshot store.

    ::

        client = await connect_cluster(servers, node="a")
        link = await system.start_actor(lambda: NatsLink(client, servers, "a"), name=...)
    """

    def __init__(
        self,
        client: Client,
        servers: tuple[str, ...],
        node: str,
        *,
        prefix: str = "lf",
        sessions: NatsSessionStore | None = None,
        token_key: bytes | None = None,
        runs: NatsRuns | None = None,
    ) -> None:
        self.servers = servers
        self.node = node
        self.client: Client | None = client
        self.pubsub: NatsPubSub | None = NatsPubSub(client, prefix=prefix)
        self.sessions = sessions
        self.token_key = token_key
        self.runs = runs

    async def on_stop(self, reason: ExitReason) -> None:
        if self.runs is not None:
            await self.runs.stop()
        if self.sessions is not None:  # the last snapshots of sessions that just stopped
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sessions.flush(), 5.0)
            await self.sessions.close()
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
    def session_store(self, msg: GetSessionStore) -> NatsSessionStore | None:
        return self.sessions

    @handler
    def runs_cluster(self, msg: GetRuns) -> NatsRuns | None:
        return self.runs

    @handler
    def token(self, msg: GetTokenKey) -> bytes | None:
        return self.token_key

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
