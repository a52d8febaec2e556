"""A clustered run's end reaches the cluster even when NATS failed under its last publish.

The runs host in-process with an in-memory `RunsCluster` (one node, `a`): the run actor
publishes each batch it writes. When the publish of the run's last batch fails (NATS went
away under it, longer than the adapter waits), the actor crashes; its restart finds the
run settled and ends at once, writing nothing. The host must then publish what the
cluster lacks before it gives the lease up: released without it, the cluster's copy says
`running` for good and no node holds a lease to take it over (the drill's stuck run,
`test_cluster_drill_real.py`). While the cluster does not take the end, the lease stays
and the host tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import pytest

from lightflow_actors.adapters.nats import ClusterUnavailable
from lightflow_actors.flow import RunFenced, RunManifest, RunView
from lightflow_actors.host import RunsHosting
from lightflow_actors.kernel import ActorRef, ActorSystem
from lightflow_actors.runs import AwaitSettled, CreateRun, Forwarded, HostMessage, RunCopy

from ._support import RunsEnv, running_host

pytestmark = pytest.mark.anyio

TERMINAL = ("succeeded", "failed", "cancelled")


class MemoryCluster:
    """A one-node `RunsCluster` holding each run's copy as published: its status, its
    last event seq, its outputs and events. `failing_ends` publishes of a settled run
    fail (`ClusterUnavailable`, what the NATS adapter raises once NATS stayed away)."""

    def __init__(self, failing_ends: int) -> None:
        self.failing_ends = failing_ends
        self.failed = 0
        self.held: set[str] = set()
        self.status: dict[str, str] = {}
        self.seq: dict[str, int] = {}
        self.events: dict[str, list[bytes]] = {}
        self.outputs: dict[str, set[str]] = {}
        self.released: dict[str, tuple[str, int]] = {}  # run -> (status, seq) at release
        self.changed = asyncio.Event()

    @property
    def node(self) -> str:
        return "a"

    def hosting(self, host: ActorRef[HostMessage]) -> None:
        pass

    async def place(self, run_id: str) -> str:
        return "a"

    async def route(self, run_id: str) -> str:
        return "a"

    async def forward(self, node: str, msg: Forwarded) -> RunView:
        raise AssertionError(f"one node: nothing is forwarded ({msg})")

    async def created(self, run_id: str, copy: RunCopy, *, lease: bool) -> None:
        self.events[run_id] = []
        self.outputs[run_id] = set()
        self._take(run_id, copy)
        if lease:
            self.held.add(run_id)

    async def latest(self, run_id: str) -> RunCopy | None:
        return None

    async def claim(self, run_id: str) -> RunCopy | None:
        self.held.add(run_id)
        return None

    def holds(self, run_id: str) -> bool:
        return run_id in self.held

    def published_seq(self, run_id: str) -> int:
        return self.seq.get(run_id, 0)

    def published_outputs(self, run_id: str) -> frozenset[str]:
        return frozenset(self.outputs.get(run_id, ()))

    async def publish(self, run_id: str, copy: RunCopy) -> None:
        if run_id not in self.held:
            raise RunFenced(run_id, "not held")
        status = msgspec.json.decode(copy.manifest, type=RunManifest).status
        if status in TERMINAL and self.failing_ends > 0:
            self.failing_ends -= 1
            self.failed += 1
            raise ClusterUnavailable(f"run {run_id!r}: NATS did not answer its copy; retry")
        self._take(run_id, copy)

    def _take(self, run_id: str, copy: RunCopy) -> None:
        assert copy.events_from == len(self.events[run_id]) + 1, "a gap in the published events"
        self.events[run_id] += copy.events
        self.outputs[run_id] |= set(copy.outputs)
        manifest = msgspec.json.decode(copy.manifest, type=RunManifest)
        self.status[run_id], self.seq[run_id] = manifest.status, manifest.sequence
        self.changed.set()

    async def confirm(self, run_id: str) -> None:
        if run_id not in self.held:
            raise RunFenced(run_id, "not held")

    async def release(self, run_id: str) -> None:
        self.held.discard(run_id)
        self.released[run_id] = (self.status[run_id], self.seq[run_id])
        self.changed.set()

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait for `check` (the bound only stops a hang; it measures nothing)."""
        async with asyncio.timeout(60):
            while not check():
                self.changed.clear()
                await self.changed.wait()


def _hosted(env: RunsEnv, cluster: MemoryCluster) -> object:
    async def factory(system: ActorSystem, hosting: RunsHosting) -> MemoryCluster:
        return cluster

    return running_host(env, cluster=factory)


@pytest.mark.parametrize("failing_ends", [1, 2])
async def test_a_run_whose_last_publish_failed_publishes_its_end_before_its_lease_goes(
    runs_env: RunsEnv, failing_ends: int
) -> None:
    # 1: the actor's own publish of the end fails (it crashes, its restart ends the run);
    # 2: the host's first try to publish it fails too: tried again, the lease kept meanwhile
    cluster = MemoryCluster(failing_ends=failing_ends)
    async with _hosted(runs_env, cluster) as hosting:  # type: ignore[attr-defined]
        await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "g1"))
        view = await hosting.call(AwaitSettled("g1"))
        assert view.status == "succeeded"
        await cluster.until(lambda: "g1" in cluster.released)
        local = msgspec.json.decode((runs_env.runs / "g1" / "manifest.json").read_bytes())
    assert cluster.failed == failing_ends  # the end's publish did fail, as planned
    # the lease went only once the cluster's copy was the run's end, every event in it
    assert cluster.released["g1"] == ("succeeded", local["sequence"])
    lines = (runs_env.runs / "g1" / "events.jsonl").read_bytes().splitlines()
    assert cluster.events["g1"] == lines
    assert cluster.outputs["g1"] == {"hello"}
    assert not cluster.held
