"""`SubstrateConfig`: everything about a substrate that is data (providers, being code, are not)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from lightflow_actors.supervision import DEFAULT_WORKER_SHUTDOWN

from ._policy import Policy
from ._router import Routes
from ._watcher import WatchMode

__all__ = ["SubstrateConfig"]

Positive = Annotated[float, msgspec.Meta(gt=0)]


class SubstrateConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How one substrate serves one tree.

    `root` is the tree (the directory backend's folder, or the FUSE backend's backing folder);
    with `mount`, the FUSE backend serves it there and commits are seen by the FUSE rename;
    `uids`, `tools` and `threads` name the folders created at start (threads in every uid's
    home) so clients find their inboxes; requests in folders created later are served too.
    `provider_shutdown_s` is how long a provider may go on with its in-flight request when
    the substrate stops; then it is killed and the request, still claimed on disk, is served
    again after the restart.
    """

    root: str
    mount: str | None = None  # FUSE backend: mount the tree here (root is the backing folder)
    # With `mount`: clients also commit in the backing folder directly (the embedded runs
    # host does), so it is watched as without a mount, not only polled slowly.
    direct_writers: bool = False
    routes: Routes = msgspec.field(default_factory=Routes)
    policy: Policy = msgspec.field(default_factory=Policy)
    uids: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    threads: tuple[str, ...] = ()
    max_request_bytes: Annotated[int, msgspec.Meta(gt=0)] = 1 << 20
    watch: WatchMode = "inotify"
    poll_interval_s: Positive = 0.2
    rescan_interval_s: Positive = 2.0
    max_restarts: Annotated[int, msgspec.Meta(ge=0)] = 5
    restart_period_s: Positive = 10.0
    provider_shutdown_s: Annotated[float, msgspec.Meta(ge=0)] = DEFAULT_WORKER_SHUTDOWN
    durable_audit: bool = True
