"""What the runs service needs to know of its configuration, as a protocol.

The configuration itself (`host.RunsSettings`) also says which substrate answers and how;
that is the composition root's business, so the service sees only these fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from lightflow_actors.cortex import CtxLayout, CtxSource
from lightflow_actors.flow import EvaluationLimits

__all__ = ["HostSettings"]


class HostSettings(Protocol):
    """The resolved settings a `RunsHost` and its run actors read."""

    @property
    def state_dir(self) -> Path:
        """Where runs live (`<state_dir>/runs/<run_id>/`)."""
        ...

    @property
    def assets(self) -> Path:
        """The assets folder (workflows, nodes, compositions, models)."""
        ...

    @property
    def asset_overlays(self) -> tuple[Path, ...]:
        """Folders added to `assets` (`$LIGHTFLOW_ASSETS`); their ids shadow its ids."""
        ...

    @property
    def layout(self) -> CtxLayout:
        """The `/ctx` tree the run actors commit requests to."""
        ...

    @property
    def ctx_source(self) -> CtxSource:
        """Why `layout` is this tree (the runs config, the environment, `/ctx`, or the
        state folder)."""
        ...

    @property
    def step_timeout_s(self) -> float:
        """How long a submitted step may wait for its answer."""
        ...

    @property
    def max_in_flight(self) -> int | None:
        """How many steps of one run may be submitted at once (None: no limit)."""
        ...

    @property
    def evaluation(self) -> EvaluationLimits:
        """Time and memory limits of the process that evaluates asset files."""
        ...
