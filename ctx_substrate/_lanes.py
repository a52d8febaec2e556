"""The substrate's file I/O off the event loop: FIFO lanes of blocking jobs (ADR 0119).

A job is a function of no argument that does file work (claim and read a request, write
its answer, append to the audit log, list the inboxes) and returns what the actor must
know (an outcome) or None. A lane is a queue of jobs and at most one batch of them on a
worker thread at a time, through the actor's ``run_blocking``: the deterministic
scheduler runs it as it runs every ``run_blocking`` (simulated with
``Scenario(blocking=...)`` or inline with ``allow_threads``), and the loop never waits for
a `write`, an `fsync` or a `rename`. A batch is what the lane holds when it takes one (at
most `MAX_BATCH` jobs), so a burst costs one thread hand-off, not one per job; the
outcomes of a batch go back to the actor in one message, in the order the jobs ran, with
the number of jobs it ran; the actor hands that number back (`settled`) once it has
handled them, so `unsettled` counts the jobs whose work or outcome is still under way.

Lane 0 is the intake lane: claims, reads and rescans, in the order they come, so requests
reach the providers' queues in the order they were committed (FIFO within a tenant, ADR
0104). The other lanes write answers: every job of one key (the substrate keys a
request's by its claim path) goes to the same one and runs after the jobs queued before
it with that key, so a request is answered and audited in order, and a request's first
job there comes after its intake. `LANES` lanes run at once at most (the threads are
bounded): fsyncs of different requests' answers overlap, which a journaling file system
commits together.

An answer lane is fair between tenants (ADR 0128): its jobs wait per tenant (the tenant
the substrate names with the key; a key's jobs stay with the tenant its first queued job
named, so they keep their order) and a batch takes them by round robin (`FairQueue`), so
a tenant whose answers pile up (a flood of runs) fills a batch with its own jobs only
after every other tenant's next job: another tenant's answer waits for at most the batch
under way and one job of each tenant, not for the backlog. The intake lane stays in
commit order: a request's tenant is only known once it is read.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from lightflow_actors.tenants import DEFAULT_TENANT, FairQueue

__all__ = ["LANES", "MAX_BATCH", "IoLanes", "Job", "JobCrashed"]

logger = logging.getLogger("ctx_substrate")

LANES = 3  # the intake lane and two answer lanes
MAX_BATCH = 32

Job = Callable[[], object]
Runner = Callable[..., Awaitable[tuple[object, ...]]]


class JobCrashed:
    """The outcome that ends a batch whose job raised: the actor re-raises `error` (a bug
    or a refused thread under simulation) after handling the outcomes before it."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class IoLanes:
    """`count` FIFO lanes (lane 0 the intake's); `run(fn, *args)` runs blocking work (the
    actor's ``run_blocking``), `deliver(outcomes, jobs)` hands a batch's outcomes back (a
    tell to the actor). After `close` no batch starts, and a running one stops before
    its next job."""

    def __init__(
        self,
        run: Runner,
        deliver: Callable[[tuple[object, ...], int], None],
        loop: asyncio.AbstractEventLoop,
        count: int = LANES,
    ) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self._run = run
        self._deliver = deliver
        self._loop = loop
        self._intake: deque[Job] = deque()
        self._answers: list[FairQueue[_Keyed]] = [FairQueue() for _ in range(count - 1)]
        self._key_tenants: dict[str, tuple[str, int]] = {}  # key -> (tenant, jobs queued)
        self._busy = [False] * count
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.batches = 0  # thread hand-offs so far (bench, tests)
        self.jobs = 0  # jobs handed to a thread so far
        self.unsettled = 0  # jobs submitted whose outcome the actor has not handled yet

    def submit(self, job: Job, key: str | None = None, tenant: str | None = None) -> None:
        """Queue `job` on the intake lane (`key` None), else behind the jobs of `key`,
        among `tenant`'s (default: the default tenant's) on its answer lane."""
        if self.closed:
            return
        lane, answer_lanes = 0, len(self._answers)
        if key is None or not answer_lanes:
            self._intake.append(job)
        else:
            lane = 1 + zlib.crc32(key.encode("utf-8", "surrogateescape")) % answer_lanes
            held = self._key_tenants.get(key)
            owner = held[0] if held is not None else (tenant or DEFAULT_TENANT)
            self._key_tenants[key] = (owner, (held[1] if held is not None else 0) + 1)
            self._answers[lane - 1].push(owner, _Keyed(job, key))
        self.unsettled += 1
        if not self._busy[lane]:
            self._busy[lane] = True
            task = self._loop.create_task(self._drain(lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def queued(self) -> int:
        """Jobs waiting for their lane (not counting a batch being run)."""
        return len(self._intake) + sum(len(q) for q in self._answers)

    def waiting(self) -> dict[str, int]:
        """Answer-lane jobs waiting, by tenant (tests, operators)."""
        counts: dict[str, int] = {}
        for queue in self._answers:
            for tenant, n in queue.waiting().items():
                counts[tenant] = counts.get(tenant, 0) + n
        return counts

    @property
    def idle(self) -> bool:
        """No job queued and no batch running."""
        return not any(self._busy)

    def _take(self, lane: int) -> list[Job]:
        """The next batch of `lane`: its intake jobs in order, or answer jobs by tenant."""
        if lane == 0:
            intake = self._intake
            return [intake.popleft() for _ in range(min(len(intake), MAX_BATCH))]
        queue = self._answers[lane - 1]
        batch: list[Job] = []
        while queue and len(batch) < MAX_BATCH:
            popped = queue.pop()
            if popped is None:  # pragma: no cover - pop without a filter always finds one
                break
            keyed = popped[1]
            tenant, jobs = self._key_tenants[keyed.key]
            if jobs > 1:
                self._key_tenants[keyed.key] = (tenant, jobs - 1)
            else:
                del self._key_tenants[keyed.key]
            batch.append(keyed.job)
        return batch

    def _has_work(self, lane: int) -> bool:
        return bool(self._intake if lane == 0 else self._answers[lane - 1])

    async def _drain(self, lane: int) -> None:
        try:
            while self._has_work(lane) and not self.closed:
                batch = self._take(lane)
                self.batches += 1
                self.jobs += len(batch)
                try:
                    outcomes = await self._run(run_jobs, batch, self)
                except Exception as exc:  # the runner refused (simulation) or failed
                    outcomes = (JobCrashed(exc),)
                if not self.closed:
                    self._deliver(outcomes, len(batch))
        finally:
            self._busy[lane] = False

    def settled(self, jobs: int) -> None:
        """The actor handled the outcomes of a batch of `jobs` jobs."""
        self.unsettled -= jobs

    def close(self) -> None:
        """No new batch; the running ones stop before their next job. Queued jobs are
        dropped: what they were to do is found again by the next incarnation's rescan."""
        self.closed = True
        self._intake.clear()
        self._answers = [FairQueue() for _ in self._answers]
        self._key_tenants.clear()


class _Keyed:
    """An answer-lane job and the key it keeps its order with."""

    __slots__ = ("job", "key")

    def __init__(self, job: Job, key: str) -> None:
        self.job = job
        self.key = key


def run_jobs(jobs: Sequence[Job], lanes: IoLanes) -> tuple[object, ...]:
    """Run `jobs` in order (on the worker thread); their outcomes, None left out. A job
    that raises ends the batch with `JobCrashed` after the outcomes before it."""
    outcomes: list[object] = []
    for job in jobs:
        if lanes.closed:
            break
        try:
            outcome = job()
        except Exception as exc:
            if not lanes.closed:  # after close: the audit log closed under a running job
                logger.exception("a substrate file job failed")
            outcomes.append(JobCrashed(exc))
            break
        if outcome is not None:
            outcomes.append(outcome)
    return tuple(outcomes)
