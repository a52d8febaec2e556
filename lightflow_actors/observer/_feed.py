"""The observer's feed: one actor turns lifecycle events into tree snapshots on a topic.

``TreeFeed`` subscribes to the system's lifecycle events (``system.subscribe``) and, when
something changed, publishes one ``TreeSnapshot`` on ``TREE_TOPIC`` of its live hub's
pubsub. Events are coalesced: the first one after a quiet spell arms a timer of
``interval`` seconds and every event until it fires rides in the same snapshot, so a crash
storm costs at most ``1 / interval`` renders per second per observer session, whatever the
number of events. Every ``refresh`` seconds it publishes anyway, so counters (mailbox,
processed, messages/s) move between lifecycle events. Nobody watching: nothing is built.
A snapshot walks every actor (≈ 100 ms at 10 000 actors here), so both timers stretch to
keep that walk under ``BUSY_SHARE`` of the loop's time on a big system.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, Literal

import msgspec

from lightflow_actors.adapters.http import (
    HttpError,
    NodeKind,
    RateWindow,
    Restart,
    SystemSummary,
    TreeNode,
    TreeQuery,
    peer_tree,
    summarize,
    tree_nodes,
)
from lightflow_actors.adapters.nats import REGISTRY_NAME, GetRegistryInfo, RemoteRegistry
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorInfo,
    ActorNotAlive,
    ActorRef,
    ActorStatus,
    ActorSystem,
    Ask,
    AskTimeout,
    ExitReason,
    LifecycleEvent,
    Refused,
    handler,
)
from lightflow_actors.live import CountSubscribers, Publish
from lightflow_actors.supervision import Crash, PendingChild

from ._history import SAMPLE_S, History, HistoryRecorder

NO_HISTORY = History()

TREE_TOPIC = "observer:tree"
"""The topic snapshots are published on (in the observer's own live hub)."""

RECENT_EVENTS = 200
"""Lifecycle events a snapshot carries (the newest), for the event log and actor details."""

BUSY_SHARE = 0.2
"""The share of the loop's time snapshots may take: the next one waits at least
``cost / BUSY_SHARE`` seconds after one that took ``cost``."""


class ObservedActor(msgspec.Struct, frozen=True, kw_only=True):
    """One live actor as the observer shows it: its tree node plus links and monitors.

    Immutable and hashable (tuples, not lists), so a row rendered for it can be memoised:
    an actor that did not change between two snapshots costs no bytes on the wire.
    """

    id: int
    name: str | None
    kind: NodeKind
    actor_class: str
    parent: int | None
    depth: int
    children: tuple[int, ...]
    links: tuple[int, ...]
    monitors: tuple[int, ...]
    monitored_by: tuple[int, ...]
    status: ActorStatus
    mailbox: int
    processed: int
    restarts: int
    trap_exit: bool
    last_crash: str | None
    child_id: str | None
    restart: Restart | None
    strategy: str | None
    pending: tuple[PendingChild, ...] = ()
    """A supervisor's children no actor runs now (restarting, with the next attempt's
    time, or stopped)."""
    tenant: str | None = None
    """The tenant a session or run actor works for (None: shared)."""
    remark: str | None = None
    """What the actor tells operators about itself (`Actor.remark`; None: nothing)."""
    crash: Crash | None = None
    """The last crash under its child spec (an earlier incarnation's), with traceback."""

    @property
    def label(self) -> str:
        """What the tree calls it: its name, else its child id, else its class."""
        return self.name or self.child_id or self.actor_class


class ClusterNodeRow(msgspec.Struct, frozen=True):
    """A node of the cluster as this node's registry sees it (heartbeats), with what its
    tree says (the cluster summary) and, for a peer up, its tree (the node selector
    shows it). ``actors`` is None when its tree could not be read (``problem`` says
    why); the other counts are over ``tree``, which holds at most `PEER_PAGE` actors
    (``partial`` then)."""

    node: str
    status: Literal["self", "up", "down"]
    actors: int | None = None
    supervisors: int = 0
    busy: int = 0
    mailbox: int = 0
    restarts: int = 0
    crashed: int = 0
    tree: tuple[ObservedActor, ...] = ()
    partial: bool = False
    problem: str | None = None


PEER_PAGE: Final = 1000
"""Actors of a peer's tree the feed asks for per refresh (its first page, spawn order)."""
PEER_WAIT: Final = 2.0
"""Seconds the feed waits for a peer's tree before it says the peer did not answer."""


def counted(row: ClusterNodeRow, actors: tuple[ObservedActor, ...], total: int) -> ClusterNodeRow:
    """``row`` with the counts of the cluster summary taken from ``actors`` (of ``total``)."""
    return msgspec.structs.replace(
        row,
        actors=total,
        supervisors=sum(a.kind == "supervisor" for a in actors),
        busy=sum(a.status == "busy" for a in actors),
        mailbox=sum(a.mailbox for a in actors),
        restarts=sum(a.restarts for a in actors),
        crashed=sum(a.crash is not None or a.last_crash is not None for a in actors),
        partial=len(actors) < total,
    )


class TreeSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The whole system at one instant, as the feed publishes it.

    ``version`` grows with every snapshot of one feed; ``actors`` are in tree order (each
    actor followed by its subtree); ``events`` are the newest lifecycle events, oldest first;
    ``history`` the feed's samples and restarts of the last ten minutes.
    """

    version: int
    summary: SystemSummary
    actors: tuple[ObservedActor, ...]
    events: tuple[LifecycleEvent, ...]
    history: History = History()
    nodes: tuple[ClusterNodeRow, ...] = ()


def observe(
    system: ActorSystem,
    rates: RateWindow,
    events: tuple[LifecycleEvent, ...],
    version: int,
    history: History = NO_HISTORY,
) -> TreeSnapshot:
    """Snapshot ``system`` (one synchronous pass: a consistent view)."""
    nodes = tree_nodes(system)
    actors = observed(nodes, {info.id: info for info in system.actors()})
    return TreeSnapshot(
        version=version,
        summary=summarize(system, nodes, rates),
        actors=actors,
        events=events,
        history=history,
    )


def observed(nodes: list[TreeNode], infos: Mapping[int, ActorInfo]) -> tuple[ObservedActor, ...]:
    """Tree nodes as the observer shows them, in tree order; ``infos`` adds links and
    monitors (a peer's tree has none: its nodes come over the cluster without them)."""
    actors: list[ObservedActor] = []
    for node in _depth_first(nodes):
        info = infos.get(node.id)
        actors.append(
            ObservedActor(
                id=node.id,
                name=node.name,
                kind=node.kind,
                actor_class=node.actor_class,
                parent=node.parent,
                depth=node.depth,
                children=tuple(node.children),
                links=tuple(info.links) if info is not None else (),
                monitors=tuple(info.monitors) if info is not None else (),
                monitored_by=tuple(info.monitored_by) if info is not None else (),
                status=node.status,
                mailbox=node.mailbox,
                processed=node.processed,
                restarts=node.restarts,
                trap_exit=info.trap_exit if info is not None else False,
                last_crash=node.last_crash,
                child_id=node.child_id,
                restart=node.restart,
                strategy=node.strategy,
                pending=tuple(node.pending),
                tenant=node.tenant,
                remark=node.remark,
                crash=node.crash,
            )
        )
    return tuple(actors)


def _depth_first(nodes: list[TreeNode]) -> list[TreeNode]:
    """``nodes`` (id order) in tree order: each actor followed by its subtree, siblings in
    spawn order. A restarted child has a new, higher id, so id order would show it far from
    its supervisor."""
    by_id = {node.id: node for node in nodes}
    ordered: list[TreeNode] = []
    stack = [node for node in reversed(nodes) if node.parent not in by_id]
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(by_id[child] for child in reversed(node.children) if child in by_id)
    return ordered


class Noted(msgspec.Struct, frozen=True):
    """A lifecycle event the system reported (sent by the feed's listener)."""

    event: LifecycleEvent


class Flush(msgspec.Struct, frozen=True):
    """The coalescing timer fired: publish what changed."""


class Refresh(msgspec.Struct, frozen=True):
    """The periodic timer fired: publish fresh counters."""


class TakeSample(msgspec.Struct, frozen=True):
    """The sampling timer fired: add a sample to the history."""


class GetSnapshot(Ask[TreeSnapshot], frozen=True):
    """A snapshot now (an observer session mounting)."""


FeedMessage = Noted | Flush | Refresh | TakeSample | GetSnapshot
"""What ``ActorRef[FeedMessage]`` accepts."""


class TreeFeed(Actor[FeedMessage]):
    """Publishes ``TreeSnapshot`` on ``TREE_TOPIC`` when the tree changes.

    ::

        feed = system.spawn(lambda: TreeFeed(lambda: pubsub_ref, interval=0.25))
        snapshot = await feed.ask(GetSnapshot())

    ``pubsub`` finds the hub's pubsub actor at use time (it may have restarted).
    ``interval``: seconds events are coalesced for; ``refresh``: seconds between
    publications when nothing happens.
    """

    def __init__(
        self,
        pubsub: Callable[[], ActorRef[Publish | CountSubscribers]],
        *,
        interval: float = 0.25,
        refresh: float = 2.0,
    ) -> None:
        if not (interval > 0 and refresh > 0):
            raise ValueError(
                f"TreeFeed needs interval > 0 and refresh > 0 seconds, got {interval}, {refresh}"
            )
        self.pubsub = pubsub
        self.interval = interval
        self.refresh = refresh
        self.rates = RateWindow()
        self.recent: deque[LifecycleEvent] = deque(maxlen=RECENT_EVENTS)
        self.history = HistoryRecorder()
        self.version = 0
        self.nodes: tuple[ClusterNodeRow, ...] = ()
        self.asked_at: float | None = None  # a page mounted (system clock)
        self.cost = 0.0  # seconds (system clock) the last snapshot took
        self.armed = False
        self.unsubscribe: Callable[[], None] = _nothing

    def on_start(self) -> None:
        system = self.system
        self.recent.extend(system.events(limit=RECENT_EVENTS))
        for event in self.recent:  # restarts before the feed started are on the timelines
            self.history.note(event)
        ref = self.ref

        def listener(event: LifecycleEvent) -> None:
            # A killed feed runs no on_stop: its listener removes itself on the next event.
            if ref.alive:
                ref.tell(Noted(event))
            else:
                unsubscribe()

        unsubscribe = system.subscribe(listener)
        self.unsubscribe = unsubscribe
        self.send_after(self.refresh, ref, Refresh())
        self.history.sample(system)
        self.send_after(SAMPLE_S, ref, TakeSample())

    def on_stop(self, reason: ExitReason) -> None:
        self.unsubscribe()

    @handler
    def noted(self, msg: Noted) -> None:
        self.recent.append(msg.event)
        self.history.note(msg.event)
        if not self.armed:
            self.armed = True
            self.send_after(max(self.interval, self.cost / BUSY_SHARE), self.ref, Flush())

    @handler
    async def flush(self, msg: Flush) -> None:
        self.armed = False
        await self._publish()

    @handler
    async def tick(self, msg: Refresh) -> None:
        nodes = await cluster_nodes(self.system)
        asked = (
            self.asked_at is not None and self.system.clock.now() - self.asked_at < 4 * self.refresh
        )
        if nodes and (asked or await self._watchers()):
            # someone watches (or a page without JavaScript mounted lately): peers' trees
            nodes = await peer_trees(self.system, nodes)
        self.nodes = nodes
        if not self.armed:  # a flush is on its way: it carries fresh counters too
            await self._publish()
        self.send_after(max(self.refresh, self.cost / BUSY_SHARE), self.ref, Refresh())

    @handler
    def take_sample(self, msg: TakeSample) -> None:
        self.history.sample(self.system)
        self.send_after(SAMPLE_S, self.ref, TakeSample())

    @handler
    def get(self, msg: GetSnapshot) -> TreeSnapshot:
        self.asked_at = self.system.clock.now()
        return self._snapshot()

    def _snapshot(self) -> TreeSnapshot:
        self.version += 1
        clock = self.system.clock
        started = clock.now()
        snapshot = observe(
            self.system, self.rates, tuple(self.recent), self.version, self.history.frozen()
        )
        if self.nodes:
            own = tuple(
                counted(row, snapshot.actors, len(snapshot.actors)) if row.status == "self" else row
                for row in self.nodes
            )
            snapshot = msgspec.structs.replace(snapshot, nodes=own)
        self.cost = clock.now() - started
        return snapshot

    async def _watchers(self) -> int:
        """Sessions watching (0 while the hub's pubsub restarts)."""
        try:
            return await self.pubsub().ask(CountSubscribers(TREE_TOPIC))
        except (LookupError, AskTimeout, ActorExited, ActorNotAlive):
            return 0  # the pubsub restarts; so will we (rest_for_one)

    async def _publish(self) -> None:
        if await self._watchers():
            try:
                self.pubsub().tell(Publish(TREE_TOPIC, self._snapshot()))
            except LookupError:
                return  # same: the next change or refresh publishes


async def cluster_nodes(system: ActorSystem) -> tuple[ClusterNodeRow, ...]:
    """This node and the peers its cluster registry hears (nothing on a single node)."""
    if system.whereis(REGISTRY_NAME) is None:
        return ()
    try:
        info = await system.lookup(REGISTRY_NAME, RemoteRegistry).ask(
            GetRegistryInfo(), timeout=1.0
        )
    except (AskTimeout, ActorExited, ActorNotAlive):
        return ()
    return (
        ClusterNodeRow(info.node, "self"),
        *(ClusterNodeRow(n, "up") for n in info.nodes_up),
        *(ClusterNodeRow(n, "down") for n in info.nodes_down),
    )


async def peer_trees(
    system: ActorSystem, nodes: tuple[ClusterNodeRow, ...]
) -> tuple[ClusterNodeRow, ...]:
    """``nodes`` with each peer up's tree (its first `PEER_PAGE` actors) and counts, asked
    of its tree agent through the cluster registry; a peer that does not answer keeps
    its row with the ``problem``."""
    rows: list[ClusterNodeRow] = []
    query = TreeQuery(limit=PEER_PAGE)
    for row in nodes:
        if row.status != "up":
            rows.append(row)
            continue
        try:
            page = await peer_tree(system, row.node, query, PEER_WAIT)
        except (Refused, HttpError, AskTimeout, ActorExited, ActorNotAlive) as exc:
            message = exc.message if isinstance(exc, HttpError) else str(exc)
            rows.append(msgspec.structs.replace(row, problem=message))
            continue
        tree = observed(page.nodes, {})
        rows.append(msgspec.structs.replace(counted(row, tree, page.total), tree=tree))
    return tuple(rows)


def _nothing() -> None:
    return None
