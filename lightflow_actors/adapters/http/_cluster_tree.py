"""`GET /system/tree?node=NAME`: another node's tree, asked through the cluster registry.

Each node of a cluster registers a `TreeAgent` cluster-wide as `lightflow.tree@<node>`;
any node resolves that name (a proxy `ActorRef` when remote) and asks it the same
`GetTree` its own gateway answers. The reply crosses as msgspec (`TreePage`).
"""

from __future__ import annotations

import asyncio

import msgspec

from lightflow_actors.adapters.nats import (
    REGISTRY_NAME,
    GetRegistryInfo,
    MessageTypes,
    Register,
    RemoteCallFailed,
    RemoteRegistry,
    WhereIs,
)
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorSystem,
    AskTimeout,
    Refused,
    Reply,
    handler,
)
from lightflow_actors.runs import CancelRun, CreateRun, RefreshRun, RetryRun, SubmitStep

from ..operator_api import TreePage
from ._errors import Unavailable
from ._gateway import GATEWAY_NAME, Gateway
from ._inputs import TreeQuery
from ._link import GatewayLink
from ._messages import GetTree


def tree_name(node: str) -> str:
    """The cluster-wide name of `node`'s tree agent."""
    return f"lightflow.tree@{node}"


def cluster_message_types() -> MessageTypes:
    """The message types the operator API and the runs host send across nodes (a change
    to a run goes to the node that does it, specs/cluster.md §Runs)."""
    return MessageTypes(GetTree, CreateRun, CancelRun, SubmitStep, RetryRun, RefreshRun)


class TreeAgent(Actor[GetTree]):
    """Answers `GetTree` for this node by asking its gateway (for other nodes)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    @handler
    def tree(self, msg: GetTree) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(msg, self.defer(msg)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, msg: GetTree, reply: Reply[TreePage]) -> None:
        gateway = self.system.whereis(GATEWAY_NAME)
        if gateway is None:
            reply.refuse(Refused("this node's gateway is restarting; retry", "unavailable"))
            return
        try:
            reply.send(await self.system.lookup(GATEWAY_NAME, Gateway).ask(msg))
        except Refused as exc:
            reply.refuse(exc)
        except Exception as exc:
            reply.fail(exc)


async def start_tree_agent(system: ActorSystem, node: str) -> None:
    """Start this node's tree agent and register it cluster-wide (needs the registry)."""
    agent = system.spawn(TreeAgent, name=tree_name(node))
    await system.lookup(REGISTRY_NAME, RemoteRegistry).ask(Register(tree_name(node), agent))


async def peer_tree(system: ActorSystem, node: str, query: TreeQuery, timeout: float) -> TreePage:
    """The tree of `node`, another node of the cluster, asked of its tree agent.

    Raises `Refused` (``not_found``: not in a cluster, or no such node up) or
    `Unavailable` (the node did not answer within `timeout` seconds).
    """
    if system.whereis(REGISTRY_NAME) is None:
        raise Refused(f"this server is not in a cluster: no node {node!r}", "not_found")
    registry = system.lookup(REGISTRY_NAME, RemoteRegistry)
    agent = await registry.ask(WhereIs(tree_name(node)), timeout=timeout)
    if agent is None:
        info = await registry.ask(GetRegistryInfo(), timeout=timeout)
        raise Refused(
            f"no node {node!r} in the cluster (up: {', '.join(info.nodes_up) or 'none'})",
            "not_found",
        )
    try:
        page: TreePage = await agent.ask(GetTree(query), timeout=timeout)
    except (AskTimeout, ActorExited, ActorNotAlive, RemoteCallFailed) as exc:
        raise Unavailable(f"node {node!r} did not answer: {exc}") from None
    return page


async def cluster_tree(link: GatewayLink, query: TreeQuery) -> TreePage:
    """The tree of `query.node`: this node's own, or another's through its tree agent."""
    assert query.node is not None
    node, local = query.node, msgspec.structs.replace(query, node=None)
    if link.system.whereis(REGISTRY_NAME) is None:
        raise Refused(
            f"this server is not in a cluster: no node {node!r}; omit node= for its own tree",
            "not_found",
        )
    registry = link.system.lookup(REGISTRY_NAME, RemoteRegistry)
    info = await registry.ask(GetRegistryInfo())
    if node == info.node:
        return await link.ask(GetTree(local))
    return await peer_tree(link.system, node, local, link.ask_timeout)
