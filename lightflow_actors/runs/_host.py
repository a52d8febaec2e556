"""`RunsHost`: the actor every runs surface talks to, and the run actors it hosts.

The host owns the `RunsOperations` (store, catalog, layout) and decides which runs this
process drives: each driven run is a `HostedRun` (a `RunActor` that reports its normal end)
under the runs `DynamicSupervisor`, restart `transient` with backoff, registered as
`<prefix>.run:<run_id>`, and covered by a run lease (`_leases.py`) so no other process
drives it at the same time. At start the host resumes every planned or running run.

In a cluster (`cluster=`, ADR 0098) a change goes first to the node that does it
(`placed`), a driven run is covered by the cluster's lease too, every batch of its writes
is published for the other nodes, and runs are resumed by whichever node takes their
lease over (`TakeOver`), not from the folder at start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec

from lightflow_actors import flow
from lightflow_actors.cortex import Commit, Observe
from lightflow_actors.flow import FlowError, RunStore, RunView, json_form, resumable_runs
from lightflow_actors.isa import Submit
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorRef,
    ExitReason,
    LightflowError,
    Refused,
    Reply,
    StartFailed,
    format_reason,
    handler,
    is_normal_exit,
)
from lightflow_actors.supervision import Backoff, ChildSpec, SupervisorRef, start_child
from lightflow_actors.tenants import DEFAULT_TENANT, StepTurns, TenantLedger

from ._cluster import Forwarded, RunsCluster, install_copy, read_copy, read_new_run
from ._errors import (
    RunActorRestarting,
    RunEndedFirst,
    RunHostedElsewhere,
    RunsError,
    StorageUnavailable,
)
from ._leases import Lease, run_lease_path
from ._messages import (
    AwaitSettled,
    CancelRun,
    CreateRun,
    HostMessage,
    OpenStream,
    Read,
    RefreshRun,
    RetryRun,
    RunEnded,
    StreamHandle,
    SubmitStep,
    TakeOver,
)
from ._operations import RunsOperations
from ._settings import HostSettings
from ._tail import RunTail

__all__ = ["RUN_BACKOFF", "HostNames", "HostedRun", "RunStartFailed", "RunsHost"]

T = TypeVar("T")
logger = logging.getLogger("lightflow_actors.runs")

RUN_BACKOFF = Backoff(min_delay=0.2, max_delay=30.0)
"""Restarts of a crashed run actor spread out, so one bad run cannot trip the intensity
of the supervisor that holds every run."""


class RunStartFailed(RunsError):
    """A run actor could not start (its folder is unreadable, the tree is missing...)."""


class HostNames(msgspec.Struct, frozen=True):
    """The registered names of one runs subtree (`prefix` = the supervisor's name)."""

    prefix: str

    @property
    def substrate(self) -> str:
        return f"{self.prefix}.substrate"

    @property
    def cortex(self) -> str:
        return f"{self.prefix}.cortex"

    @property
    def active(self) -> str:
        return f"{self.prefix}.active"

    @property
    def host(self) -> str:
        return f"{self.prefix}.host"

    @property
    def mcp(self) -> str:
        return f"{self.prefix}.mcp"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}.run:{run_id}"


class _ResumeAll(msgspec.Struct, frozen=True):
    pass


class _SettleInCluster(msgspec.Struct, frozen=True):
    """Try again to publish the end of a run that settled here, then give its lease up
    (the cluster did not take it: NATS away); `attempt` spaces the tries out."""

    run_id: str
    attempt: int


SETTLE_RETRY = Backoff(min_delay=1.0, max_delay=30.0)
"""Between two tries to publish the end of a settled run while NATS does not take it."""


class _CreateResolved(msgspec.Struct, frozen=True):
    """The workflow of pending create `key` is resolved: write the run, in arrival order
    with the other changes."""

    key: int
    resolved: flow.ResolvedWorkflow


