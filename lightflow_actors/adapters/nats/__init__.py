"""NATS adapters: what lets several nodes run as one cluster (specs/cluster.md).

- `connect_cluster(servers, node=...)`: the node's NATS client (no echo, reconnecting).
- `NatsPubSub(client)`: the live pubsub's broker adapter; `broadcast` on one node
  reaches subscribers on every node, with one NATS subscription per topic per node.
- `NatsSessionStore(kv, owner)`: live session snapshots in the `lf_sessions` bucket,
  ownership fenced by revision; `cluster_secret(client)`: the cluster's token key.
- `RemoteRegistry(client, kv, node, types)`: the cluster-wide name registry and remote
  `tell`/`ask` (a remote actor is a local proxy `ActorRef`; its node lost: `Down` with
  `"noconnection"`); `MessageTypes` is the table of types that may cross.
- `NatsRuns`, `RunWarden`: runs on any node (placement, forwarding, leases, each run's
  copy in `lf_runs` and `LF_RUN_EVENTS`, takeover of a dead node's runs).
- `TenantsSync(client, node, ledger)`: the nodes tell each other their tenants' live
  sessions and runs in flight, so those budgets hold cluster-wide.
- `NatsLink(servers, node)`: the actor owning them, started by `lightflow serve
  --cluster URL` (its start connects, its stop drains).
"""

from ._connect import ClusterUnreachable, connect_cluster
from ._leases import LEASES_BUCKET, LeaseHeld, LeaseLost, NatsLeases, open_lease_bucket
from ._link import (
    GetLinkInfo,
    GetPubSub,
    GetRuns,
    GetSessionStore,
    GetTokenKey,
    LinkInfo,
    NatsLink,
)
from ._pubsub import NatsPubSub
from ._remote import (
    REGISTRY_BUCKET,
    REGISTRY_NAME,
    GetRegistryInfo,
    MessageTypes,
    NameHeld,
    Register,
    RegistryInfo,
    RemoteCallFailed,
    RemoteExit,
    RemoteProxy,
    RemoteRegistry,
    UnknownMessageType,
    Unregister,
    WhereIs,
    open_registry_bucket,
)
from ._runs import (
    RUN_EVENTS_STREAM,
    RUNS_BUCKET,
    ClusterUnavailable,
    EventsRetention,
    GetRunsClusterInfo,
    NatsRuns,
    NodeDown,
    RunsClusterInfo,
    RunWarden,
    open_runs_bucket,
    run_key,
    runs_host_name,
)
from ._secret import CLUSTER_BUCKET, cluster_secret
from ._sessions import SESSIONS_BUCKET, NatsSessionStore, open_session_bucket
from ._subjects import pubsub_subject, topic_token
from ._tenants import (
    GetTenantsSyncInfo,
    MalformedReport,
    TenantsSync,
    TenantsSyncInfo,
    UsageReport,
    decode_report,
    usage_subject,
)

__all__ = [
    "CLUSTER_BUCKET",
    "LEASES_BUCKET",
    "REGISTRY_BUCKET",
    "REGISTRY_NAME",
    "RUNS_BUCKET",
    "RUN_EVENTS_STREAM",
    "SESSIONS_BUCKET",
    "ClusterUnavailable",
    "ClusterUnreachable",
    "EventsRetention",
    "GetLinkInfo",
    "GetPubSub",
    "GetRegistryInfo",
    "GetRuns",
    "GetRunsClusterInfo",
    "GetSessionStore",
    "GetTenantsSyncInfo",
    "GetTokenKey",
    "LeaseHeld",
    "LeaseLost",
    "LinkInfo",
    "MalformedReport",
    "MessageTypes",
    "NameHeld",
    "NatsLeases",
    "NatsLink",
    "NatsPubSub",
    "NatsRuns",
    "NatsSessionStore",
    "NodeDown",
    "Register",
    "RegistryInfo",
    "RemoteCallFailed",
    "RemoteExit",
    "RemoteProxy",
    "RemoteRegistry",
    "RunWarden",
    "RunsClusterInfo",
    "TenantsSync",
    "TenantsSyncInfo",
    "UnknownMessageType",
    "Unregister",
    "UsageReport",
    "WhereIs",
    "cluster_secret",
    "connect_cluster",
    "decode_report",
    "open_lease_bucket",
    "open_registry_bucket",
    "open_runs_bucket",
    "open_session_bucket",
    "pubsub_subject",
    "run_key",
    "runs_host_name",
    "topic_token",
    "usage_subject",
]
