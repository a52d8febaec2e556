"""The operations the CLI, the HTTP gateway and MCP call: assets, preview, runs.

Each returns a msgspec struct (encode it to JSON as is) or raises a `FlowError` (a refusal
names its `reason`; each surface maps it). Nothing here executes steps: `create` writes a
planned run; the run actor moves it forward. Nothing here executes asset files either:
listing reads metadata statically, and `preview`/`create` resolve through an
`AssetEvaluator` (a child process with limits; specs/flow.md §Evaluation).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Protocol

import msgspec

from lightflow_actors.isa import JSONValue

from ._assets import AssetCatalog, AssetListing, check_kind
from ._evaluation import AssetEvaluator
from ._manifest import RunManifest, RunStatus, StepState, StepStatus, cancel_run, new_manifest
from ._records import RunEvent, TraceRecord
from ._resolved import ResolvedWorkflow
from ._run_id import check_run_id, new_run_id
from ._store import RunRequest, RunStore


class WallClock(Protocol):
    """Unix milliseconds (the actor system's `system.clock` satisfies it)."""

    def wall_ms(self) -> int: ...


class RunSummary(msgspec.Struct, frozen=True):
    """One line of `run list`."""

    run_id: str
    workflow: str
    status: RunStatus
    created_at_ms: int
    updated_at_ms: int


class RunView(msgspec.Struct, frozen=True):
    """`run get`: the manifest with its derived status."""

    run_id: str
    workflow: str
    status: RunStatus
    cancelled: bool
    created_at_ms: int
    updated_at_ms: int
    sequence: int
    steps: tuple[StepState, ...]
    model: str | msgspec.UnsetType = msgspec.UNSET  # the run's model override, if any
    tenant: str | msgspec.UnsetType = msgspec.UNSET  # the run's tenant, unless the default

    @classmethod
    def of(cls, manifest: RunManifest) -> RunView:
        return cls(
            run_id=manifest.run_id,
            workflow=manifest.workflow,
            status=manifest.status,
            cancelled=manifest.cancelled,
            created_at_ms=manifest.created_at_ms,
            updated_at_ms=manifest.updated_at_ms,
            sequence=manifest.sequence,
            steps=manifest.steps,
            model=manifest.model,
            tenant=manifest.tenant,
        )


class RunStatusView(msgspec.Struct, frozen=True):
    """`run status`: the run status and each step's status."""

    run_id: str
    status: RunStatus
    steps: dict[str, StepStatus]


class FlowService:
    """Assets and runs for one assets folder and one state folder.

    >>> service = FlowService(AssetCatalog.scan(root), RunStore(tmp), clock, random.Random(1))
    >>> view = service.create("text-plan", b'{"topic": "tea"}', run_id="tea-1")  # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: AssetCatalog,
        store: RunStore,
        clock: WallClock,
        rng: random.Random,
        evaluator: AssetEvaluator | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.rng = rng
        self.evaluator = evaluator if evaluator is not None else AssetEvaluator()

    def list_assets(self, kind: str | None = None) -> AssetListing:
        """Assets of a kind (`workflows`, `model`, ...), or all, and the files of that kind
        that could not be read; never executes asset code."""
        return self.catalog.listing(check_kind(kind) if kind is not None else None)

    def preview(
        self,
        workflow: str,
        inputs: bytes | Mapping[str, JSONValue] = b"{}",
        preset: str | None = None,
        model: str | None = None,
    ) -> ResolvedWorkflow:
        """Resolve (in the evaluator process) without writing anything; `model` overrides
        every api step's model (specs/flow.md §1.3)."""
        return self.evaluator.resolve(self.catalog, workflow, inputs, preset, model)

    def create(
        self,
        workflow: str,
        inputs: bytes | Mapping[str, JSONValue] = b"{}",
        run_id: str | None = None,
        preset: str | None = None,
        model: str | None = None,
    ) -> RunView:
        """Resolve and write a new planned run; RunExists (409, from `RunStore.create`) if
        `run_id` is taken."""
        if run_id is not None:
            check_run_id(run_id)  # before resolving: a hostile id fails fast, writes nothing
        return self.create_resolved(self.preview(workflow, inputs, preset, model), run_id)

    def create_resolved(
        self, resolved: ResolvedWorkflow, run_id: str | None = None, tenant: str | None = None
    ) -> RunView:
        """Write a new planned run of an already resolved workflow (what `create` does
        once `preview` answered; the runs host resolves first, then writes in order),
        working for `tenant` (None: the default tenant; checked by the surface)."""
        return RunView.of(self.new_run(resolved, run_id, tenant))

    def new_run(
        self, resolved: ResolvedWorkflow, run_id: str | None = None, tenant: str | None = None
    ) -> RunManifest:
        """`create_resolved`, returning the manifest written (a host starting the run at
        once hands it to the run actor, which then reads nothing back, ADR 0132)."""
        if run_id is not None:
            check_run_id(run_id)
        now = self.clock.wall_ms()
        if run_id is None:
            run_id = new_run_id(resolved.workflow, now, self.rng)
        manifest = new_manifest(run_id, resolved, now, tenant)
        request = RunRequest(
            run_id=run_id,
            workflow=resolved.workflow,
            inputs=resolved.inputs,
            created_at_ms=now,
            preset=resolved.preset,
            model=resolved.model,
            tenant=tenant,
        )
        self.store.create(request, resolved, manifest)
        return manifest

    def list_runs(self) -> list[RunSummary]:
        """Every run, newest first."""
        summaries = []
        for run_id in self.store.list_ids():
            m = self.store.manifest(run_id)
            summaries.append(
                RunSummary(m.run_id, m.workflow, m.status, m.created_at_ms, m.updated_at_ms)
            )
        return sorted(summaries, key=lambda s: (-s.created_at_ms, s.run_id))

    def get(self, run_id: str) -> RunView:
        return RunView.of(self.store.manifest(run_id))

    def status(self, run_id: str) -> RunStatusView:
        m = self.store.manifest(run_id)
        return RunStatusView(m.run_id, m.status, {s.id: s.status for s in m.steps})

    def request(self, run_id: str) -> RunRequest:
        return self.store.request(run_id)

    def workflow(self, run_id: str) -> ResolvedWorkflow:
        return self.store.resolved(run_id)

    def events(self, run_id: str) -> list[RunEvent]:
        return self.store.events(run_id)

    def trace(self, run_id: str) -> list[TraceRecord]:
        return self.store.trace(run_id)

    def cancel(self, run_id: str, reason: str = "cancelled by request") -> RunView:
        """Cancel a planned or running run; Conflict (409) when it already finished."""
        now = self.clock.wall_ms()
        manifest, _ = self.store.update(run_id, lambda m: cancel_run(m, reason=reason, now_ms=now))
        return RunView.of(manifest)
