"""The cluster subsystem of a served node: its NATS link, registry, tenants sync and tree
agent under one supervisor, a child of the root (specs/cluster.md §Failures).

The link connects a new NATS client on each start and stops (a failure) when that
connection breaks, so the supervisor restarts them together (``one_for_all``: the
registry and the tree agent speak through the link's client). While NATS stays down the
restarts fail, the supervisor gives up and the root restarts it with its backoff
(``SUBSYSTEM_BACKOFF``); meanwhile ``GET /ready`` names ``cluster`` in ``down``. What the
other parts hold (the live views' pubsub and session store, the runs host's cluster
side) is a `ClusterShared`, kept across restarts and rebound to each new client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final, cast

import msgspec
from nats.aio.client import Client
from nats.js.kv import KeyValue

from lightflow_actors.adapters.http import TreeAgent, cluster_message_types, tree_name
from lightflow_actors.adapters.nats import (
    REGISTRY_NAME,
    EventsRetention,
    NatsLeases,
    NatsLink,
    NatsPubSub,
    NatsRuns,
    NatsSessionStore,
    Register,
    RemoteRegistry,
    TenantsSync,
    cluster_secret,
    connect_cluster,
    open_lease_bucket,
    open_registry_bucket,
    open_runs_bucket,
    open_session_bucket,
)
from lightflow_actors.adapters.nats._connect import ClusterUnreachable
from lightflow_actors.kernel import (
    ActorRef,
    ActorSystem,
    ExitReason,
    LifecycleEvent,
    TransientFailure,
    handler,
)
from lightflow_actors.supervision import ChildSpec, Supervisor

from ._tenants import node_tenants

__all__ = [
    "CLUSTER_SUBSYSTEM",
    "RECONNECT_TIMEOUT_S",
    "ClusterLink",
    "ClusterOutage",
    "ClusterShared",
    "ConnectionLost",
    "open_cluster",
]

logger: Final = logging.getLogger(__name__)

CLUSTER_SUBSYSTEM = "cluster"
"""The root's child id of the cluster subsystem (what ``GET /ready`` names while down)."""

RECONNECT_TIMEOUT_S = 2.0
"""How long a restarted link tries to reach NATS before its start fails."""

CLUSTER_INTENSITY, CLUSTER_PERIOD_S = 1, 10.0
"""More restarts than this within the period: the subsystem gives up and the root's
backoff takes over. One: a broken connection is reconnected at once; if that fails (NATS
still down) every further attempt is the root's, one per backoff delay."""


class ConnectionLost(TransientFailure, ConnectionError):
    """The link's NATS connection broke; the link stops so its restart connects anew."""


class ClusterOutage(TransientFailure, ConnectionError):
    """A restarted link could not reconnect (NATS down, or its buckets unavailable): its
    start fails, quietly (the outage log says it once per attempt)."""

    def __init__(self, node: str, cause: BaseException) -> None:
        inner = cause.cause if isinstance(cause, ClusterUnreachable) else cause
        self.node, self.why = node, f"{type(inner).__name__}: {inner}"
        super().__init__(f"node {node!r} cannot reconnect to NATS ({self.why})")