class HostedRun(flow.RunActor):
    """A `RunActor` that tells its host (found by name: the host may have been restarted
    since) when it stops without crashing."""

    def __init__(
        self,
        host_name: str,
        store: RunStore,
        run_id: str,
        cortex: ActorRef[Commit | Observe],
        settings: HostSettings,
        start_with: Submit | None = None,
        tenants: TenantLedger | None = None,
        cluster: RunsCluster | None = None,
        fresh: tuple[flow.ResolvedWorkflow, flow.RunManifest] | None = None,
        turns: StepTurns | None = None,
    ) -> None:
        super().__init__(
            store,
            run_id,
            cortex,
            workflow=None if fresh is None else fresh[0],
            fresh=None if fresh is None else fresh[1],
            step_timeout_s=settings.step_timeout_s,
            max_in_flight=settings.max_in_flight,
            layout=settings.layout,
            start_with=start_with,
            # A clustered run publishes each batch once durable (`written`): not pipelined.
            pipeline=cluster is None,
            turns=turns,
        )
        self._host_name = host_name
        self._hosted_id = run_id
        self._tenants = tenants
        self._hosted_store = store
        self._cluster = cluster

    async def on_start(self) -> None:
        await super().on_start()
        if self._tenants is not None:  # in flight from now on (its tenant is known now)
            self._tenants.adopt_run(self.tenant or DEFAULT_TENANT, self._hosted_id)

    async def written(self) -> None:
        """In a cluster: publish what this batch wrote (manifest, new events, new outputs);
        `RunFenced` when another node owns the run now."""
        cluster = self._cluster
        if cluster is None:
            return
        run_id = self._hosted_id
        copy = await self.run_blocking(
            functools.partial(
                read_copy,
                self._hosted_store,
                run_id,
                cluster.published_seq(run_id),
                cluster.published_outputs(run_id),
            )
        )
        await cluster.publish(run_id, copy)

    async def committing(self, request_id: str) -> None:
        if self._cluster is not None:
            await self._cluster.confirm(self._hosted_id)

    def on_stop(self, reason: ExitReason) -> None:
        super().on_stop(reason)
        if self._tenants is not None:
            self._tenants.end_run(self._hosted_id)
        host = self.system.whereis(self._host_name)
        if is_normal_exit(reason) and host is not None:
            # The name is registered by the runs supervisor for a RunsHost only.
            cast(ActorRef[RunEnded], host).tell(RunEnded(self._hosted_id, format_reason(reason)))


