"""What `lightflow serve` assembles besides the operator API: the observer, the runs API
(with MCP and run streams) and the example live views, each a `ServerPart`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

import msgspec
from starlette.routing import Mount

from lightflow_actors.adapters.http import (
    PartSource,
    RootLink,
    ServeOptions,
    ServerPart,
)
from lightflow_actors.adapters.nats import (
    REGISTRY_NAME,
    EventsRetention,
    GetPubSub,
    GetRuns,
    GetSessionStore,
    GetTokenKey,
    NatsLink,
    RunWarden,
)
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.cortex import DEFAULT_MOUNT
from lightflow_actors.flow import RunStore
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import LiveHub, PubSubAdapter, SessionStore
from lightflow_actors.live_examples import (
    attachment_routes,
    example_views,
    start_example_actors,
)
from lightflow_actors.observer import observer_part
from lightflow_actors.runs import RunsCluster, RunsConfigError, RunsError
from lightflow_actors.supervision import start_subsystem

from ._cluster import RUNS_WARDEN, cluster_route
from ._cluster_node import CLUSTER_SUBSYSTEM, cluster_supervisor, open_cluster
from ._config import load_runs_config
from ._hosting import RunsHosting
from ._part import runs_part
from ._tenants import node_tenants, tenants_part

__all__ = [
    "CLUSTER_LINK",
    "CLUSTER_REGISTRY",
    "CLUSTER_RUNS_WARDEN",
    "CLUSTER_SUPERVISOR",
    "DEFAULT_LONG_HANDLER_MS",
    "LONG_HANDLER_ENV",
    "PARTS",
    "PartFactory",
    "WatchdogConfigError",
    "cluster_link",
    "cluster_pubsub",
    "cluster_runs",
    "cluster_sessions",
    "cluster_token_key",
    "live_examples",
    "long_handler_threshold",
    "loop_watchdog",
    "runs_api",
    "serve_parts",
]

PartFactory = Callable[[ServeOptions], PartSource]


CLUSTER_LINK = "lightflow.cluster.nats"
"""The registered name of the node's `NatsLink` when it serves in a cluster."""

CLUSTER_SUPERVISOR = "lightflow.cluster"
"""The registered name of the cluster subsystem's supervisor (link, registry, tree agent;
the root's child ``cluster``, restarted with backoff: specs/cluster.md §Failures)."""

CLUSTER_REGISTRY = REGISTRY_NAME
"""The registered name of the node's `RemoteRegistry` (cluster-wide names, remote refs)."""

CLUSTER_RUNS_WARDEN = RUNS_WARDEN
"""The registered name of the node's `RunWarden` (follows run copies, takes runs over)."""


def cluster_link(options: ServeOptions) -> PartSource:
    """With ``--cluster``: the node's NATS link, started before the parts that use it (the
    live views' pubsub, presence and session snapshots reach every node through it; the
    token key is the cluster's, so any node accepts any page's join). Without: nothing but
    ``GET /cluster``, which then lists this node alone."""

    async def start(system: ActorSystem) -> None:
        if not options.cluster:
            return
        node, servers = options.node or "node", tuple(options.cluster)
        retention = EventsRetention()  # the defaults, then what the options set
        if options.run_events_max_age_s is not None:
            retention = msgspec.structs.replace(retention, max_age_s=options.run_events_max_age_s)
        if options.run_events_max_bytes is not None:
            retention = msgspec.structs.replace(retention, max_bytes=options.run_events_max_bytes)
        shared = await open_cluster(system, servers, node, retention)  # ClusterUnreachable
        try:
            await start_subsystem(
                system,
                CLUSTER_SUBSYSTEM,
                lambda: cluster_supervisor(shared, CLUSTER_LINK),
                name=CLUSTER_SUPERVISOR,
            )
        except BaseException:
            shared.close()
            if shared.client is not None:
                await shared.client.close()
            raise

    def build(system: ActorSystem) -> ServerPart:
        # GET /cluster answers on every node (a single node says it is not clustered).
        route = cluster_route(system, options.node or "node", CLUSTER_LINK)
        return ServerPart(routes=(route,), on_startup=start)

    return build


async def cluster_pubsub(system: ActorSystem) -> PubSubAdapter | None:
    """The pubsub adapter of the node's NATS link (None on a single node)."""
    if system.whereis(CLUSTER_LINK) is None:
        return None
    return await system.lookup(CLUSTER_LINK, NatsLink).ask(GetPubSub())


async def cluster_sessions(system: ActorSystem) -> SessionStore | None:
    """The session snapshot store of the node's NATS link (None on a single node)."""
    if system.whereis(CLUSTER_LINK) is None:
        return None
    return await system.lookup(CLUSTER_LINK, NatsLink).ask(GetSessionStore())


async def cluster_runs(system: ActorSystem, hosting: RunsHosting) -> RunsCluster | None:
    """The cluster side of the runs host (None on a single node); starts the node's
    `RunWarden`, which follows the other nodes' runs into this node's state folder and
    takes over the runs of nodes that went down."""
    if system.whereis(CLUSTER_LINK) is None:
        return None
    runs = await system.lookup(CLUSTER_LINK, NatsLink).ask(GetRuns())
    if runs is None:
        return None
    if system.whereis(CLUSTER_RUNS_WARDEN) is None:
        store = RunStore(hosting.settings.state_dir)
        host = hosting.names.host
        await system.start_actor(lambda: RunWarden(runs, store, host), name=CLUSTER_RUNS_WARDEN)
    return runs


async def cluster_token_key(system: ActorSystem) -> bytes | None:
    """The cluster's live token key (None on a single node: the key file)."""
    if system.whereis(CLUSTER_LINK) is None:
        return None
    return await system.lookup(CLUSTER_LINK, NatsLink).ask(GetTokenKey())


