"""`runs_part`: the runs API as a part of `lightflow serve` (routes, root links, startup,
and the runs page a browser gets from `GET /runs`).

::

    from lightflow_actors.adapters.http import ServeOptions, run_server
    run_server(options, announce, [runs_part(token=options.token)])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping

from lightflow_actors.adapters.http import RUNS_LINKS, Guard, ServerPart, runs_routes
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.observer.runs import RunsPage
from lightflow_actors.runs import RunsCluster
from lightflow_actors.tenants import TenantLedger

from ._config import RunsConfig
from ._hosting import RunsHosting

__all__ = ["runs_part"]


def runs_part(
    config: RunsConfig | None = None,
    *,
    token: str | None = None,
    allowed_origins: Collection[str] = (),
    environ: Mapping[str, str] | None = None,
    fuse: bool = False,
    tenants: TenantLedger | Callable[[ActorSystem], TenantLedger] | None = None,
    cluster: Callable[[ActorSystem, RunsHosting], Awaitable[RunsCluster | None]] | None = None,
) -> ServerPart:
    """The runs routes, their root-page links, the hook that starts the runs subtree
    (which resumes every unfinished run), and the runs page (a browser's `GET /runs`;
    it takes the routes' token). With `fuse`, the config's `ctx.fuse_mount` is mounted.
    `tenants`: the node's ledger of tenant budgets (`RunsHosting`); `cluster` gives the
    host its `RunsCluster` (see `RunsHosting`). Raises `RunsConfigError` for a bad config."""
    hosting = RunsHosting(
        config, environ=environ, mount_fuse=fuse, tenants=tenants, cluster=cluster
    )
    page = RunsPage(hosting, Guard(token, allowed_origins), allowed_origins=allowed_origins)
    routes = runs_routes(hosting, token=token, allowed_origins=allowed_origins, html=page)
    return ServerPart(
        routes=tuple(routes),
        links=RUNS_LINKS,
        on_startup=hosting.start,
        pages=(page.bind,),
    )
