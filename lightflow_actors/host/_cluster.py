"""`GET /cluster`: what an operator sees of the cluster from one node (specs/cluster.md).

The nodes are this one and the peers its presence tracker knows (up, or down when silent
past its down period), with how long each has been silent and how many presences it
holds; beside them the node's NATS link, its session snapshot store and the runs (leases
and runs per node, this node's takeovers, forwards and fenced writes). On a single node
the answer says ``clustered: false`` and lists this node alone.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lightflow_actors.adapters.nats import (
    GetLinkInfo,
    GetRunsClusterInfo,
    GetSessionStore,
    LinkInfo,
    NatsLink,
    RunsClusterInfo,
    RunWarden,
)
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import GetTrackerInfo, PresenceServer, TrackerInfo

ASK_TIMEOUT_S: Final = 5.0
_ENCODER: Final = msgspec.json.Encoder()


class ClusterNode(msgspec.Struct, frozen=True):
    """A node as this one sees it."""

    node: str
    replica: str
    status: Literal["self", "up", "down"]
    silent_for_s: float
    presences: int


class PresenceInfo(msgspec.Struct, frozen=True):
    replica: str
    entries: int
    deltas_sent: int
    transfers_sent: int
    transfers_asked: int
    dropped: int


class SessionStoreInfo(msgspec.Struct, frozen=True):
    """The node's session snapshot store: sessions it owns, writes done, writes saved by
    coalescing, writes refused by fencing, failed attempts (retried)."""

    bucket: str
    owned: int
    writes: int
    coalesced: int
    fenced: int
    failures: int


class ClusterView(msgspec.Struct, frozen=True):
    node: str
    clustered: bool
    nodes: tuple[ClusterNode, ...]
    link: LinkInfo | None
    presence: PresenceInfo | None
    sessions: SessionStoreInfo | None
    runs: RunsClusterInfo | None = None


RUNS_WARDEN = "lightflow.cluster.runs"
"""The registered name of the node's `RunWarden` (started with the runs host)."""


async def cluster_view(
    system: ActorSystem, node: str, link_name: str, hub: str, warden: str = RUNS_WARDEN
) -> ClusterView:
    tracker: TrackerInfo | None = None
    if system.whereis(f"{hub}.presence") is not None:
        presence_ref = system.lookup(f"{hub}.presence", PresenceServer)
        tracker = await presence_ref.ask(GetTrackerInfo(), timeout=ASK_TIMEOUT_S)
    link: LinkInfo | None = None
    sessions: SessionStoreInfo | None = None
    if system.whereis(link_name) is not None:
        link_ref = system.lookup(link_name, NatsLink)
        link = await link_ref.ask(GetLinkInfo(), timeout=ASK_TIMEOUT_S)
        store = await link_ref.ask(GetSessionStore(), timeout=ASK_TIMEOUT_S)
        if store is not None:
            sessions = SessionStoreInfo(
                bucket=store.bucket,
                owned=len(store.revisions),
                writes=store.writes,
                coalesced=store.coalesced,
                fenced=store.fenced,
                failures=store.failures,
            )
    runs: RunsClusterInfo | None = None
    if system.whereis(warden) is not None:
        warden_ref = system.lookup(warden, RunWarden)
        runs = await warden_ref.ask(GetRunsClusterInfo(), timeout=ASK_TIMEOUT_S)
    own = 0 if tracker is None else tracker.entries - sum(p.entries for p in tracker.peers)
    nodes = [
        ClusterNode(
            node=node,
            replica=tracker.replica if tracker is not None else node,
            status="self",
            silent_for_s=0.0,
            presences=own,
        )
    ]
    if tracker is not None:
        nodes += [
            ClusterNode(p.node, p.replica, p.status, round(p.silent_for, 3), p.entries)
            for p in tracker.peers
        ]
    presence = (
        PresenceInfo(
            tracker.replica,
            tracker.entries,
            tracker.deltas_sent,
            tracker.transfers_sent,
            tracker.transfers_asked,
            tracker.dropped,
        )
        if tracker is not None
        else None
    )
    return ClusterView(
        node=node,
        clustered=link is not None,
        nodes=tuple(nodes),
        link=link,
        presence=presence,
        sessions=sessions,
        runs=runs,
    )


def cluster_route(system: ActorSystem, node: str, link_name: str, hub: str = "live") -> Route:
    async def endpoint(request: Request) -> Response:
        if request.query_params:
            return _error(400, "GET /cluster takes no query parameters")
        try:
            view = await cluster_view(system, node, link_name, hub)
        except Exception as error:  # an actor restarting, an ask timing out
            return _error(503, f"the cluster view is unavailable now ({error}); retry")
        return Response(_ENCODER.encode(view), media_type="application/json")

    return Route("/cluster", endpoint, methods=["GET"])


def _error(status: int, message: str) -> Response:
    return Response(
        _ENCODER.encode({"error": message}), status_code=status, media_type="application/json"
    )
