"""NATS adapters: what lets several nodes run as one cluster (specs/cluster.md).

- `connect_cluster(servers, node=...)`: the node's NATS client (no echo, reconnecting).
- `NatsPubSub(client)`: the live pubsub's broker adapter; `broadcast` on one node
  reaches subscribers on every node, with one NATS subscription per topic per node.
- `NatsLink(servers, node)`: the actor owning both, started by `lightflow serve
  --cluster URL` (its start connects, its stop drains).
"""

from ._connect import ClusterUnreachable, connect_cluster
from ._link import GetLinkInfo, GetPubSub, LinkInfo, NatsLink
from ._pubsub import NatsPubSub
from ._subjects import pubsub_subject, topic_token

__all__ = [
    "ClusterUnreachable",
    "GetLinkInfo",
    "GetPubSub",
    "LinkInfo",
    "NatsLink",
    "NatsPubSub",
    "connect_cluster",
    "pubsub_subject",
    "topic_token",
]