def live_examples(options: ServeOptions) -> PartSource:
    """The example live views under ``/live`` (counter, chat, 1 000-row table, login); in a
    cluster their pubsub (the chat) reaches every node."""

    def build(system: ActorSystem) -> ServerPart:
        hub = LiveHub(
            system,
            example_views(system),
            name="live",
            pubsub_adapter=lambda: cluster_pubsub(system),
            node=options.node or "node",
            session_store=lambda: cluster_sessions(system),
            secret=lambda: cluster_token_key(system),
            tenants=node_tenants(system),
        )
        routes = LiveRoutes(hub, allowed_origins=options.allowed_origins)

        async def start(system: ActorSystem) -> None:
            await hub.start()
            await start_example_actors(system)

        return ServerPart(
            routes=(Mount("/live", routes=[*attachment_routes(hub), *routes.routes]),),
            sockets=((routes.socket_path("/live"), routes.endpoint),),
            links=tuple(
                RootLink(title, f"live/{view}", text)
                for view, title, text in (
                    ("counter", "Live counter", "a live view: click, and only a patch is sent"),
                    ("chat", "Live chat", "pubsub and presence across browser tabs"),
                    ("table", "Live table", "1 000 rows updated by a ticking actor"),
                    ("widgets", "Live widgets", "JS commands, a client hook, pushed events"),
                    ("account", "Live login", "log in: a signed cookie session, on_mount, flash"),
                    ("tally", "Live tally", "a count kept in the session (across nodes)"),
                    ("todos", "Live todos", "a live component per item, a streamed log"),
                    ("tasks", "Live tasks", "a todo list per signed-in user, with attachments"),
                )
            ),
            on_startup=start,
        )

    return build


def runs_api(options: ServeOptions) -> PartSource:
    """The workflow-runs API (DESIGN §7), MCP and runtime streams; resumes unfinished runs.
    `--ctx-mount PATH` puts the tree at PATH (directory backend); with `--fuse`, the tree
    stays in the state folder and the FUSE backend mounts it at PATH (default `/ctx`)."""
    config = load_runs_config()
    if options.fuse:
        mount = options.ctx_mount or config.ctx.fuse_mount or DEFAULT_MOUNT
        config = msgspec.structs.replace(
            config, ctx=msgspec.structs.replace(config.ctx, fuse_mount=mount)
        )
    elif options.ctx_mount is not None:
        config = msgspec.structs.replace(
            config, ctx=msgspec.structs.replace(config.ctx, root=options.ctx_mount)
        )
    return runs_part(
        config,
        token=options.token,
        allowed_origins=options.allowed_origins,
        fuse=True,  # the config file's `ctx.fuse_mount` is mounted by serve only
        tenants=node_tenants,  # the node's ledger, shared with the live views
        cluster=cluster_runs if options.cluster else None,
    )


def operator_observer(options: ServeOptions) -> PartSource:
    """The observer page (``GET /observer``): the supervision tree as a live view."""
    return observer_part()


LONG_HANDLER_ENV = "LIGHTFLOW_LONG_HANDLER_MS"
DEFAULT_LONG_HANDLER_MS = 100.0
"""``lightflow serve`` reports a handler holding the loop longer than this (ms). The
library's ``ActorSystem`` leaves the watchdog off; a served process is where an operator
looks, and a 100 ms stall there is a stall every client felt."""


class WatchdogConfigError(RunsConfigError):
    """``LIGHTFLOW_LONG_HANDLER_MS`` is not a number of milliseconds > 0, or ``off``."""

    def __init__(self, value: str) -> None:
        self.source = LONG_HANDLER_ENV
        RunsError.__init__(
            self,
            f"{LONG_HANDLER_ENV}={value!r}: expected a number of milliseconds > 0 "
            f"(default {DEFAULT_LONG_HANDLER_MS:g}) or 'off'",
        )


def long_handler_threshold(environ: Mapping[str, str] | None = None) -> float | None:
    """The watchdog threshold in seconds from ``LIGHTFLOW_LONG_HANDLER_MS`` (None: off)."""
    raw = (os.environ if environ is None else environ).get(LONG_HANDLER_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_LONG_HANDLER_MS / 1000
    if raw.strip().lower() == "off":
        return None
    try:
        ms = float(raw)
    except ValueError:
        raise WatchdogConfigError(raw) from None
    if not (math.isfinite(ms) and ms > 0):
        raise WatchdogConfigError(raw)
    return ms / 1000


def loop_watchdog(options: ServeOptions) -> PartSource:
    """Turns on the slow-handler watchdog (``long_handler`` events in the observer's log and
    ``/system/events``) at ``LIGHTFLOW_LONG_HANDLER_MS`` (default 100 ms; ``off``)."""
    threshold = long_handler_threshold()

    async def start(system: ActorSystem) -> None:
        system.watch_long_handlers(threshold)

    return ServerPart(on_startup=start)


PARTS: tuple[PartFactory, ...] = (
    loop_watchdog,
    cluster_link,
    operator_observer,
    tenants_part,
    runs_api,
    live_examples,
)
"""What ``lightflow serve`` serves besides the operator API, in startup order: each entry
builds its area's ``ServerPart`` (routes, root-page links, startup hook) from the options.
To serve another area, add its factory here."""


def serve_parts(options: ServeOptions) -> list[PartSource]:
    """Every part of ``lightflow serve``. Raises ``RunsConfigError`` for a bad runs config
    (``WatchdogConfigError``, one of them, for a bad ``LIGHTFLOW_LONG_HANDLER_MS``)."""
    return [make(options) for make in PARTS]