class ClusterShared:
    """What outlives the link's restarts: the objects other parts were handed (pubsub,
    session store, runs), the token key, and the current client and buckets."""

    def __init__(
        self,
        system: ActorSystem,
        client: Client,
        servers: tuple[str, ...],
        node: str,
        *,
        sessions: NatsSessionStore,
        token_key: bytes,
        runs: NatsRuns,
        registry: KeyValue,
    ) -> None:
        self.system, self.servers, self.node = system, servers, node
        self.client: Client | None = client
        self.fresh = True  # the client of the node's start, not yet taken by a link
        self.pubsub = NatsPubSub(client)
        self.sessions, self.token_key, self.runs = sessions, token_key, runs
        self.registry = registry
        self.connections = 1
        self.on_lost: Callable[[], None] = lambda: None
        self.failed_attempts = 0  # reconnects failed since the connection was last up
        self.last_failure = ""
        self.outage_since: float | None = None
        self._unwatch = system.subscribe(self._outage_event)

    def reconnect_failed(self, error: ClusterOutage) -> None:
        clock = self.system.clock
        if self.outage_since is None:
            self.outage_since = clock.now()
        self.failed_attempts += 1
        self.last_failure = error.why

    def reconnected(self) -> None:
        if self.failed_attempts:
            since = self.outage_since
            gone = 0.0 if since is None else self.system.clock.now() - since
            url = self.client.connected_url if self.client is not None else None
            logger.warning(
                "cluster: node %r reconnected to NATS%s after %d failed attempts (%.1f s)",
                self.node,
                f" at {url.geturl()}" if url is not None else "",
                self.failed_attempts,
                gone,
            )
        self.failed_attempts, self.last_failure, self.outage_since = 0, "", None

    def _outage_event(self, event: LifecycleEvent) -> None:
        """One line per failed reconnect: the root has scheduled the cluster subsystem's
        next attempt (its backoff), and this says why and when (the traceback: DEBUG)."""
        if event.kind != "restart_scheduled" or event.child != CLUSTER_SUBSYSTEM:
            return
        if not self.failed_attempts or event.restart_at_ms is None:
            return
        wait_s = max(0.0, (event.restart_at_ms - self.system.clock.wall_ms()) / 1000)
        logger.warning(
            "cluster: node %r cannot reach NATS (%s); attempt %d failed, next in %.1f s",
            self.node,
            self.last_failure,
            self.failed_attempts,
            wait_s,
        )

    def close(self) -> None:
        self._unwatch()

    async def reconnect(self, on_lost: Callable[[], None]) -> Client:
        """A new client, with every bucket reopened and every shared object rebound to it.
        Raises `ClusterUnreachable` (or the bucket's error) when NATS is still down."""
        client = await connect_cluster(
            list(self.servers),
            node=self.node,
            connect_timeout_s=RECONNECT_TIMEOUT_S,
            on_lost=on_lost,
        )
        try:
            sessions = await open_session_bucket(client)
            runs, leases = await open_runs_bucket(client), await open_lease_bucket(client)
            registry = await open_registry_bucket(client)
            await self.runs.rebind(client, runs, leases)
        except BaseException:
            await client.close()
            raise
        self.sessions.rebind(sessions)
        self.pubsub.rebind(client)
        self.client, self.registry, self.on_lost = client, registry, on_lost
        self.connections += 1
        return client


async def open_cluster(
    system: ActorSystem,
    servers: tuple[str, ...],
    node: str,
    retention: EventsRetention | None = None,
) -> ClusterShared:
    """Connect `node` (fails fast with `ClusterUnreachable`) and open what it shares;
    `retention`: of the run events stream (None: 30 days, 1 GiB)."""
    shared: ClusterShared | None = None

    def lost() -> None:  # the first link's, once it has started
        if shared is not None:
            shared.on_lost()

    client = await connect_cluster(list(servers), node=node, on_lost=lost)
    try:
        # Both raise SessionStoreUnavailable (one line: NATS needs JetStream, -js).
        sessions = NatsSessionStore(await open_session_bucket(client), owner=node)
        token_key = await cluster_secret(client)
        leases = NatsLeases(await open_lease_bucket(client), node)
        runs_kv = await open_runs_bucket(client)
        runs = NatsRuns(system, client, runs_kv, leases, node, retention=retention)
        await runs.start()
        registry = await open_registry_bucket(client)
    except BaseException:
        await client.close()
        raise
    shared = ClusterShared(
        system,
        client,
        servers,
        node,
        sessions=sessions,
        token_key=token_key,
        runs=runs,
        registry=registry,
    )
    return shared


class _Lost(msgspec.Struct, frozen=True):
    """The link's connection broke (from nats-py's disconnect callback)."""


