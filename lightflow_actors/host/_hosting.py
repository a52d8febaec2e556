"""`RunsHosting`: the runs subtree of an actor system, and the handle every surface uses.

::

    hosting = RunsHosting()                  # config from $LIGHTFLOW_RUNS_CONFIG or defaults
    await hosting.start(system)              # also usable as create_app(on_startup=...)
    view = await hosting.call(CreateRun("text-plan", b'{"topic": "tea"}'))

The subtree (supervisor `lightflow.runs`, strategy rest_for_one, so everything after a
crashed child restarts with it and finds it again by name):

    lightflow.runs            Supervisor (rest_for_one)
      .substrate              Substrate on the tree (directory backend), when embedded
      .cortex                 CortexClient: commits requests, notices answers
      .active                 DynamicSupervisor of HostedRun actors (transient, backoff)
      .host                   RunsHost: answers the surfaces, resumes runs at start
      .mcp                    McpEndpoint: the MCP session manager (when mcp=True)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Never, TypeVar

from ctx_substrate import ProviderSpec, Substrate, SubstrateConfig, fuse_available
from lightflow_actors.adapters.cortex import CortexClient, Shortcut
from lightflow_actors.adapters.mcp import McpEndpoint
from lightflow_actors.kernel import (
    SHUTDOWN,
    ActorSystem,
    ExitReason,
    StartFailed,
    format_reason,
)
from lightflow_actors.runs import (
    HostNames,
    Lease,
    RunsCluster,
    RunsError,
    RunsHost,
    RunsPort,
    tree_lease_path,
)
from lightflow_actors.supervision import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    start_subsystem,
    stop_subsystem,
)
from lightflow_actors.tenants import TenantLedger

from ._config import RunsConfig, RunsSettings, load_runs_config
from ._providers import build_providers

__all__ = ["DEFAULT_PREFIX", "EmbeddedSubstrate", "RunsHosting"]

T = TypeVar("T")
DEFAULT_PREFIX = "lightflow.runs"


class TreeBusy(RunsError):
    """Another process serves the `/ctx` tree this substrate was to serve."""


class EmbeddedSubstrate(Substrate):
    """Our substrate on the runs tree, holding the tree lease while it serves it, so two
    processes never serve one tree (a restart would re-serve the other's claimed requests)."""

    def __init__(
        self,
        config: SubstrateConfig,
        providers: Sequence[ProviderSpec],
        lease_path: str,
        tenants: TenantLedger | None = None,
    ) -> None:
        super().__init__(config, providers, tenants=tenants)
        self._lease_path = lease_path
        self._lease: Lease | None = None

    async def on_start(self) -> None:
        self._lease = Lease.try_acquire(Path(self._lease_path))
        if self._lease is None:
            raise TreeBusy(
                f"the tree {self._config.root} is served by {Lease.holder(Path(self._lease_path))}"
            )
        await super().on_start()

    def on_stop(self, reason: object) -> None:
        super().on_stop(reason)
        if self._lease is not None:
            self._lease.release()


class RunsHosting(RunsPort):
    """Start, find and stop the runs subtree; send the host typed asks.

    `config` defaults to `load_runs_config(environ)`. `prefix` names the subtree's actors
    (two hostings in one system need two prefixes). `mcp` adds the MCP endpoint actor.
    `tenants`: the node's `TenantLedger` (ADR 0104), or a function that gives it for the
    system at start (`node_tenants`); its budgets refuse runs past ``runs_in_flight`` and
    hold provider calls past ``provider_calls_per_min``. None: no budgets (each tenant's
    requests still get a fair share of the provider slots).
    `cluster`, called at start, gives the host its `RunsCluster` (`serve --cluster`: runs
    on any node, ADR 0098); None or a None answer: a single node.
    """

    def __init__(
        self,
        config: RunsConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        prefix: str = DEFAULT_PREFIX,
        mcp: bool = True,
        ask_timeout: float = 60.0,
        tail_poll_s: float = 0.05,
        resume: bool = True,
        mount_fuse: bool = False,
        tenants: TenantLedger | Callable[[ActorSystem], TenantLedger] | None = None,
        cluster: Callable[[ActorSystem, RunsHosting], Awaitable[RunsCluster | None]] | None = None,
    ) -> None:
        self.tenants_source = tenants
        self.config = config if config is not None else load_runs_config(environ)
        self.settings: RunsSettings = self.config.settings(environ)
        super().__init__(HostNames(prefix), ask_timeout=ask_timeout)  # `tenants`: None
        self.mcp = mcp
        self._tail_poll_s = tail_poll_s
        self.resume = resume
        # Mount `ctx.fuse_mount` with the FUSE backend (serve does; a CLI serving the tree
        # for one command uses the backing folder alone).
        self.mount_fuse = mount_fuse and self.settings.fuse_mount is not None
        self.serves_tree = False
        self._cluster = cluster

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, system: ActorSystem) -> None:
        """Start the subtree in `system` (the `on_startup` hook of `create_app`)."""
        if self._system is not None:
            raise RunsError("this RunsHosting is started already; create another one")
        settings, names = self.settings, self.names
        source = self.tenants_source
        tenants = self.tenants = source(system) if callable(source) else source
        children: list[ChildSpec[Never]] = []
        lease_path = tree_lease_path(settings.state_dir, settings.layout.root)
        try:
            self.serves_tree = settings.embedded and _tree_free(lease_path)
        except OSError as exc:
            raise RunsError(
                f"cannot use the state folder {settings.state_dir}: {exc.strerror or exc}; "
                "check XDG_STATE_HOME or the runs config's state_dir"
            ) from None
        why_not = fuse_available() if self.mount_fuse else None
        if why_not is not None:  # said in one line before anything starts
            raise RunsError(f"cannot mount {settings.fuse_mount} with FUSE: {why_not}")
        if self.mount_fuse and not self.serves_tree:
            holder = Lease.holder(lease_path)
            raise RunsError(
                f"cannot mount {settings.fuse_mount} with FUSE: the tree {settings.layout.root} "
                f"is served by {holder}; stop it first"
            )
        if self.serves_tree:
            providers = build_providers(settings.providers, settings.layout)
            config = settings.substrate_config(fuse=self.mount_fuse)
            children.append(
                ChildSpec(
                    id="substrate",
                    start=lambda: EmbeddedSubstrate(config, providers, str(lease_path), tenants),
                    name=names.substrate,
                    shutdown=10.0,
                )
            )
        layout, watch, poll, resume = (
            settings.layout,
            settings.watch,
            self._tail_poll_s,
            self.resume,
        )
        cluster = None if self._cluster is None else await self._cluster(system, self)
        # The in-process shortcut (ADR 0100): only when our own substrate serves the tree
        # as a plain folder; a FUSE mount or another process's substrate keeps the watches.
        shortcut = (
            Shortcut(names.substrate, settings.routed_in_process, settings.routed_on_loop)
            if self.serves_tree and not self.mount_fuse and settings.shortcut
            else None
        )
        children += [
            ChildSpec(
                id="cortex",
                start=lambda: CortexClient(layout, watch=watch, shortcut=shortcut),
                name=names.cortex,
            ),
            ChildSpec(
                id="active",
                start=lambda: DynamicSupervisor(intensity=50, period=10.0),
                type="supervisor",
                name=names.active,
            ),
            ChildSpec(
                id="host",
                start=lambda: RunsHost(
                    settings,
                    names,
                    tail_poll_s=poll,
                    resume=resume,
                    tenants=tenants,
                    cluster=cluster,
                ),
                name=names.host,
            ),
        ]
        if self.mcp:
            children.append(ChildSpec(id="mcp", start=lambda: McpEndpoint(self), name=names.mcp))
        try:
            # A subsystem of the root: when it gives up (more than 5 restarts in 30 s),
            # the root restarts it with backoff, so /runs and /mcp come back by themselves.
            await start_subsystem(
                system,
                names.prefix,
                lambda: Supervisor(children, strategy="rest_for_one", intensity=5, period=30.0),
                name=names.prefix,
            )
        except StartFailed as exc:
            raise RunsError(f"the runs host could not start: {format_reason(exc.reason)}") from None
        self._system = system

    def answering(self) -> str:
        """Who answers this host's requests, for the CLI to say (after `start`): its own
        providers and their routes, or the process serving the tree."""
        settings = self.settings
        root = settings.layout.root
        if self.serves_tree:
            routes = ", ".join(
                f"{kind}/{name} -> {provider}"
                for kind in ("api", "tool", "thread")
                for name, provider in sorted(settings.routes.table(kind).items())
            )
            return f"this process serves {root} with the config's providers: {routes}"
        if not settings.embedded:
            return f"{root} is served by the substrate mounted there; its providers answer"
        holder = Lease.holder(tree_lease_path(settings.state_dir, root))
        return f"{root} is served by {holder} (a lightflow server); its providers answer"

    async def stop(self, reason: ExitReason = SHUTDOWN) -> None:
        """Stop the subtree (runs stop where they are; the next start resumes them).

        The root forgets the subsystem (``stop_subsystem``), so it is not restarted;
        ``reason`` is kept for callers, the subtree always stops with ``shutdown``.
        """
        system, self._system = self._system, None
        if system is None or not system.running:
            return
        await stop_subsystem(system, self.names.prefix, name=self.names.prefix)


def _tree_free(path: Path) -> bool:
    """Whether no other process serves the tree now (probe: take and give back)."""
    lease = Lease.try_acquire(path)
    if lease is None:
        return False
    lease.release()
    return True
