"""Runs on any node (specs/cluster.md §Runs, ADR 0098): placement, forwarding, leases, and
each run's copy in JetStream, so a node can take over the runs of a node that died.

- `NatsRuns` is the `runs.RunsCluster` of a node: the runs host asks it where a run goes,
  forwards changes through the registry's remote refs (`lightflow.runs@<node>`), holds
  and confirms run leases in `lf_leases` (`run.<run key>`), and publishes each batch a
  run writes: its event lines on the stream `LF_RUN_EVENTS` (subject
  `lf.runs.<run key>.events`), then its record (manifest and outputs) in the bucket
  `lf_runs` (`<run key>.m`) by compare-and-set on the owner's previous revision: the
  fence a stale owner cannot pass. `<run key>.r` holds the request and the workflow.
- `RunWarden` (an actor, one per node) follows the buckets: it installs the copy of each
  run another node drives into this node's folder (so any node reads any run), and asks
  the runs host to take over (`TakeOver`) each run whose lease holder is down and whose
  id hashes to this node among the live ones.

Node liveness is the registry's heartbeat (`lf.node.heartbeat`, 1 s): a node silent for
`down_after_s` (3 s, the lease period) or that said goodbye is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, TypeVar

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DiscardPolicy, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import (
    DigestMismatchError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoStreamResponseError,
    NotFoundError,
    ObjectDeletedError,
    ObjectNotFoundError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from lightflow_actors.flow import (
    CorruptRun,
    RunExists,
    RunFenced,
    RunManifest,
    RunNotFound,
    RunStore,
    RunView,
)
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorRef,
    ActorSystem,
    Ask,
    AskTimeout,
    Clock,
    ExitReason,
    Refused,
    handler,
)
from lightflow_actors.runs import (
    Forwarded,
    HostMessage,
    RunCopy,
    RunHostedElsewhere,
    TakeOver,
    install_copy,
)
from lightflow_actors.supervision import Backoff

from ._buckets import open_bucket, open_objects
from ._leases import LeaseHeld, LeaseLost, NatsLeases
from ._remote import (
    DOWN_AFTER_S,
    REGISTRY_NAME,
    NodeBeat,
    Register,
    RemoteCallFailed,
    RemoteRegistry,
    WhereIs,
    name_key,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

RUNS_BUCKET: Final = "lf_runs"
RUN_OUTPUTS_BUCKET: Final = "lf_run_outputs"
RUN_EVENTS_STREAM: Final = "LF_RUN_EVENTS"
INLINE_OUTPUT_MAX: Final = 8 * 1024
INLINE_RECORD_MAX: Final = 256 * 1024
"""A step's output of at most `INLINE_OUTPUT_MAX` bytes travels in the run's record (as
nodes of the first runs version read it) while the record's inline outputs stay within
`INLINE_RECORD_MAX`; every other output is an object of `lf_run_outputs`, referenced by
name, size and SHA-256, so a record stays far below NATS's 1 MiB message limit."""
TERMINAL: Final = ("succeeded", "failed", "cancelled")
OUTAGE_WAIT_S: Final = 60.0
"""How long an owner's write (`publish`, `confirm`) waits through a NATS outage (the link
reconnecting, retried with backoff 0.1 … 2 s) before it fails `ClusterUnavailable`."""
_OUTAGE: Final = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,
    # What a JetStream publish (a stream's events, a bucket's `update`) raises for "no
    # responders": the server is there but its JetStream is not (shutting down, starting).
    NoStreamResponseError,
    nats.errors.TimeoutError,
    ServiceUnavailableError,
    TimeoutError,
)
EVENTS_MAX_AGE_S: Final = 30 * 86_400.0
EVENTS_MAX_BYTES: Final = 1 << 30


class EventsRetention(msgspec.Struct, frozen=True):
    """How long `LF_RUN_EVENTS` keeps run events, and how many bytes at most: past either,
    the oldest messages go (JetStream `max_age`, `max_bytes`, discard `old`). A run whose
    early events went can no longer be copied to a node that lacks them (its copy is
    `CorruptRun`, naming the retention), so keep `max_age_s` above the longest run.
    `lightflow serve --run-events-max-age / --run-events-max-bytes` set them; a node that
    starts with other values updates the stream (the last node started wins)."""

    max_age_s: typing.Annotated[float, msgspec.Meta(gt=0)] = EVENTS_MAX_AGE_S
    max_bytes: typing.Annotated[int, msgspec.Meta(gt=0)] = EVENTS_MAX_BYTES


def runs_host_name(node: str) -> str:
    """The cluster-wide name of `node`'s runs host (forwarded changes go there)."""
    return f"lightflow.runs@{node}"


def run_key(run_id: str) -> str:
    """A run id as one token of a key or subject (as registry names are)."""
    return name_key(run_id)


def run_of_key(token: str) -> str | None:
    """The run id of a token `run_key` made (None for a token it cannot have made)."""
    if not token.startswith("="):
        return token or None
    try:
        return bytes.fromhex(token[1:]).decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeDecodeError):
        return None


class OutputRef(msgspec.Struct, frozen=True):
    """A step's output kept out of the record: the object `name` in `lf_run_outputs`
    (`<run key>/<step>/<sha256>`), its `size` and the SHA-256 of its bytes (hex)."""

    name: str
    size: int
    sha256: str