class RunsHost(Actor[HostMessage | _ResumeAll | _CreateResolved | _SettleInCluster]):
    """Answers the runs surfaces; starts, tracks and resumes the run actors it drives.

    Every answer goes through the kernel, and no ask can crash the host: a refusal refuses
    that ask, a failure of the work fails it (the asker's `ask` raises the error). Reads
    and `AwaitSettled` are deferred, so the host keeps taking messages while a worker
    thread reads or the run goes on; changes are async handlers, one at a time. A create
    resolves its workflow first, deferred like a read (the asset evaluator's child process
    may take up to its timeout), and only then writes the run as a change.

    With a `TenantLedger` (`tenants`, ADR 0104), a create past its tenant's
    ``runs_in_flight`` is refused (`OverBudget`, HTTP 429) before it resolves anything and
    again, for creates that raced, before it writes; each run actor counts itself in
    flight while it runs (resumed runs too: a restart never refuses a run it had). A step
    submitted by hand when the tenant has no provider call left is refused the same way
    (the run's own steps wait for their call at the substrate instead).
    """

    def __init__(
        self,
        settings: HostSettings,
        names: HostNames,
        *,
        tail_poll_s: float = 0.05,
        resume: bool = True,
        tenants: TenantLedger | None = None,
        cluster: RunsCluster | None = None,
    ) -> None:
        self._settings = settings
        self._tenants = tenants
        self._cluster = cluster
        self._names = names
        self._tail_poll_s = tail_poll_s
        self._resume = resume
        self._ops: RunsOperations | None = None
        self._active: set[str] = set()
        self._leases: dict[str, Lease] = {}
        self._waiters: dict[str, list[Reply[RunView]]] = {}  # AwaitSettled of driven runs
        self._reads: set[asyncio.Task[None]] = set()  # reads under way on worker threads
        self._creating: dict[int, tuple[CreateRun, Reply[RunView]]] = {}  # resolved, unwritten
        self._create_keys = 0
        # Where the runs' steps take turns within their tenants' step budgets (ADR 0134).
        self._turns: StepTurns | None = None

    def on_start(self) -> None:
        if self._tenants is not None:
            self._turns = StepTurns(self._tenants, self.system.loop)
        self._ops = RunsOperations(
            self._settings, self.system.clock, self.system.random, group_commit=True
        )
        if self._cluster is not None:
            # Runs are resumed by the node that takes their lease over, not from the
            # folder (it also holds copies of runs other nodes drive).
            self._cluster.hosting(cast(ActorRef[HostMessage], self.ref))
        elif self._resume:
            self.ref.tell(_ResumeAll())

    async def on_stop(self, reason: ExitReason) -> None:
        # Deferred replies still pending (waiters, reads) fail with ActorExited: the kernel
        # does that as the host exits. A read's thread cannot be stopped; its task can.
        for task in self._reads:
            task.cancel()
        if self._turns is not None:
            self._turns.close()  # the runs waiting for a turn go: they are stopping too
        if self._ops is not None:
            self._ops.close()  # kill asset evaluations under way: nobody waits for them
        for lease in self._leases.values():
            lease.release()
        self._leases.clear()
        if self._ops is not None:
            # Write the manifests still held and checkpoint the write-ahead journal (ADR
            # 0066, 0118): fsyncs, on a worker thread, not on the loop. Killed meanwhile,
            # the journal stays and is replayed at the next start.
            await self.run_blocking(self._ops.store.close)

    @property
    def ops(self) -> RunsOperations:
        assert self._ops is not None, "used before on_start"
        return self._ops

    # -- reads: deferred, computed on a worker thread ---------------------------------------

    @handler
    def read(self, msg: Read[object]) -> None:
        self._read([self.defer(msg)], msg.op, self.ops)

    @handler
    def settled(self, msg: AwaitSettled) -> None:
        reply = self.defer(msg)
        if msg.run_id in self._active:
            self._waiters.setdefault(msg.run_id, []).append(reply)  # answered by `ended`
        else:
            self._read([reply], self.ops.get, msg.run_id)

    # -- changes: one at a time, in arrival order -------------------------------------------

    @handler
    def create(self, msg: CreateRun) -> None:
        if self._forwarded(msg):
            return
        # Resolving runs asset code in the evaluator process, for up to its timeout: it is
        # done beside the mailbox (a looping asset file must not hold cancels and other
        # creates), and the run is written once resolved, as a change (`created`).
        reply = self.defer(msg)
        key = self._create_keys = self._create_keys + 1
        task = self.system.loop.create_task(self._resolve(key, msg, reply))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _resolve(self, key: int, msg: CreateRun, reply: Reply[RunView]) -> None:
        try:
            if msg.run_id is not None:
                flow.check_run_id(msg.run_id)  # a hostile id fails before any evaluation
            self._reserve(msg)  # over its budget: refused before any evaluation
            resolved = await self.run_blocking(
                self.ops.preview, msg.workflow, msg.inputs, msg.preset, msg.model
            )
        except Refused as refusal:
            reply.refuse(refusal)
        except Exception as exc:  # like a read's: it fails this ask only, changes nothing
            reply.fail(exc)
        else:
            self._creating[key] = (msg, reply)
            self.ref.tell(_CreateResolved(key, resolved))

    @handler
    async def created(self, msg: _CreateResolved) -> None:
        pending = self._creating.pop(msg.key, None)
        if pending is not None:
            create, reply = pending
            await _answer([reply], self._create(create, msg.resolved), _CHANGE_FAILURES)

    async def _create(self, msg: CreateRun, resolved: flow.ResolvedWorkflow) -> RunView:
        self._reserve(msg)  # creates that passed together are counted one by one here
        if msg.start and self._cluster is None:
            # Written, leased and its targets prepared in one worker-thread call, and its
            # actor given what was written instead of reading it back (ADR 0132): each
            # hand-off is a wait on a busy machine, on the path of the run's first step.
            manifest, lease = await self.run_blocking(
                self._create_and_lease, resolved, msg.run_id, msg.tenant
            )
            await self._drive(manifest.run_id, lease=lease, fresh=(resolved, manifest))
            return RunView.of(manifest)
        view = await self.run_blocking(self.ops.create_resolved, resolved, msg.run_id, msg.tenant)
        if self._cluster is not None:
            copy = await self.run_blocking(read_new_run, self.ops.store, view.run_id)
            try:
                await self._cluster.created(view.run_id, copy, lease=msg.start)
            except BaseException:
                # Not in the cluster (an id taken elsewhere, NATS down): not here either
                # (journaled like its creation, so a replay does not bring it back).
                await self.run_blocking(self.ops.store.discard, view.run_id)
                raise
        if msg.start:
            await self._drive(view.run_id)
        return view

    @handler
    async def cancel(self, msg: CancelRun) -> None:
        if self._forwarded(msg):
            return
        await _answer([self.defer(msg)], self._cancel(msg), _CHANGE_FAILURES)

    async def _cancel(self, msg: CancelRun) -> RunView:
        run = self._run_ref(msg.run_id)
        if run is not None:
            if self._turns is not None:
                # A run waiting for its step's turn (ADR 0134) handles nothing else until
                # it comes: the cancel gives it now, so the cancel is not held up by it.
                self._turns.hurry(msg.run_id)
            # A refusal (the run already ended) raises here and refuses this ask as it is.
            view = await _unless_ended(run.ask(flow.CancelRun(msg.reason), timeout=None))
            if view is not None:
                return view
        if self._cluster is not None:
            # Nobody drives it (its lease came here): drive it, and cancel through its
            # actor, so the cancel is published like any write.
            await self._sync(msg.run_id)
            current = await self.run_blocking(self.ops.get, msg.run_id)
            if current.status not in _SETTLED:
                await self._drive(msg.run_id)
                run = self._run_ref(msg.run_id)
                if run is not None:
                    view = await _unless_ended(run.ask(flow.CancelRun(msg.reason), timeout=None))
                    if view is not None:
                        return view
        # Not driven here (or between two incarnations, or it just ended): the store
        # decides; an actor driving it elsewhere notices at its next write and stops.
        return await self.run_blocking(self.ops.cancel, msg.run_id, msg.reason)

    @handler
    async def submit(self, msg: SubmitStep) -> None:
        if self._forwarded(msg):
            return
        await _answer([self.defer(msg)], self._submit(msg), _CHANGE_FAILURES)

    async def _submit(self, msg: SubmitStep) -> RunView:
        if self._tenants is not None:
            # A step submitted by hand is a provider call asked for now: past the tenant's
            # provider_calls budget it is refused (429), not held like the run's own.
            tenant = self._tenants.run_tenant(msg.run_id)
            if tenant is None:  # not driven here: its manifest says
                stored = (await self.run_blocking(self.ops.get, msg.run_id)).tenant
                tenant = stored if isinstance(stored, str) else DEFAULT_TENANT
            self._tenants.provider_refuse(tenant, f"{msg.run_id}/{msg.step}")
        run = self._run_ref(msg.run_id)
        if run is not None:
            submitted = await self._submit_to(run, msg)
            if submitted is not None:
                return submitted
        await self._sync(msg.run_id)
        # Refused before anything is hosted (unknown step, not ready, run ended)...
        await self.run_blocking(self.ops.check_submittable, msg.run_id, msg.step)
        # ...and the started actor takes the request right after its Mount, before it
        # plans anything itself (a race lost meanwhile is refused by the actor's start).
        request = flow.StepRequest(body=msg.body)
        started = await self._drive(msg.run_id, Submit(event=msg.step, payload=json_form(request)))
        run = None if started else self._run_ref(msg.run_id)
        if run is not None:  # adopted from an earlier incarnation of this host: ask it
            submitted = await self._submit_to(run, msg)
            if submitted is not None:
                return submitted
        return await self._current(msg.run_id)

    @handler
    async def retry(self, msg: RetryRun) -> None:
        if self._forwarded(msg):
            return
        await _answer([self.defer(msg)], self._retry(msg), _CHANGE_FAILURES)

    async def _retry(self, msg: RetryRun) -> RunView:
        if msg.run_id not in self._active:
            await self._sync(msg.run_id)
        view = await self.run_blocking(self.ops.get, msg.run_id)  # not_found first
        if view.status != "failed":
            raise flow.StepTransitionError(flow.retry_refusal(msg.run_id, view.status))
        stopping = flow.Conflict(
            f"run {msg.run_id!r} failed and its actor is still stopping; try again in a moment"
        )
        if msg.run_id in self._active:
            raise stopping
        # The run actor remounts the failed run and takes the retry before anything else;
        # a run that moved on since `view` refuses it (the start fails with that refusal).
        retry = flow.Retry(seq=view.sequence)
        if not await self._drive(msg.run_id, Submit(event=msg.run_id, payload=json_form(retry))):
            raise stopping  # an actor of an earlier incarnation of this host still runs
        return await self._current(msg.run_id)

    async def _current(self, run_id: str) -> RunView:
        """The run as its actor sees it (or as the store says once the actor ended)."""
        run = self._run_ref(run_id)
        if run is not None:
            view = await _unless_ended(run.ask(flow.GetRun(), timeout=None))
            if view is not None:
                return view
        return await self.run_blocking(self.ops.get, run_id)

    async def _submit_to(self, run: ActorRef[flow.RunMessage], msg: SubmitStep) -> RunView | None:
        """Forward the submit to the run actor. It may exit before it answers: its run
        finished meanwhile (the last answer arrived, another process cancelled it), so
        the submit is a conflict, however the actor ended; or the server is stopping
        (None: the store decides); or it crashed mid-run (`RunActorRestarting`)."""
        try:
            return await run.ask(flow.SubmitNow(msg.step, msg.body), timeout=None)
        except (ActorExited, ActorNotAlive) as exc:
            view = await self.run_blocking(self.ops.get, msg.run_id)
            if view.status in _SETTLED:
                raise RunEndedFirst(msg.run_id, msg.step, view.status) from None
            if exc.reason is not None and not is_normal_exit(exc.reason):
                raise RunActorRestarting(msg.run_id, format_reason(exc.reason)) from None
            return None

    @handler
    async def refresh(self, msg: RefreshRun) -> None:
        if self._forwarded(msg):
            return
        await _answer([self.defer(msg)], self._refresh(msg), _CHANGE_FAILURES)

    async def _refresh(self, msg: RefreshRun) -> RunView:
        run = self._run_ref(msg.run_id)
        if run is not None:
            answer = await _unless_ended(run.ask(flow.Refresh(), timeout=None))
            if answer is not None:
                return answer
        await self._sync(msg.run_id)
        view = await self.run_blocking(self.ops.get, msg.run_id)
        if view.status in _SETTLED:
            return view
        await self._drive(msg.run_id)
        return await self.run_blocking(self.ops.get, msg.run_id)

    @handler
    async def take_over(self, msg: TakeOver) -> None:
        await _answer([self.defer(msg)], self._take_over(msg.run_id), _CHANGE_FAILURES)

    async def _take_over(self, run_id: str) -> RunView:
        cluster = self._cluster
        if cluster is None:
            raise flow.Conflict("this server is not in a cluster: there is no lease to take over")
        if run_id in self._active:
            return await self._current(run_id)
        await self._claim(cluster, run_id)
        view = await self.run_blocking(self.ops.get, run_id)
        if view.status in _SETTLED:
            await cluster.release(run_id)  # it settled before its owner went down
            return view
        await self._drive(run_id)
        return await self._current(run_id)

    # -- the cluster ----------------------------------------------------------------------------

    def _forwarded(self, msg: Forwarded) -> bool:
        """In a cluster, a change not placed yet is done by the node its run belongs to
        (maybe this one, which then asks itself with `placed`), beside the mailbox."""
        if self._cluster is None or msg.placed:
            return False
        self._spawn(self._forward(self._cluster, msg, self.defer(msg)))
        return True

    async def _forward(self, cluster: RunsCluster, msg: Forwarded, reply: Reply[Any]) -> None:
        try:
            if isinstance(msg, CreateRun):
                run_id = msg.run_id
                if run_id is None:
                    now = self.system.clock.wall_ms()
                    run_id = flow.new_run_id(msg.workflow, now, self.system.random)
                flow.check_run_id(run_id)
                msg = msgspec.structs.replace(msg, run_id=run_id)
                node = await cluster.place(run_id)
            else:
                node = await cluster.route(msg.run_id)
            placed = msgspec.structs.replace(msg, placed=True)
            if node == cluster.node:
                value: RunView = await self.ref.ask(placed, timeout=None)
            else:
                value = await cluster.forward(node, placed)
                await self._synced(value.run_id)  # read your writes on this node too
        except Refused as refusal:
            reply.refuse(refusal)
        except Exception as exc:
            reply.fail(exc)
        else:
            reply.send(value)

    async def _sync(self, run_id: str) -> None:
        """In a cluster, bring this node's copy of a run it does not drive up to date."""
        if self._cluster is None or run_id in self._active:
            return
        copy = await self._cluster.latest(run_id)
        if copy is not None:
            install = functools.partial(install_copy, force=False)
            await self.run_blocking(install, self.ops.store, run_id, copy)

    async def _synced(self, run_id: str) -> None:
        """After a change another node made: this node's copy shows it (a read right
        after the answer must not miss the run). The change is done whatever happens
        here; the warden installs the copy a moment later anyway."""
        try:
            await self._sync(run_id)
        except Exception as exc:
            logger.warning("run %r: this node's copy is not brought up to date: %s", run_id, exc)

    async def _claim(self, cluster: RunsCluster, run_id: str) -> None:
        """Hold the cluster lease of `run_id`; a run that was not ours is installed from
        the cluster's copy (the truth, whatever this node's folder holds)."""
        copy = await cluster.claim(run_id)
        if copy is not None:
            await self.run_blocking(install_copy, self.ops.store, run_id, copy)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = self.system.loop.create_task(work)
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    @handler
    async def open_stream(self, msg: OpenStream) -> None:
        await _answer([self.defer(msg)], self._open_stream(msg), _CHANGE_FAILURES)

    async def _open_stream(self, msg: OpenStream) -> StreamHandle:
        try:
            await self.run_blocking(self.ops.get, msg.run_id)  # not_found before a spawn
        except flow.RunNotFound:
            if self._cluster is None:
                raise
            # Created on another node a moment ago, its copy not here yet: fetch it.
            await self._sync(msg.run_id)
            await self.run_blocking(self.ops.get, msg.run_id)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        store, poll = self.ops.store, self._tail_poll_s
        tail = self.spawn(lambda: RunTail(store, msg.run_id, msg.after, msg.mode, queue, poll))
        return StreamHandle(tail, queue)

    def _reserve(self, msg: CreateRun) -> None:
        """Refuse (`OverBudget`) a create that would start a run past its tenant's
        ``runs_in_flight`` (a run created without starting it is not in flight)."""
        if self._tenants is not None and msg.start:
            self._tenants.reserve_run(msg.tenant or DEFAULT_TENANT)

    # -- hosting ------------------------------------------------------------------------------

    @handler
    async def resume_all(self, msg: _ResumeAll) -> None:
        for run_id in await self.run_blocking(resumable_runs, self.ops.store):
            try:
                await self._drive(run_id)
            except (FlowError, RunsError) as exc:
                logger.warning("run %r is not resumed here: %s", run_id, exc)

    def _lease_and_prepare(
        self, path: Path, run_id: str, resolved: flow.ResolvedWorkflow | None = None
    ) -> Lease | None:
        lease = Lease.try_acquire(path)
        if lease is not None:
            try:
                self.ops.prepare_targets(run_id, resolved)
            except BaseException:
                lease.release()
                raise
        return lease

    def _create_and_lease(
        self, resolved: flow.ResolvedWorkflow, run_id: str | None, tenant: str | None
    ) -> tuple[flow.RunManifest, Lease | None]:
        """Write a new run, then take its lease and prepare its targets (one worker-thread
        call); no lease (None) when another process took it meanwhile."""
        manifest = self.ops.new_run(resolved, run_id, tenant)
        path = run_lease_path(self._settings.state_dir, manifest.run_id)
        return manifest, self._lease_and_prepare(path, manifest.run_id, resolved)

    async def _drive(
        self,
        run_id: str,
        start_with: Submit | None = None,
        *,
        lease: Lease | None = None,
        fresh: tuple[flow.ResolvedWorkflow, flow.RunManifest] | None = None,
    ) -> bool:
        """Start the run actor of `run_id` under the runs supervisor (once); its first
        incarnation takes `start_with` right after its Mount (`RunActor`), restarts do
        not (they resume from the manifest, where an accepted input is recorded). False
        when no actor was started (it runs already, or was adopted): `start_with` was
        not delivered. A run just created here (`fresh`: its workflow and manifest) comes
        with its `lease` taken and its targets prepared (`_create_and_lease`); its first
        incarnation starts from them."""
        path = run_lease_path(self._settings.state_dir, run_id)
        running = self.system.whereis(self._names.run(run_id)) is not None
        if lease is not None and (run_id in self._active or running or run_id in self._leases):
            lease.release()  # never for a run just created; what it holds already stays
            lease = None
        if run_id in self._active:
            return False
        if running:
            # Started by an earlier incarnation of this host (it crashed; the runs kept
            # going): adopt it. Its lease is this process's already (record locks).
            lease = Lease.try_acquire(path)
            if lease is not None:
                self._leases[run_id] = lease
            self._active.add(run_id)
            return False
        held = self._leases.get(run_id)
        if lease is not None:
            held = None  # taken, its targets prepared, with the run's creation
        else:
            # The lease and the run's target folders in one worker-thread call (a new
            # run's start is on its first step's path; each hand-off is a wait on a busy
            # machine).
            lease = held or await self.run_blocking(self._lease_and_prepare, path, run_id)
        if lease is None:
            raise RunHostedElsewhere(run_id, Lease.holder(path))
        self._leases[run_id] = lease
        try:
            if self._cluster is not None:
                await self._claim(self._cluster, run_id)
            if held is not None:
                await self.run_blocking(self.ops.prepare_targets, run_id)
            await start_child(self._supervisor(), self._spec(run_id, start_with, fresh))
        except StartFailed as exc:
            self._leases.pop(run_id).release()
            if self._cluster is not None:
                await self._cluster.release(run_id)
            cause = exc.reason
            if isinstance(cause, FlowError | RunsError):
                raise cause from None
            raise RunStartFailed(
                f"run {run_id!r} could not start: {format_reason(cause)}"
            ) from None
        except BaseException:
            self._leases.pop(run_id).release()
            raise
        self._active.add(run_id)
        return True

    def _spec(
        self,
        run_id: str,
        start_with: Submit | None,
        fresh: tuple[flow.ResolvedWorkflow, flow.RunManifest] | None = None,
    ) -> ChildSpec[flow.RunMessage]:
        host = self._names.host
        store, settings, system = self.ops.store, self._settings, self.system
        cluster = self._cluster
        cortex_name = self._names.cortex
        first = [start_with] if start_with is not None else []
        created = [fresh] if fresh is not None else []  # for the first incarnation only
        tenants, turns = self._tenants, self._turns

        def start() -> HostedRun:
            # Looked up at every (re)start: a restarted client has a new ref.
            cortex = system.whereis(cortex_name)
            if cortex is None:
                raise RunStartFailed(f"run {run_id!r}: the CortexFS client is not running")
            # The name is registered by the runs supervisor for the CortexFS client only.
            cortex = cast(ActorRef[Commit | Observe], cortex)
            start_with = first.pop() if first else None
            fresh = created.pop() if created else None
            return HostedRun(
                host, store, run_id, cortex, settings, start_with, tenants, cluster, fresh, turns
            )

        return ChildSpec(
            id=f"run:{run_id}",
            start=start,
            restart="transient",
            backoff=RUN_BACKOFF,
            name=self._names.run(run_id),
        )

    @handler
    def ended(self, msg: RunEnded) -> None:
        self._active.discard(msg.run_id)
        lease = self._leases.pop(msg.run_id, None)
        if lease is not None:
            lease.release()
        waiters = self._waiters.pop(msg.run_id, [])
        if self._cluster is not None:
            self._spawn(self._ended_in_cluster(self._cluster, msg.run_id, waiters))
        elif waiters:
            self._read(waiters, self.ops.get, msg.run_id)

    async def _ended_in_cluster(
        self, cluster: RunsCluster, run_id: str, waiters: list[Reply[RunView]], attempt: int = 0
    ) -> None:
        """A run that settled here publishes what the cluster lacks of it, then gives its
        cluster lease up; one that stopped unsettled (the server stops) keeps it for
        whoever takes it over. A fenced run (another node took it over while this one was
        cut off) is not this node's any more: what it wrote after the takeover was never
        the run's, and the cluster's copy replaces it here. Waiters are answered after
        that, so none sees the fenced writes.

        What the cluster lacks: the run's last writes when the actor that made them
        crashed publishing them (NATS went away under it); its restart found the run
        settled and ended at once, writing nothing more. Released without them, the
        cluster's copy would say `running` for good, with no lease left for a node to take
        over. While NATS does not take them the lease stays, and this is tried again
        (`_SettleInCluster`, spaced out) until the copy is published or another node
        fences this one."""
        retry = False
        try:
            if cluster.holds(run_id):
                view = await self.run_blocking(self.ops.get, run_id)
                if view.status in _SETTLED and run_id not in self._active:
                    retry = True  # until its end is published (or it was fenced)
                    try:
                        await self._publish_rest(cluster, run_id)
                    except flow.RunFenced as fenced:  # another node's now: its copy is the run
                        logger.warning("run %r: %s", run_id, fenced)
                    else:
                        await cluster.release(run_id)
                    retry = False
            if not cluster.holds(run_id):
                copy = await cluster.latest(run_id)
                if copy is not None and run_id not in self._active:
                    await self.run_blocking(install_copy, self.ops.store, run_id, copy)
        except Exception as exc:  # NATS away: the lease stays (and is tried again if settled)
            logger.warning("run %r: its cluster lease or copy is left as it is: %s", run_id, exc)
        if retry and self.ref.alive:
            delay = SETTLE_RETRY.delay(attempt, self.system.random)
            self.send_after(delay, self.ref, _SettleInCluster(run_id, attempt + 1))
        if waiters:
            self._read(waiters, self.ops.get, run_id)

    async def _publish_rest(self, cluster: RunsCluster, run_id: str) -> None:
        """Publish the writes of a run this node holds that its copy lacks (nothing when
        every batch was published)."""
        copy = await self.run_blocking(
            read_copy,
            self.ops.store,
            run_id,
            cluster.published_seq(run_id),
            cluster.published_outputs(run_id),
        )
        await cluster.publish(run_id, copy)

    @handler
    def settle_in_cluster(self, msg: _SettleInCluster) -> None:
        if self._cluster is not None and msg.run_id not in self._active:
            self._spawn(self._ended_in_cluster(self._cluster, msg.run_id, [], msg.attempt))

    # -- helpers -------------------------------------------------------------------------------

    def _run_ref(self, run_id: str) -> ActorRef[flow.RunMessage] | None:
        if run_id not in self._active:
            return None
        ref = self.system.whereis(self._names.run(run_id))
        return ref  # type: ignore[return-value]

    def _supervisor(self) -> SupervisorRef:
        ref = self.system.whereis(self._names.active)
        if ref is None:
            raise RunStartFailed(
                f"the runs supervisor {self._names.active!r} is not running (restarting?); "
                "try again in a moment"
            )
        return cast(SupervisorRef, ref)

    def _read(self, replies: list[Reply[T]], fn: Callable[..., T], *args: object) -> None:
        """Answer `replies` with blocking `fn(*args)`, run on a worker thread (the kernel's
        `run_blocking`) while the host goes on with its mailbox. A read changes nothing
        here, so any error of it fails only these asks."""
        task = self.system.loop.create_task(self._read_now(replies, fn, args))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read_now(
        self, replies: list[Reply[T]], fn: Callable[..., T], args: tuple[object, ...]
    ) -> None:
        await _answer(replies, self.run_blocking(fn, *args), (Exception,))


