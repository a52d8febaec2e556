"""Runs on any node of a cluster: what the runs host asks of the cluster, and the run copy.

A single node needs none of this (`RunsHost(cluster=None)`: the XDG run folders, file
leases, nothing else). In a cluster (specs/cluster.md §Runs, ADR 0098) the host is given a
`RunsCluster`, implemented over NATS by `adapters.nats.NatsRuns`:

- **placement**: a run is created on the node its id hashes to among the live nodes, and
  a change to an existing run goes to the node that holds its lease; any other node
  forwards the request there (`place`, `route`, `forward`).
- **ownership**: the node driving a run holds its lease; it confirms it before each
  request it commits (a provider call) and fences every copy it writes (`claim`,
  `confirm`, `publish`, `release`; `RunFenced` when another node took the run over).
- **the run copy**: every node keeps the XDG layout; the owner publishes each batch of
  writes as a `RunCopy` (manifest, new event lines, outputs), and a node that takes a run
  over, or follows it for reads, installs the copy into its own run folder
  (`install_copy`), where the run actor resumes it as after a restart.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from pathlib import Path
from typing import Protocol

import msgspec

from lightflow_actors.flow import CorruptRun, RunManifest, RunNotFound, RunStore, RunView
from lightflow_actors.kernel import ActorRef

from ._messages import CancelRun, CreateRun, HostMessage, RefreshRun, RetryRun, SubmitStep

__all__ = ["Forwarded", "RunCopy", "RunsCluster", "install_copy", "read_copy", "read_new_run"]

_STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # flow's step ids (a file name)

Forwarded = CreateRun | CancelRun | SubmitStep | RetryRun | RefreshRun
"""The host's changes another node may forward (each with `placed=True`: do it here)."""


class RunCopy(msgspec.Struct, frozen=True):
    """A run's folder as the cluster carries it.

    `manifest` is `manifest.json` (JSON bytes); `events` are complete `events.jsonl` lines
    starting at seq `events_from` (all of them when 1); `outputs` maps a succeeded step to
    its output file's bytes; `request` and `workflow` are `request.json` and
    `resolved_workflow.json` (empty when the receiver has them already)."""

    manifest: bytes
    events: tuple[bytes, ...] = ()
    events_from: int = 1
    outputs: dict[str, bytes] = {}
    request: bytes = b""
    workflow: bytes = b""


class RunsCluster(Protocol):
    """What a clustered `RunsHost` asks of the cluster (None on a single node)."""

    @property
    def node(self) -> str:
        """This node's name."""
        ...

    def hosting(self, host: ActorRef[HostMessage]) -> None:
        """This node's runs host (re)started: other nodes forward requests to it."""

    async def place(self, run_id: str) -> str:
        """The node that creates run `run_id`: its hash among the live nodes."""
        ...

    async def route(self, run_id: str) -> str:
        """The node a change to `run_id` goes to: its lease holder when that node is up,
        else where the run would be placed now."""
        ...

    async def forward(self, node: str, msg: Forwarded) -> RunView:
        """Ask `node`'s runs host (`msg.placed` is true); its refusal is raised here."""
        ...

    async def created(self, run_id: str, copy: RunCopy, *, lease: bool) -> None:
        """Run `run_id` was just created here: publish its first copy (`RunExists` when
        the cluster has a run of that id already) and, with `lease` (it is to be driven
        here), hold its lease."""

    async def latest(self, run_id: str) -> RunCopy | None:
        """The cluster's latest copy of `run_id` (None when the cluster has none), to read
        a run this node does not drive."""
        ...

    async def claim(self, run_id: str) -> RunCopy | None:
        """Hold `run_id`'s lease: already ours (None), or free, or taken over from a node
        that is down (its latest copy, to install before driving the run).
        `RunHostedElsewhere` when a live node holds it."""
        ...

    def holds(self, run_id: str) -> bool:
        """Whether this node holds `run_id`'s lease (False once it was fenced)."""
        ...

    def published_seq(self, run_id: str) -> int:
        """The last event seq this node published for an owned run (0: none)."""
        ...

    def published_outputs(self, run_id: str) -> frozenset[str]:
        """The steps whose outputs this node published for an owned run."""
        ...

    async def publish(self, run_id: str, copy: RunCopy) -> None:
        """Publish the writes of an owned run (`RunFenced` when another node owns it)."""

    async def confirm(self, run_id: str) -> None:
        """Before a request is committed: is the lease still ours (`RunFenced`)?"""

    async def release(self, run_id: str) -> None:
        """The run settled here: give its lease up (its copy stays)."""


