"""Runs from a short-lived process (the CLI): read the store directly, or host a run.

Reading (`local_operations`) needs no actor: the run store is the truth and is safe to
read while a server drives the run. Changing a run (`hosted`) starts a small actor system
with the runs subtree (without MCP, without resuming other runs): it serves the `/ctx` tree
itself unless a server already does (the tree lease says), drives the run it was asked
about under a run lease, and stops once that run settles.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from lightflow_actors.flow import RunView
from lightflow_actors.isa import JSONValue
from lightflow_actors.runs import (
    AwaitSettled,
    CreateRun,
    RefreshRun,
    RetryRun,
    RunsError,
    RunsOperations,
    SubmitStep,
)
from lightflow_actors.supervision import ActorSystem

from ._config import RunsConfig, load_runs_config
from ._hosting import RunsHosting

__all__ = [
    "create_and_settle",
    "hosted",
    "local_operations",
    "refresh_and_settle",
    "retry_and_settle",
    "run_hosted",
    "submit_and_settle",
]

T = TypeVar("T")


class _ReadOnlyClock:
    """The clock of a read-only `RunsOperations`: reading runs never needs the time."""

    def wall_ms(self) -> int:
        raise RunsError("a read-only RunsOperations was asked to write; use `hosted`")


def local_operations(
    config: RunsConfig | None = None, environ: Mapping[str, str] | None = None
) -> RunsOperations:
    """Read-only operations on the configured store, assets and tree."""
    chosen = config if config is not None else load_runs_config(environ)
    return RunsOperations(chosen.settings(environ), _ReadOnlyClock(), random.Random(0))


async def hosted(
    work: Callable[[RunsHosting], Awaitable[T]],
    config: RunsConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Run `work` against a runs host in a fresh actor system, then stop everything."""
    hosting = RunsHosting(config, environ=environ, mcp=False, resume=False)
    async with ActorSystem("lightflow-cli") as system:
        await hosting.start(system)
        try:
            return await work(hosting)
        finally:
            await hosting.stop()


def run_hosted(
    work: Callable[[RunsHosting], Awaitable[T]],
    config: RunsConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """`hosted` on a new event loop (the CLI's entry)."""
    return asyncio.run(hosted(work, config, environ))


async def create_and_settle(
    hosting: RunsHosting,
    workflow: str,
    inputs: bytes,
    run_id: str | None = None,
    preset: str | None = None,
    *,
    wait: bool = True,
    model: str | None = None,
    tenant: str | None = None,
) -> RunView:
    """Create a run (for `tenant`); with `wait`, drive it here until it settles and
    return it then."""
    create = CreateRun(workflow, inputs, run_id, preset, start=wait, model=model, tenant=tenant)
    view = await hosting.call(create)
    if not wait:
        return view
    return await hosting.call(AwaitSettled(view.run_id))


async def refresh_and_settle(hosting: RunsHosting, run_id: str) -> RunView:
    """Drive a run left unfinished (no server, or a crash) here until it settles."""
    await hosting.call(RefreshRun(run_id))
    return await hosting.call(AwaitSettled(run_id))


async def submit_and_settle(
    hosting: RunsHosting, run_id: str, step: str, body: dict[str, JSONValue] | None = None
) -> RunView:
    """Submit a ready planned step now (with `body` as its request, when given), then
    drive the run here until it settles."""
    await hosting.call(SubmitStep(run_id, step, body))
    return await hosting.call(AwaitSettled(run_id))


async def retry_and_settle(hosting: RunsHosting, run_id: str) -> RunView:
    """Retry a failed run from its failure frontier, driving it here until it settles."""
    await hosting.call(RetryRun(run_id))
    return await hosting.call(AwaitSettled(run_id))