_CHANGE_FAILURES: tuple[type[Exception], ...] = (FlowError, LightflowError)  # RunsError too
"""The errors of a change that fail its ask. Anything else is a bug in the host: it
crashes, its supervisor restarts it, and the asker gets `ActorExited`."""


async def _answer(
    replies: list[Reply[T]], work: Awaitable[T], failures: tuple[type[Exception], ...]
) -> None:
    """Answer `replies` with what `work` gives: its value, its refusal, or its failure.

    A full disk, spent quota, lost permission or exhausted file table refuses this request
    (`StorageUnavailable`, 503) and the host goes on: a crash would not make space, and
    five of them in a row would take the whole runs subsystem down."""
    try:
        value = await work
    except Refused as refusal:
        for reply in replies:
            reply.refuse(refusal)
    except OSError as exc:
        if StorageUnavailable.covers(exc):
            logger.warning("runs state folder: %s", exc)
            for reply in replies:
                reply.refuse(StorageUnavailable(exc))
        elif isinstance(exc, failures):
            for reply in replies:
                reply.fail(exc)
        else:
            raise
    except failures as exc:
        for reply in replies:
            reply.fail(exc)
    else:
        for reply in replies:
            reply.send(value)


async def _unless_ended(ask: Awaitable[T]) -> T | None:
    """A run actor's answer, or None when it stopped without crashing before it answered
    (its run settled meanwhile, or the server is stopping): the store decides then."""
    try:
        return await ask
    except (ActorExited, ActorNotAlive) as exc:
        if exc.reason is not None and not is_normal_exit(exc.reason):
            raise
        return None


_SETTLED = ("succeeded", "failed", "cancelled")