def read_copy(
    store: RunStore, run_id: str, after_seq: int, known_outputs: frozenset[str]
) -> RunCopy:
    """The writes of `run_id` since event `after_seq` (blocking: a worker thread): its
    manifest, the event lines after that seq and the outputs not in `known_outputs`."""
    manifest = store.manifest(run_id)
    lines = store.events_raw(run_id)[after_seq : manifest.sequence]
    outputs = {
        state.id: (store.run_dir(run_id) / "outputs" / f"{state.id}.json").read_bytes()
        for state in manifest.steps
        if state.status == "succeeded" and state.id not in known_outputs
    }
    return RunCopy(
        manifest=msgspec.json.encode(manifest),
        events=tuple(lines),
        events_from=after_seq + 1,
        outputs=outputs,
    )


def read_new_run(store: RunStore, run_id: str) -> RunCopy:
    """A run just created here, whole (request and workflow included)."""
    folder = store.run_dir(run_id)
    return msgspec.structs.replace(
        read_copy(store, run_id, 0, frozenset()),
        request=(folder / "request.json").read_bytes(),
        workflow=(folder / "resolved_workflow.json").read_bytes(),
    )


def install_copy(store: RunStore, run_id: str, copy: RunCopy, *, force: bool = True) -> RunManifest:
    """Write `copy` into `run_id`'s folder of `store` (blocking: a worker thread), under
    the folder's `flock` (the store's own lock), the manifest last, each file replaced
    whole (temp file, rename); returns the manifest now in the folder.

    Used for runs this node does not drive: a run claimed (`force`: the cluster's copy is
    the truth, whatever the folder holds) and the copies a node follows for reads (not
    `force`: a copy older than the folder's manifest is skipped). The events kept are the
    folder's lines before `copy.events_from`, then the copy's; a copy that would leave a
    gap, or whose request the folder lacks, raises `CorruptRun` and changes nothing."""
    try:
        manifest = msgspec.json.decode(copy.manifest, type=RunManifest)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptRun(f"run {run_id!r}: the copy's manifest does not decode: {exc}") from None
    if manifest.run_id != run_id:
        raise CorruptRun(f"run {run_id!r}: the copy holds run {manifest.run_id!r}")
    bad = [step for step in copy.outputs if not _STEP_ID.fullmatch(step)]
    if bad:
        raise CorruptRun(f"run {run_id!r}: the copy names outputs of no step: {bad[:3]}")
    folder = store.run_dir(run_id)
    if not copy.request and not (folder / "request.json").is_file():
        raise CorruptRun(f"run {run_id!r}: a copy without its request reached a new folder")
    (folder / "outputs").mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not force:
            try:
                present = store.manifest(run_id)
            except (OSError, CorruptRun, RunNotFound):
                present = None
            if present is not None and present.sequence > manifest.sequence:
                return present
        _install(store, run_id, folder, manifest, copy)
    finally:
        os.close(fd)  # drops the lock
    return manifest


def _install(
    store: RunStore, run_id: str, folder: Path, manifest: RunManifest, copy: RunCopy
) -> None:
    kept: list[bytes] = []
    if copy.events_from > 1:
        try:
            kept = store.events_raw(run_id)[: copy.events_from - 1]
        except (OSError, CorruptRun, RunNotFound):
            kept = []
        if len(kept) != copy.events_from - 1:
            raise CorruptRun(f"run {run_id!r}: the copy's events start after a gap")
    events = [*kept, *copy.events][: manifest.sequence]
    if len(events) != manifest.sequence:
        raise CorruptRun(
            f"run {run_id!r}: the copy holds {len(events)} events, its manifest is at "
            f"seq {manifest.sequence}"
        )
    if copy.request:
        _replace(folder / "request.json", copy.request)
    if copy.workflow:
        _replace(folder / "resolved_workflow.json", copy.workflow)
    if not (folder / "trace.jsonl").exists():
        _replace(folder / "trace.jsonl", b"")
    for step, value in copy.outputs.items():
        _replace(folder / "outputs" / f"{step}.json", value)
    _replace(folder / "events.jsonl", b"".join(line + b"\n" for line in events))
    _replace(folder / "manifest.json", copy.manifest)


def _replace(path: Path, data: bytes) -> None:
    """Replace `path` whole (readers see the old or the new file). Not fsynced: a copy is
    rebuilt from the cluster after a crash, which holds the durable one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.copy")
    tmp.write_bytes(data)
    os.replace(tmp, path)
