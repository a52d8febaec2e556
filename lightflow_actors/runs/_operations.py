"""`RunsOperations`: the synchronous work behind every runs surface (HTTP, MCP, CLI).

Each method reads or writes the run store, the asset catalog or the `/ctx` layout and
returns a msgspec struct (or bytes); errors are `FlowError`s (refusals carry a reason).
None of it drives a run: executing steps is the run actor's job, hosted by `RunsHost`.
The host calls these on worker threads; CLI verbs that need no run actor call them directly.
"""

from __future__ import annotations

import contextlib
import random

import msgspec

from lightflow_actors.cortex import AbiRecord, CtxLayout, ctx_abi
from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    AssetListing,
    FlowService,
    ResolvedWorkflow,
    RunManifest,
    RunRequest,
    RunStatusView,
    RunStore,
    RunSummary,
    RunView,
    WallClock,
    check_run_id,
    check_submittable,
)
from lightflow_actors.flow.streams import StreamsInfo, snapshot_frame, streams_info

from ._catalog import CatalogCache
from ._settings import HostSettings

__all__ = ["RunsOperations"]


class RunsOperations:
    """Assets, previews and runs of one `HostSettings` (state folder, assets, tree).

    >>> ops = RunsOperations(RunsConfig().settings(), clock, random.Random(1))  # doctest: +SKIP
    >>> ops.create("text-plan", b'{"topic": "tea"}', run_id="tea-1").status  # doctest: +SKIP
    'planned'
    """

    def __init__(
        self,
        settings: HostSettings,
        clock: WallClock,
        rng: random.Random,
        *,
        group_commit: bool = False,
    ) -> None:
        self.settings = settings
        # The server group-commits its runs' writes (ADR 0066); the CLI writes directly.
        self.store = RunStore(settings.state_dir, group_commit=group_commit)
        self.catalogs = CatalogCache(settings.assets, settings.asset_overlays)
        self.evaluator = AssetEvaluator(settings.evaluation)
        self._clock = clock
        self._rng = rng
        self._no_assets = AssetCatalog(settings.assets, [])

    @property
    def layout(self) -> CtxLayout:
        return self.settings.layout

    def service(self) -> FlowService:
        """A `FlowService` over the catalog as the asset files are now."""
        return FlowService(
            self.catalogs.current(), self.store, self._clock, self._rng, self.evaluator
        )

    def close(self) -> None:
        """Stop the asset evaluations under way (a stopping host does not wait for them)."""
        self.evaluator.close()

    # -- assets and previews ----------------------------------------------------------

    def assets(self, kind: str | None = None) -> AssetListing:
        return self.service().list_assets(kind)

    def preview(
        self, workflow: str, inputs: bytes, preset: str | None = None, model: str | None = None
    ) -> ResolvedWorkflow:
        """Resolve in the evaluator process (cached by the asset files' content)."""
        return self.service().preview(workflow, inputs, preset, model)

    # -- runs -------------------------------------------------------------------------

    def create(
        self,
        workflow: str,
        inputs: bytes,
        run_id: str | None = None,
        preset: str | None = None,
        model: str | None = None,
    ) -> RunView:
        """Write a new planned run (nothing is written when anything is wrong)."""
        if run_id is not None:
            check_run_id(run_id)  # before the catalog: a hostile id fails first
        return self.service().create(workflow, inputs, run_id, preset, model)

    def create_resolved(
        self, resolved: ResolvedWorkflow, run_id: str | None, tenant: str | None = None
    ) -> RunView:
        """Write a new planned run of a workflow `preview` resolved, for `tenant`."""
        return RunView.of(self.new_run(resolved, run_id, tenant))

    def new_run(
        self, resolved: ResolvedWorkflow, run_id: str | None, tenant: str | None = None
    ) -> RunManifest:
        """`create_resolved`, returning the manifest written."""
        return self.service_without_catalog().new_run(resolved, run_id, tenant)

    def prepare_targets(self, run_id: str, resolved: ResolvedWorkflow | None = None) -> None:
        """Create the inbox and outbox of every tool and thread the run's steps address,
        so commits find their folder (api folders exist from the substrate's start);
        `resolved`: the run's workflow when the caller has it (not read again)."""
        if resolved is None:
            resolved = self.store.resolved(run_id)
        for step in resolved.steps:
            if step.target == "api":
                continue
            # A tree we do not serve (a FUSE mount) may refuse: the commit then fails
            # and the step reports why.
            with contextlib.suppress(OSError, ValueError):
                self.layout.inbox(step.target, step.address).mkdir(parents=True, exist_ok=True)
                self.layout.outbox(step.target, step.address).mkdir(parents=True, exist_ok=True)

    def list_runs(self) -> list[RunSummary]:
        return self.service_without_catalog().list_runs()

    def get(self, run_id: str) -> RunView:
        return self.service_without_catalog().get(run_id)

    def status(self, run_id: str) -> RunStatusView:
        return self.service_without_catalog().status(run_id)

    def request(self, run_id: str) -> RunRequest:
        return self.store.request(run_id)

    def workflow(self, run_id: str) -> ResolvedWorkflow:
        return self.store.resolved(run_id)

    def events_ndjson(self, run_id: str) -> bytes:
        """`events.jsonl` as stored (complete lines only), for NDJSON answers."""
        return _ndjson(self.store.events_raw(run_id))

    def trace_ndjson(self, run_id: str) -> bytes:
        return _ndjson(self.store.trace_raw(run_id))

    def check_submittable(self, run_id: str, step: str) -> RunView:
        """The run if `run submit` may submit `step` now (else `not_found`, `conflict`)."""
        manifest = self.store.manifest(run_id)
        depends_on = self.store.resolved(run_id).step(step).depends_on
        check_submittable(manifest, step, depends_on)
        return RunView.of(manifest)

    def cancel(self, run_id: str, reason: str) -> RunView:
        """Cancel a run no actor of this process drives (409 when it already finished)."""
        return self.service_without_catalog().cancel(run_id, reason)

    # -- /ctx and streams -------------------------------------------------------------

    def abi(self) -> AbiRecord:
        """The tree in use, and why it is this one (`source`)."""
        return msgspec.structs.replace(ctx_abi(self.layout), source=self.settings.ctx_source)

    def streams(self) -> StreamsInfo:
        views = [RunView.of(self.store.manifest(i)) for i in self.store.list_ids()]
        views.sort(key=lambda v: (-v.created_at_ms, v.run_id))
        return streams_info(views)

    def snapshot(self, run_id: str) -> bytes:
        return snapshot_frame(self.get(run_id))

    def service_without_catalog(self) -> FlowService:
        """Reading runs needs no assets: a broken asset file must not hide the runs."""
        return FlowService(self._no_assets, self.store, self._clock, self._rng, self.evaluator)


def _ndjson(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)