class RunRecord(msgspec.Struct, frozen=True):
    """`lf_runs/<run key>.m`: a run as its owner last published it."""

    owner: str  # the node that wrote it
    epoch: int  # its lease epoch then (events of a later epoch are not this record's)
    sequence: int  # the manifest's sequence: events 1..sequence belong to it
    status: str
    manifest: bytes  # manifest.json
    outputs: dict[str, bytes] = {}  # succeeded step -> its output file (small ones)
    refs: dict[str, OutputRef] = {}  # succeeded step -> its output in lf_run_outputs


def output_object(token: str, step: str, sha256: str) -> str:
    return f"{token}/{step}/{sha256}"


class RunOrigin(msgspec.Struct, frozen=True):
    """`lf_runs/<run key>.r`: written once, when the run is created."""

    request: bytes
    workflow: bytes


class ClusterUnavailable(Refused):
    """NATS did not take this node's request about a run (the link is down, a JetStream
    call timed out): nothing changed in the cluster's view of the run; retry."""

    reason = "unavailable"


@contextlib.contextmanager
def _unavailable(run_id: str) -> Iterator[None]:
    """NATS's own errors, typed for the runs host's askers (503, not a host crash)."""
    try:
        yield
    except nats.errors.Error as exc:
        detail = str(exc) or type(exc).__name__
        raise ClusterUnavailable(f"run {run_id!r}: NATS did not answer ({detail}); retry") from exc


class NodeDown(Refused):
    """The node a run belongs to does not answer: its runs host is not registered, or
    the forwarded ask found no one there (the node just died, before the lease period
    said so). Retry: once the node is down its runs are taken over and placed anew."""

    reason = "unavailable"


_record_decoder = msgspec.msgpack.Decoder(RunRecord)
_origin_decoder = msgspec.msgpack.Decoder(RunOrigin)
_beat_decoder = msgspec.msgpack.Decoder(NodeBeat)
_manifest_decoder = msgspec.json.Decoder(RunManifest)


def decode_record(data: bytes | None) -> RunRecord | None:
    try:
        return _record_decoder.decode(data or b"")
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


class _Owned(msgspec.Struct):
    """A run this node holds: its record's revision, its lease epoch, what it published
    (outputs inline and by reference), and the revision of its origin (`.r`: one
    creation of the run id)."""

    revision: int
    epoch: int
    sequence: int
    outputs: dict[str, bytes]
    origin: int
    refs: dict[str, OutputRef] = {}


class _Journal:
    """The events of one run read from the stream so far: per seq, the line of the highest
    epoch seen (a later owner's line replaces a dead owner's unconfirmed one)."""

    def __init__(self) -> None:
        self.after = 0  # the last stream sequence read
        self.lines: dict[int, tuple[int, bytes]] = {}
        self.outputs: dict[str, bytes] = {}  # object name -> its bytes, fetched once

    def add(self, seq: int, epoch: int, line: bytes) -> None:
        held = self.lines.get(seq)
        if held is None or held[0] <= epoch:
            self.lines[seq] = (epoch, line)

    def upto(self, record: RunRecord) -> list[bytes] | None:
        """Lines 1..record.sequence of epochs up to the record's (None: one is missing)."""
        lines = []
        for seq in range(1, record.sequence + 1):
            held = self.lines.get(seq)
            if held is None or held[0] > record.epoch:
                return None
            lines.append(held[1])
        return lines


class RunsClusterInfo(msgspec.Struct, frozen=True):
    """What `GET /cluster` shows of the runs: leases and runs per node (as this node's
    warden has seen the buckets), and this node's counters."""

    bucket: str
    stream: str
    nodes: list[str]  # the live nodes runs are placed on, as this node hears them
    leases: dict[str, int]  # node -> runs whose lease it holds
    runs: dict[str, dict[str, int]]  # node that last wrote a run -> status -> count
    owned_here: int
    taken_over: int
    forwarded: int
    fenced: int
    followed: int


