"""What `lightflow serve` assembles besides the operator API: the observer, the runs API
(with MCP and run streams) and the example live views, each a `ServerPart`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import Mount

from lightflow_actors.adapters.http import PartSource, RootLink, ServeOptions, ServerPart
from lightflow_actors.adapters.nats import GetPubSub, NatsLink, connect_cluster
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import LiveHub, PubSubAdapter
from lightflow_actors.live_examples import example_views, start_example_actors
from lightflow_actors.observer import observer_part

from ._part import runs_part

__all__ = [
    "CLUSTER_LINK",
    "PARTS",
    "PartFactory",
    "cluster_link",
    "cluster_pubsub",
    "live_examples",
    "runs_api",
    "serve_parts",
]

PartFactory = Callable[[ServeOptions], PartSource]


CLUSTER_LINK = "lightflow.cluster.nats"
"""The registered name of the node's `NatsLink` when it serves in a cluster."""


def cluster_link(options: ServeOptions) -> PartSource:
    """With ``--cluster``: the node's NATS link, started before the parts that use it (the
    live views' pubsub reaches every node through it). Without: nothing."""

    async def start(system: ActorSystem) -> None:
        if not options.cluster:
            return
        node, servers = options.node or "node", options.cluster
        client = await connect_cluster(list(servers), node=node)  # ClusterUnreachable
        try:
            await system.start_actor(lambda: NatsLink(client, servers, node), name=CLUSTER_LINK)
        except BaseException:
            await client.close()
            raise

    return ServerPart(on_startup=start)


async def cluster_pubsub(system: ActorSystem) -> PubSubAdapter | None:
    """The pubsub adapter of the node's NATS link (None on a single node)."""
    if system.whereis(CLUSTER_LINK) is None:
        return None
    return await system.lookup(CLUSTER_LINK, NatsLink).ask(GetPubSub())


def live_examples(options: ServeOptions) -> PartSource:
    """The example live views under ``/live`` (counter, chat, 1 000-row table); in a
    cluster their pubsub (the chat) reaches every node."""

    def build(system: ActorSystem) -> ServerPart:
        hub = LiveHub(
            system,
            example_views(system),
            name="live",
            pubsub_adapter=lambda: cluster_pubsub(system),
        )
        routes = LiveRoutes(hub, allowed_origins=options.allowed_origins)

        async def start(system: ActorSystem) -> None:
            await hub.start()
            await start_example_actors(system)

        return ServerPart(
            routes=(Mount("/live", routes=routes.routes),),
            links=tuple(
                RootLink(title, f"live/{view}", text)
                for view, title, text in (
                    ("counter", "Live counter", "a live view: click, and only a patch is sent"),
                    ("chat", "Live chat", "pubsub and presence across browser tabs"),
                    ("table", "Live table", "1 000 rows updated by a ticking actor"),
                )
            ),
            on_startup=start,
        )

    return build


def runs_api(options: ServeOptions) -> PartSource:
    """The workflow-runs API (DESIGN §7), MCP and runtime streams; resumes unfinished runs."""
    return runs_part(token=options.token, allowed_origins=options.allowed_origins)


def operator_observer(options: ServeOptions) -> PartSource:
    """The observer page (``GET /observer``): the supervision tree as a live view."""
    return observer_part()


PARTS: tuple[PartFactory, ...] = (cluster_link, operator_observer, runs_api, live_examples)
"""What ``lightflow serve`` serves besides the operator API, in startup order: each entry
builds its area's ``ServerPart`` (routes, root-page links, startup hook) from the options.
To serve another area, add its factory here."""


def serve_parts(options: ServeOptions) -> list[PartSource]:
    """Every part of ``lightflow serve``. Raises ``RunsConfigError`` for a bad runs config."""
    return [make(options) for make in PARTS]