class ClusterLink(NatsLink):
    """A `NatsLink` over `shared`: its first start takes the node's first client, each
    restart connects a new one; it fails with `ConnectionLost` when its connection breaks.
    Its stop closes the client; the shared objects are closed only when the node stops."""

    def __init__(self, shared: ClusterShared) -> None:
        assert shared.client is not None
        super().__init__(
            shared.client,
            shared.servers,
            shared.node,
            sessions=shared.sessions,
            token_key=shared.token_key,
            runs=shared.runs,
        )
        self.shared = shared
        self.pubsub = shared.pubsub
        self.client = None

    async def on_start(self) -> None:
        me = cast("ActorRef[_Lost]", self.ref)  # a message of the subclass's own

        def lost() -> None:
            if me.alive:
                me.tell(_Lost())

        shared = self.shared
        if shared.fresh and shared.client is not None and shared.client.is_connected:
            shared.fresh = False
            self.client = shared.client
            shared.on_lost = lost
        else:
            shared.fresh = False
            try:
                self.client = await shared.reconnect(lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, or its buckets unavailable
                outage = ClusterOutage(self.node, exc)
                shared.reconnect_failed(outage)
                raise outage from exc
            shared.reconnected()

    @handler
    def lost(self, msg: _Lost) -> None:
        raise ConnectionLost(f"node {self.node!r} lost its NATS connection")

    async def on_stop(self, reason: ExitReason) -> None:
        if self._node_stops():
            await super().on_stop(reason)  # flushes and closes what the parts were handed
            return
        client, self.client = self.client, None
        if client is not None:
            await close_lost(client)

    def _node_stops(self) -> bool:
        root = self.system.root
        return root is None or self.system.info(root).status in ("stopping", "exited")


class ClusterRegistry(RemoteRegistry):
    """The node's `RemoteRegistry` over the link's current client."""

    def __init__(self, shared: ClusterShared) -> None:
        assert shared.client is not None
        super().__init__(shared.client, shared.registry, shared.node, cluster_message_types())


class ClusterTenants(TenantsSync):
    """The node's `TenantsSync` over the link's current client and the node's ledger: the
    count budgets hold cluster-wide (specs/tenants.md §6)."""

    def __init__(self, shared: ClusterShared) -> None:
        assert shared.client is not None
        super().__init__(shared.client, shared.node, node_tenants(shared.system))


class ClusterTreeAgent(TreeAgent):
    """The node's tree agent, registered cluster-wide on each start."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    async def on_start(self) -> None:
        registry = self.system.lookup(REGISTRY_NAME, RemoteRegistry)
        await registry.ask(Register(tree_name(self.node), self.ref))


async def close_lost(client: Client) -> None:
    """Close a client whose connection broke, for good. nats-py's `close` cancels its
    reconnect loop, but a loop that meets a socket error at that moment sets itself back
    to reconnecting and would connect again once NATS is back (an idle second connection
    per node): with one attempt per server allowed, such a loop gives up by itself."""
    client.options["max_reconnect_attempts"] = 1
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), RECONNECT_TIMEOUT_S)


def cluster_supervisor(shared: ClusterShared, link_name: str) -> Supervisor:
    """The cluster subsystem: link, registry, tenants sync, tree agent, restarted together."""
    return Supervisor(
        [
            ChildSpec(id="link", start=lambda: ClusterLink(shared), name=link_name),
            ChildSpec(id="registry", start=lambda: ClusterRegistry(shared), name=REGISTRY_NAME),
            ChildSpec(id="tenants", start=lambda: ClusterTenants(shared)),
            ChildSpec(
                id="tree",
                start=lambda: ClusterTreeAgent(shared.node),
                name=tree_name(shared.node),
            ),
        ],
        strategy="one_for_all",
        intensity=CLUSTER_INTENSITY,
        period=CLUSTER_PERIOD_S,
    )