class NatsRuns:
    """The cluster side of one node's runs host (a `runs.RunsCluster`)."""

    def __init__(
        self,
        system: ActorSystem,
        client: Client,
        kv: KeyValue,
        leases: NatsLeases,
        node: str,
        *,
        prefix: str = "lf",
        down_after_s: float = DOWN_AFTER_S,
        retention: EventsRetention | None = None,
    ) -> None:
        self.retention = retention or EventsRetention()
        self.system, self.client, self.kv, self.leases = system, client, kv, leases
        self._node, self.prefix, self.down_after_s = node, prefix, down_after_s
        self.js: JetStreamContext = client.jetstream()
        self.clock: Clock = system.clock
        self.started_at = self.clock.now()
        self.heard: dict[str, float] = {}
        self.down: set[str] = set()
        self.owned: dict[str, _Owned] = {}
        self.journals: dict[str, _Journal] = {}
        self.sub: Subscription | None = None
        self.objects: ObjectStore | None = None  # lf_run_outputs, opened by `start`
        self.tasks: set[asyncio.Task[None]] = set()
        self.taken_over = self.forwarded = self.fenced = self.followed = 0
        self.generation = 0  # one more on each rebind: the warden watches the buckets anew
        self.unclaimed: set[str] = set()
        """Runs whose lease this node took but whose record it could not claim, nor its
        lease give back (NATS failed both): the lease names this live node, so no peer
        takes the run, and this node's warden takes it again (next epoch)."""

    @property
    def node(self) -> str:
        return self._node

    async def start(self) -> None:
        """Hear the nodes' heartbeats and make sure the events stream exists, with this
        node's retention."""
        self.started_at = self.clock.now()
        self.sub = await self.client.subscribe(f"{self.prefix}.node.heartbeat", cb=self._beat)
        self.objects = await open_objects(self.client, RUN_OUTPUTS_BUCKET)
        keep = self.retention
        config = StreamConfig(
            name=RUN_EVENTS_STREAM,
            subjects=[f"{self.prefix}.runs.*.events"],
            allow_direct=True,
            max_age=keep.max_age_s,
            max_bytes=keep.max_bytes,
            discard=DiscardPolicy.OLD,
        )
        try:
            info = await self.js.stream_info(RUN_EVENTS_STREAM)
        except NotFoundError:
            with contextlib.suppress(Exception):  # created by another node meanwhile
                await self.js.add_stream(config)
            return
        held = info.config
        if held.max_age != keep.max_age_s or held.max_bytes != keep.max_bytes:
            try:
                await self.js.update_stream(config)
            except Exception as exc:  # the stream keeps its retention; runs are unaffected
                logger.warning(
                    "%s keeps its retention (%s s, %s bytes); this node's (%s s, %s bytes) "
                    "was not applied: %s",
                    RUN_EVENTS_STREAM,
                    held.max_age,
                    held.max_bytes,
                    keep.max_age_s,
                    keep.max_bytes,
                    exc,
                )

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()

    async def rebind(self, client: Client, kv: KeyValue, leases: KeyValue) -> None:
        """Carry on over `client`, a new connection (the node's link restarted after its
        connection was lost), with the runs and lease buckets opened on it."""
        await self.stop()
        self.tasks.clear()
        self.client, self.kv, self.leases.kv = client, kv, leases
        self.js = client.jetstream()
        await self.start()
        # This node heard nobody while its link was down, and its peers (after an outage
        # of NATS itself) heard nobody either: its silence is not theirs. Judge no one
        # down before a full lease period of fresh silence (a node first back must not
        # take the runs of peers still reconnecting).
        self.stalled()
        self.generation += 1

    async def _beat(self, msg: Msg) -> None:
        try:
            beat = _beat_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return
        if beat.node == self._node:
            return
        if beat.goodbye:
            self.heard.pop(beat.node, None)
            self.down.add(beat.node)
        else:
            self.heard[beat.node] = self.clock.now()
            self.down.discard(beat.node)

    # -- liveness and placement ---------------------------------------------------------

    def is_down(self, node: str) -> bool:
        """Whether `node` is down: it said goodbye, or has been silent `down_after_s`
        (never heard counts from this node's start)."""
        if node == self._node:
            return False
        if node in self.down:
            return True
        last = self.heard.get(node, self.started_at)
        return self.clock.now() - last > self.down_after_s

    def stalled(self) -> None:
        """This node heard nobody for a while through no fault of its peers (its link to
        NATS was rebound): every peer that did not say goodbye counts as heard now, so
        none is judged down (and its runs taken) before a full lease period of fresh
        silence. A late tick forgives less (`ticked`)."""
        now = self.clock.now()
        for node in self.heard:
            self.heard[node] = now

    def ticked(self, since_last: float, tick_s: float) -> None:
        """The warden ticks, `since_last` seconds after its previous tick, every `tick_s`.

        A tick half a lease period late or more means this node stood still (a `SIGSTOP`,
        a long pause, a starved loop): over that time its peers' heartbeats waited in its
        socket, so their silence was its own. That time, and only that, is not counted as
        their silence (`heard` moves forward by it, never past now). Counting every peer
        as heard at such a tick (the earlier rule) judged no one down as long as ticks came
        late, which on a loaded machine is every few ticks: a peer that really stopped was
        taken over late, or never. Now its silence grows by each tick's own period even
        then, and by whole intervals between ticks on time (ADR 0135)."""
        if since_last <= self.down_after_s / 2:
            return
        stood = since_last - tick_s
        now = self.clock.now()
        for node, last in self.heard.items():
            self.heard[node] = min(now, last + stood)
        self.started_at = min(now, self.started_at + stood)

    def live_nodes(self) -> list[str]:
        return sorted({self._node, *(n for n in self.heard if not self.is_down(n))})

    def placed_on(self, run_id: str) -> str:
        """Rendezvous hashing: the live node with the highest hash of (node, run id), so a
        node joining or leaving moves only the runs it wins or held."""
        return max(self.live_nodes(), key=lambda node: _weight(node, run_id))

    async def place(self, run_id: str) -> str:
        return self.placed_on(run_id)

    async def route(self, run_id: str) -> str:
        with _unavailable(run_id):
            return await self._route(run_id)

    async def _route(self, run_id: str) -> str:
        try:
            entry = await self.kv_leases.get(_lease_key(run_id))
        except (KeyNotFoundError, KeyDeletedError):
            return self.placed_on(run_id)
        owner = _lease_owner(entry.value)
        if owner is not None and not self.is_down(owner):
            return owner
        return self.placed_on(run_id)

    @property
    def kv_leases(self) -> KeyValue:
        return self.leases.kv

    # -- forwarding -------------------------------------------------------------------------

    def hosting(self, host: ActorRef[HostMessage]) -> None:
        task = asyncio.get_running_loop().create_task(self._register(host))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _register(self, host: ActorRef[HostMessage]) -> None:
        registry = self.system.lookup(REGISTRY_NAME, RemoteRegistry)
        for _ in range(50):
            try:
                await registry.ask(Register(runs_host_name(self._node), host))
                return
            except Refused as refusal:  # held by our previous incarnation: freed on its exit
                logger.info("runs host not registered yet: %s", refusal)
            await asyncio.sleep(0.1)

    async def forward(self, node: str, msg: Forwarded) -> RunView:
        registry = self.system.lookup(REGISTRY_NAME, RemoteRegistry)
        ref = await registry.ask(WhereIs(runs_host_name(node)))
        if ref is None:
            raise NodeDown(
                f"node {node!r}, where this run belongs, does not answer; retry in a moment"
            )
        self.forwarded += 1
        forwarded: ActorRef[Ask[RunView]] = ref  # type: ignore[assignment]
        try:
            # Bounded as the same change done here is (its caller's own bound), not by the
            # kernel's 5 s default: a create resolves its workflow first, which a loaded
            # node takes longer than that to do, and a change that timed out here is done
            # there all the same (a 503 for a run that exists). A node that died answers
            # at once (no responder), one that stands still once its proxy sees it down.
            return await forwarded.ask(msg, timeout=None)
        except RemoteCallFailed as exc:
            if exc.kind not in _UNREACHED:
                raise
            raise NodeDown(_no_answer(node, exc.kind)) from None
        except (ActorExited, ActorNotAlive, AskTimeout) as exc:
            raise NodeDown(_no_answer(node, type(exc).__name__)) from None

    # -- copies -------------------------------------------------------------------------------

    async def created(self, run_id: str, copy: RunCopy, *, lease: bool) -> None:
        with _unavailable(run_id):
            await self._created(run_id, copy, lease=lease)

    async def _created(self, run_id: str, copy: RunCopy, *, lease: bool) -> None:
        token = run_key(run_id)
        origin = msgspec.msgpack.encode(RunOrigin(copy.request, copy.workflow))
        try:
            created = await self.kv.create(f"{token}.r", origin)
        except KeyWrongLastSequenceError:
            raise RunExists(f"run {run_id!r} exists in the cluster already") from None
        epoch = 0
        try:
            if lease:
                try:
                    await self.leases.acquire(_lease_key(run_id), holder_down=self.is_down)
                except LeaseHeld as held:  # a lease left without its run: not ours to take
                    raise RunHostedElsewhere(run_id, f"node {held.owner}") from None
                epoch = self.leases.held[_lease_key(run_id)][1]
            manifest = _manifest_decoder.decode(copy.manifest)
            await self._publish_events(token, copy, epoch, created)
            inline, refs = await self._store_outputs(token, {}, {}, copy.outputs)
            record = RunRecord(
                self._node, epoch, manifest.sequence, manifest.status, copy.manifest, inline, refs
            )
            revision = await self.kv.create(f"{token}.m", msgspec.msgpack.encode(record))
        except BaseException:
            await self._abandon(run_id, lease=lease)
            raise
        if lease:
            self.owned[run_id] = _Owned(revision, epoch, manifest.sequence, inline, created, refs)

    async def _abandon(self, run_id: str, *, lease: bool) -> None:
        """A create that failed after its origin was written (a lease held, NATS lost
        midway): free the id again, its events first, so a later run of that id starts
        from an empty journal. When NATS cannot be reached for that, the id stays taken
        (`RunExists`) rather than half free."""
        token = run_key(run_id)
        try:
            if lease:
                await self.leases.release(_lease_key(run_id))
            await self.js.purge_stream(
                RUN_EVENTS_STREAM, subject=f"{self.prefix}.runs.{token}.events"
            )
            await self.kv.delete(f"{token}.r")
        except Exception as exc:
            logger.warning(
                "run %r: its failed create is not undone in the cluster: %s", run_id, exc
            )
        self.journals.pop(run_id, None)

    async def latest(self, run_id: str) -> RunCopy | None:
        with _unavailable(run_id):
            found = await self._copy(run_id)
        if found is None:
            return None
        (_, record, _), copy = found
        if record.status in TERMINAL and run_id not in self.owned:
            # Settled: the asker installs it whole; a retry reads the stream again. A node
            # holds the journals of the runs in flight only, not of every run it followed.
            self.journals.pop(run_id, None)
        return copy

    async def claim(self, run_id: str) -> RunCopy | None:
        with _unavailable(run_id):
            return await self._claim(run_id)

    async def _claim(self, run_id: str) -> RunCopy | None:
        if run_id in self.owned:
            return None
        key = _lease_key(run_id)
        try:
            await self.leases.acquire(key, holder_down=self.is_down)
        except LeaseHeld as held:
            raise RunHostedElsewhere(run_id, f"node {held.owner}") from None
        epoch = self.leases.held[key][1]
        try:
            (revision, record, origin), copy = await self._claim_record(run_id, epoch)
        except BaseException:
            self.unclaimed.add(run_id)  # until its release is known to have reached NATS
            await self.leases.release(key)
            self.unclaimed.discard(run_id)
            raise
        self.unclaimed.discard(run_id)
        self.owned[run_id] = _Owned(
            revision, epoch, record.sequence, dict(record.outputs), origin, dict(record.refs)
        )
        if record.owner != self._node:
            self.taken_over += 1
        return copy

    async def _claim_record(
        self, run_id: str, epoch: int
    ) -> tuple[tuple[int, RunRecord, int], RunCopy]:
        """Make the record this node's, under its lease `epoch`: the record as read,
        written again by compare-and-set on its revision. From then on a previous owner
        that wakes up cannot extend the run (its own compare-and-set fails: fenced). A
        previous owner's write that came first (an answer to a call it made while it held
        the lease) is part of the run: read again and claimed with it. Returns the record
        as it was (its writer) with this node's revision, and its whole copy."""
        token = run_key(run_id)
        for _ in range(_CLAIM_ATTEMPTS):
            found = await self._copy(run_id)
            if found is None:
                raise RunNotFound(f"run {run_id!r} is not in the cluster")
            (revision, record, origin), copy = found
            mine = msgspec.structs.replace(record, owner=self._node, epoch=epoch)
            try:
                claimed = await self.kv.update(
                    f"{token}.m", msgspec.msgpack.encode(mine), last=revision
                )
            except KeyWrongLastSequenceError:
                continue  # its previous owner wrote meanwhile: read it again
            return (claimed, record, origin), copy
        raise RunHostedElsewhere(run_id, "its previous owner (it keeps writing its record)")

    async def _copy(self, run_id: str) -> tuple[tuple[int, RunRecord, int], RunCopy] | None:
        """The latest record of `run_id` (its revision, and its origin's) and the whole
        copy it describes."""
        token = run_key(run_id)
        try:
            entry = await self.kv.get(f"{token}.m")
            origin_entry = await self.kv.get(f"{token}.r")
        except (KeyNotFoundError, KeyDeletedError):
            return None
        record = decode_record(entry.value)
        try:
            origin = _origin_decoder.decode(origin_entry.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            origin = None
        if record is None or origin is None:
            raise CorruptRun(f"run {run_id!r}: its copy in {RUNS_BUCKET} does not decode")
        journal = self.journals.setdefault(run_id, _Journal())
        # Always read what the stream got since: a line held here for a seq may be a dead
        # or fenced owner's, replaced by the new owner's line of a later epoch.
        await self._read_journal(token, journal)
        lines = journal.upto(record)
        if lines is None:
            raise CorruptRun(
                f"run {run_id!r}: the stream {RUN_EVENTS_STREAM} lacks events up to "
                f"seq {record.sequence} (older than its retention, "
                f"{self.retention.max_age_s:g} s / {self.retention.max_bytes} bytes?)"
            )
        outputs = dict(record.outputs)
        for step, ref in record.refs.items():
            outputs[step] = await self._fetch_output(run_id, journal, ref)
        copy = RunCopy(
            manifest=record.manifest,
            events=tuple(lines),
            outputs=outputs,
            request=origin.request,
            workflow=origin.workflow,
        )
        return (entry.revision or 0, record, origin_entry.revision or 0), copy

    async def _fetch_output(self, run_id: str, journal: _Journal, ref: OutputRef) -> bytes:
        """An output kept out of the record, read once per journal and checked."""
        held = journal.outputs.get(ref.name)
        if held is not None:
            return held
        assert self.objects is not None, "opened by start"
        try:
            found = await self.objects.get(ref.name)
        except (ObjectNotFoundError, ObjectDeletedError, DigestMismatchError):
            found = None
        data = found.data if found is not None else None
        if data is None or len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise CorruptRun(
                f"run {run_id!r}: its output {ref.name!r} in {RUN_OUTPUTS_BUCKET} is missing "
                f"or not the one its record names"
            )
        journal.outputs[ref.name] = data
        return data

    async def _store_outputs(
        self,
        token: str,
        inline: dict[str, bytes],
        refs: dict[str, OutputRef],
        new: dict[str, bytes],
    ) -> tuple[dict[str, bytes], dict[str, OutputRef]]:
        """The record's outputs with `new` added: small ones inline (within the record's
        inline budget), the others written to `lf_run_outputs` first (the record, written
        after, is the commit point: an object no record names is never read)."""
        inline, refs = dict(inline), dict(refs)
        for step in new:  # a step's new output (a retried step) replaces its old one
            inline.pop(step, None)
            refs.pop(step, None)
        total = sum(len(data) for data in inline.values())
        for step, data in new.items():
            if len(data) <= INLINE_OUTPUT_MAX and total + len(data) <= INLINE_RECORD_MAX:
                inline[step] = data
                total += len(data)
                continue
            assert self.objects is not None, "opened by start"
            sha = hashlib.sha256(data).hexdigest()
            name = output_object(token, step, sha)
            await self.objects.put(name, data)
            refs[step] = OutputRef(name, len(data), sha)
        return inline, refs

    async def _read_journal(self, token: str, journal: _Journal) -> None:
        subject = f"{self.prefix}.runs.{token}.events"
        while True:
            try:
                msg = await self.js.get_msg(
                    RUN_EVENTS_STREAM,
                    seq=journal.after + 1,
                    subject=subject,
                    next=True,
                    direct=True,
                )
            except NotFoundError:
                return
            headers = msg.headers or {}
            journal.after = msg.seq or journal.after + 1
            try:
                seq, epoch = int(headers["Lf-Seq"]), int(headers["Lf-Epoch"])
            except (KeyError, ValueError):
                continue  # not ours
            journal.add(seq, epoch, msg.data or b"")

    # -- the owner's writes ---------------------------------------------------------------

    def holds(self, run_id: str) -> bool:
        return run_id in self.owned

    def published_seq(self, run_id: str) -> int:
        owned = self.owned.get(run_id)
        return 0 if owned is None else owned.sequence

    def published_outputs(self, run_id: str) -> frozenset[str]:
        owned = self.owned.get(run_id)
        return frozenset() if owned is None else frozenset((*owned.outputs, *owned.refs))

    async def _through_outage(self, run_id: str, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """`op()`, again while NATS is unreachable (each attempt reads the current client
        and buckets: the link's restart rebinds them), for `OUTAGE_WAIT_S` at most."""
        delay, waited = 0.1, 0.0
        while True:
            try:
                return await op()
            except _OUTAGE as exc:
                if waited >= OUTAGE_WAIT_S:
                    detail = str(exc) or type(exc).__name__
                    raise ClusterUnavailable(
                        f"run {run_id!r}: NATS did not answer its {what} for {waited:.0f} s "
                        f"({detail}); retry"
                    ) from exc
                if waited == 0.0:
                    logger.info("run %r: its %s waits for NATS (%s)", run_id, what, exc)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 2.0)

    async def publish(self, run_id: str, copy: RunCopy) -> None:
        await self._through_outage(run_id, "copy", lambda: self._publish(run_id, copy))

    async def _publish(self, run_id: str, copy: RunCopy) -> None:
        owned = self.owned.get(run_id)
        if owned is None:
            raise RunFenced(run_id, "this node holds no lease of it")
        manifest = _manifest_decoder.decode(copy.manifest)
        if manifest.sequence == owned.sequence and not copy.outputs:
            return  # a trace line or a cache entry: nothing another node reads
        token = run_key(run_id)
        await self._publish_events(token, copy, owned.epoch, owned.origin)
        outputs, refs = await self._store_outputs(token, owned.outputs, owned.refs, copy.outputs)
        record = RunRecord(
            self._node,
            owned.epoch,
            manifest.sequence,
            manifest.status,
            copy.manifest,
            outputs,
            refs,
        )
        data = msgspec.msgpack.encode(record)
        try:
            revision = await self.kv.update(f"{token}.m", data, last=owned.revision)
        except KeyWrongLastSequenceError:
            own = await self._own_write(f"{token}.m", data)
            if own is not None:
                revision = own
            else:
                self._lost(run_id)
                raise RunFenced(
                    run_id, "its copy was written by another node since (the revision moved)"
                ) from None
        owned.revision, owned.sequence, owned.outputs = revision, manifest.sequence, outputs
        owned.refs = refs

    async def _publish_events(self, token: str, copy: RunCopy, epoch: int, origin: int) -> None:
        subject = f"{self.prefix}.runs.{token}.events"
        for offset, line in enumerate(copy.events):
            seq = copy.events_from + offset
            headers = {
                # a resend is stored once; a run id created again after a failed create
                # (a new origin revision) is not taken for a resend
                "Nats-Msg-Id": f"{token}:{origin}:{seq}:{epoch}",
                "Lf-Seq": str(seq),
                "Lf-Epoch": str(epoch),
            }
            await self.js.publish(subject, line, stream=RUN_EVENTS_STREAM, headers=headers)

    async def _own_write(self, key: str, data: bytes) -> int | None:
        """The revision of `key` if it holds exactly `data`: this node's own write, applied
        while its answer was lost (a broken connection), retried; None otherwise."""
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return entry.revision if entry.value == data else None

    async def confirm(self, run_id: str) -> None:
        await self._through_outage(run_id, "lease", lambda: self._confirm(run_id))

    async def _confirm(self, run_id: str) -> None:
        if run_id not in self.owned:
            raise RunFenced(run_id, "this node holds no lease of it")
        try:
            await self.leases.confirm(_lease_key(run_id))
        except LeaseLost as lost:
            self._lost(run_id)
            raise RunFenced(run_id, str(lost)) from None

    def _lost(self, run_id: str) -> None:
        self.fenced += 1
        self.owned.pop(run_id, None)
        self.journals.pop(run_id, None)
        self.leases.held.pop(_lease_key(run_id), None)

    async def release(self, run_id: str) -> None:
        self.owned.pop(run_id, None)
        self.journals.pop(run_id, None)
        await self.leases.release(_lease_key(run_id))


_CLAIM_ATTEMPTS: Final = 8
"""Reads of a run's record while claiming it before giving up (a previous owner that
writes it each time is still driving the run)."""

_UNREACHED: Final = ("noproc", "exited", "timeout", "failed")
"""How a forwarded ask fails when nobody answers it there: no actor of that name, it
exited meanwhile, no answer in time, or NATS found no responder (the node's process is
gone). A refusal crosses as itself; a type the table lacks, or a reply that does not
decode, is a bug, not a node that is down."""


def _no_answer(node: str, why: str) -> str:
    return f"node {node!r}, where this run belongs, did not answer ({why}); retry in a moment"


def _weight(node: str, run_id: str) -> bytes:
    return hashlib.sha256(f"{node}\x00{run_id}".encode("utf-8", "surrogatepass")).digest()


def _lease_key(run_id: str) -> str:
    return f"run.{run_key(run_id)}"


def _lease_owner(data: bytes | None) -> str | None:
    class _Lease(msgspec.Struct):
        owner: str

    try:
        return msgspec.msgpack.decode(data or b"", type=_Lease).owner
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None


# -- the warden ------------------------------------------------------------------------------

APPLY_RETRY: Final = Backoff(min_delay=0.5, max_delay=30.0)
"""Between two tries to install a run's copy that the warden could not install."""


class _Tick(msgspec.Struct, frozen=True):
    pass


class _LeaseSeen(msgspec.Struct, frozen=True):
    run_id: str
    owner: str | None  # None: released
    initial: bool  # seen before the watcher caught up (a lease of an earlier incarnation)


class _RecordSeen(msgspec.Struct, frozen=True):
    run_id: str
    record: RunRecord


class _Apply(msgspec.Struct, frozen=True):
    pass


class _TakenOver(msgspec.Struct, frozen=True):
    run_id: str


class _Rewatch(msgspec.Struct, frozen=True):
    generation: int


class GetRunsClusterInfo(Ask[RunsClusterInfo], frozen=True):
    pass


WardenMessage = (
    _Tick | _LeaseSeen | _RecordSeen | _Apply | _TakenOver | _Rewatch | GetRunsClusterInfo
)


class RunWarden(Actor[WardenMessage]):
    """Follows `lf_leases` and `lf_runs` for one node: installs the runs other nodes drive
    into this node's folder, and takes over the runs of nodes that are down."""

    def __init__(
        self, runs: NatsRuns, store: RunStore, host_name: str, *, tick_s: float = 0.25
    ) -> None:
        self.runs, self.store, self.host_name, self.tick_s = runs, store, host_name, tick_s
        self.leases: dict[str, str] = {}  # run id -> lease holder
        self.records: dict[str, tuple[str, str]] = {}  # run id -> (its writer, its status)
        self.earlier: set[str] = set()  # runs leased to this node's earlier incarnation
        self.pending: dict[str, RunRecord] = {}
        self.applying = False
        self.apply_failures = 0  # rounds in a row that left a copy uninstalled
        self.taking: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.watchers: list[KeyValue.KeyWatcher] = []
        self.watch_tasks: set[asyncio.Task[None]] = set()
        self.generation = runs.generation  # of the buckets watched
        self.last_tick = runs.clock.now()

    async def on_start(self) -> None:
        await self._watch(first=True)
        self.send_after(self.tick_s, self.ref, _Tick())

    async def _watch(self, *, first: bool) -> None:
        """Watch the lease and record buckets of the runs side's current connection (a
        watch dies with the connection it was made on: after a rebind, watch anew)."""
        me = self.ref
        leases = await self.runs.kv_leases.watch("run.>")
        records = await self.runs.kv.watch("*.m")
        self.watchers = [leases, records]
        self.watch_tasks = {
            self._spawn(self._follow_leases(leases, me, earlier=first)),
            self._spawn(self._follow_records(records, me)),
        }

    async def _unwatch(self) -> None:
        for task in self.watch_tasks:
            task.cancel()
        for watcher in self.watchers:
            with contextlib.suppress(Exception):
                await watcher.stop()  # type: ignore[no-untyped-call]
        self.watchers, self.watch_tasks = [], set()

    async def on_stop(self, reason: ExitReason) -> None:
        for task in self.tasks:
            task.cancel()
        await self._unwatch()

    @handler
    async def rewatch(self, msg: _Rewatch) -> None:
        if msg.generation != self.runs.generation or msg.generation == self.generation:
            return  # superseded by a later rebind, or done already
        await self._unwatch()
        # the new watch delivers every lease and record again: what went meanwhile goes
        self.leases.clear()
        self.records.clear()
        try:
            await self._watch(first=False)
        except Exception as exc:  # NATS away again: the next tick tries again
            logger.info("runs warden: cannot watch the buckets now: %s", exc)
            return
        self.generation = msg.generation

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.system.loop.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    async def _follow_leases(
        watcher: KeyValue.KeyWatcher, me: ActorRef[WardenMessage], *, earlier: bool
    ) -> None:
        """`earlier`: this node's leases seen before the watch caught up are an earlier
        incarnation's (the first watch of a node's life); a watch made again after a
        rebind sees this very node's."""
        initial = earlier
        async for entry in watcher:
            if entry is None:
                initial = False
                continue
            run_id = run_of_key(entry.key.removeprefix("run."))
            if run_id is None or not me.alive:
                continue
            deleted = entry.operation in ("DEL", "PURGE")
            owner = None if deleted else (_lease_owner(entry.value) or "?")
            me.tell(_LeaseSeen(run_id, owner, initial))

    @staticmethod
    async def _follow_records(watcher: KeyValue.KeyWatcher, me: ActorRef[WardenMessage]) -> None:
        async for entry in watcher:
            if entry is None or entry.operation in ("DEL", "PURGE") or not me.alive:
                continue
            run_id = run_of_key(entry.key.removesuffix(".m"))
            record = decode_record(entry.value)
            if run_id is not None and record is not None:
                me.tell(_RecordSeen(run_id, record))

    @handler
    def lease_seen(self, msg: _LeaseSeen) -> None:
        if msg.owner is None:
            self.leases.pop(msg.run_id, None)
            self.earlier.discard(msg.run_id)
            return
        self.leases[msg.run_id] = msg.owner
        if msg.initial and msg.owner == self.runs.node:
            self.earlier.add(msg.run_id)

    @handler
    def record_seen(self, msg: _RecordSeen) -> None:
        self.records[msg.run_id] = (msg.record.owner, msg.record.status)
        if msg.run_id in self.runs.owned:
            return  # driven here: this node wrote it
        self.pending[msg.run_id] = msg.record
        if not self.applying:
            self.applying = True
            self.ref.tell(_Apply())

    @handler
    async def apply(self, msg: _Apply) -> None:
        """Install the newest copy of each run that changed (one at a time, coalesced).

        A copy that could not be installed (NATS away, a read timed out, a bad copy) is
        tried again after `APPLY_RETRY` (spaced out while it keeps failing), not left
        until the run's next change: the change that failed may be the run's last, and
        this node would show the run unfinished for good."""
        failed: dict[str, RunRecord] = {}
        while self.pending:
            run_id = next(iter(self.pending))
            record = self.pending.pop(run_id)
            if run_id in self.runs.owned:
                continue
            try:
                copy = await self.runs.latest(run_id)
                if copy is not None and run_id not in self.runs.owned:
                    install = functools.partial(install_copy, force=False)
                    await self.run_blocking(install, self.store, run_id, copy)
                    self.runs.followed += 1
            except Exception as exc:
                logger.warning("run %r: its copy is not installed here (retried): %s", run_id, exc)
                failed[run_id] = record
        if not failed:
            self.apply_failures = 0
            self.applying = False
            return
        for run_id, record in failed.items():  # a newer record seen meanwhile stays
            self.pending.setdefault(run_id, record)
        delay = APPLY_RETRY.delay(self.apply_failures, self.system.random)
        self.apply_failures += 1
        self.send_after(delay, self.ref, _Apply())  # `applying` stays set until then

    @handler
    def tick(self, msg: _Tick) -> None:
        self.send_after(self.tick_s, self.ref, _Tick())
        runs, me = self.runs, self.runs.node
        if runs.generation != self.generation:  # rebound to a new connection: watch again
            self.ref.tell(_Rewatch(runs.generation))
        now, last = runs.clock.now(), self.last_tick
        self.last_tick = now
        # A tick late by half a lease period or more: the node was stopped or starved,
        # and that much of its peers' silence is its own (a woken node must not take the
        # runs of live peers); the rest still counts (`NatsRuns.ticked`).
        runs.ticked(now - last, self.tick_s)
        for run_id, owner in list(self.leases.items()):
            if run_id in runs.owned or run_id in self.taking:
                continue
            if owner == me:
                # held by this node before it restarted, or left by a failed takeover
                mine = run_id in self.earlier or run_id in runs.unclaimed
            else:
                mine = runs.is_down(owner) and runs.placed_on(run_id) == me
            if mine:
                self.taking.add(run_id)
                self._spawn(self._take_over(run_id))

    async def _take_over(self, run_id: str) -> None:
        try:
            host = self.system.whereis(self.host_name)
            if host is None:
                return
            taker: ActorRef[TakeOver] = host  # type: ignore[assignment]
            view = await taker.ask(TakeOver(run_id), timeout=60.0)
            self.earlier.discard(run_id)
            logger.info("run %r taken over by node %r (%s)", run_id, self.runs.node, view.status)
        except Exception as exc:  # held by a live node meanwhile, NATS away: next tick
            logger.info("run %r not taken over now: %s", run_id, exc)
        finally:
            if self.ref.alive:
                self.ref.tell(_TakenOver(run_id))

    @handler
    def taken_over(self, msg: _TakenOver) -> None:
        self.taking.discard(msg.run_id)

    @handler
    def info(self, msg: GetRunsClusterInfo) -> RunsClusterInfo:
        leases: dict[str, int] = {}
        for owner in self.leases.values():
            leases[owner] = leases.get(owner, 0) + 1
        runs: dict[str, dict[str, int]] = {}
        for owner, status in self.records.values():
            counts = runs.setdefault(owner, {})
            counts[status] = counts.get(status, 0) + 1
        return RunsClusterInfo(
            bucket=RUNS_BUCKET,
            stream=RUN_EVENTS_STREAM,
            nodes=self.runs.live_nodes(),
            leases=leases,
            runs=runs,
            owned_here=len(self.runs.owned),
            taken_over=self.runs.taken_over,
            forwarded=self.runs.forwarded,
            fenced=self.runs.fenced,
            followed=self.runs.followed,
        )


async def open_runs_bucket(client: Client, *, bucket: str = RUNS_BUCKET) -> KeyValue:
    """The runs bucket (history 1), created if absent."""
    return await open_bucket(client, bucket)
