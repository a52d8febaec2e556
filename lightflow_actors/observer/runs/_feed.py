"""The runs page's feed: one actor reads runs through the runs host and publishes them.

``RunsFeed`` ticks every ``interval`` seconds while anybody watches. On ``LIST_TOPIC``
it publishes a ``RunsListing`` when a run appeared, vanished or changed; on
``run_topic(id)`` a ``RunDetail`` (or ``RunMissing``) when that run changed. A page asks
to follow a run with a ``FollowRun`` on ``FOLLOW_TOPIC``: the feed starts a
``RunFollower`` for it (or marks the one it has, so the newcomer gets the current detail
at the next tick) and drops it once nobody subscribes to its topic any more. Every read
runs on the runs host's worker threads (``RunsPort.read``), one at a time; like the
observer's feed, ticks stretch so reads take at most ``BUSY_SHARE`` of the time.

A tick's cost is the time its reads ran on their thread, not the time it waited for
them: a read's answer comes back to the loop between other actors' callbacks, and a sync
provider on the loop (ADR 0122) holds each for its whole call. Counting that wait made a
0.25 s call stretch the next tick to 1.25 s, so a run of a few such steps was published
once it was over, never half done (ADR 0135).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import msgspec

from lightflow_actors.flow import FlowError
from lightflow_actors.kernel import (
    Actor,
    ActorExited,
    ActorNotAlive,
    ActorRef,
    Ask,
    AskTimeout,
    LightflowError,
    handler,
)
from lightflow_actors.live import CountSubscribers, Delivery, Publish, SubscribeTopic
from lightflow_actors.runs import RunsOperations, RunsPort

from ._model import RunDetail, RunMissing, RunsListing
from ._reading import ListCache, RunFollower, list_rows

LIST_TOPIC: Final = "runs:list"
FOLLOW_TOPIC: Final = "runs:follow"
BUSY_SHARE: Final = 0.2

_UNAVAILABLE = (AskTimeout, ActorExited, ActorNotAlive, LightflowError, OSError)
"""The runs host is restarting or gone (``HostNotRunning`` is a ``LightflowError``):
the next tick tries again."""


T = TypeVar("T")


def run_topic(run_id: str) -> str:
    """The topic a run's detail is published on."""
    return f"runs:run:{run_id}"


class FollowRun(msgspec.Struct, frozen=True):
    """A page wants ``run_id`` (None: the list) now: publish it at the next tick."""

    run_id: str | None


class Tick(msgspec.Struct, frozen=True):
    """Read and publish what changed."""


class GetListing(Ask[RunsListing], frozen=True):
    """The list now (a page mounting)."""


class GetRun(Ask["RunDetail | RunMissing"], frozen=True):
    """One run now (a page mounting on it)."""

    run_id: str


class AssetIds(msgspec.Struct, frozen=True):
    """The ids of the workflow and preset assets (the forms of a page offer them)."""

    workflows: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()


class GetAssets(Ask[AssetIds], frozen=True):
    """The workflows and presets now (a page mounting)."""


FeedMessage = Tick | GetListing | GetRun | GetAssets | Delivery


class RunsFeed(Actor[FeedMessage]):
    """Publishes runs for the runs page (see the module docstring).

    ``port`` reaches the runs host; ``pubsub`` finds the page hub's pubsub at use time.
    """

    def __init__(
        self,
        port: RunsPort,
        pubsub: Callable[[], ActorRef[Publish | CountSubscribers | SubscribeTopic]],
        *,
        interval: float = 0.25,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"RunsFeed needs interval > 0 seconds, got {interval}")
        self.port = port
        self.pubsub = pubsub
        self.interval = interval
        self.cache: ListCache = {}
        self.listing: RunsListing | None = None
        self.list_dirty = False
        self.followers: dict[str, RunFollower] = {}
        self.details: dict[str, RunDetail | RunMissing] = {}
        self.dirty: set[str] = set()
        self.version = 0
        self.cost = 0.0

    def on_start(self) -> None:
        self.pubsub().tell(SubscribeTopic(FOLLOW_TOPIC, self.ref))
        self.send_after(self.interval, self.ref, Tick())

    @handler
    def follow(self, msg: Delivery) -> None:
        request = msg.message
        if not isinstance(request, FollowRun):
            return
        if request.run_id is None:
            self.list_dirty = True
            return
        self.dirty.add(request.run_id)
        self.followers.setdefault(request.run_id, RunFollower(request.run_id))

    @handler
    async def get_listing(self, msg: GetListing) -> RunsListing:
        return await self._read_listing()

    @handler
    async def get_run(self, msg: GetRun) -> RunDetail | RunMissing:
        follower = self.followers.get(msg.run_id) or RunFollower(msg.run_id)
        return await self._read_run(follower)

    @handler
    async def get_assets(self, msg: GetAssets) -> AssetIds:
        try:
            listing = await self._read("runs-page assets", lambda ops: ops.assets(None))
        except (FlowError, *_UNAVAILABLE):
            return AssetIds()
        return AssetIds(
            workflows=tuple(a.id for a in listing.assets if a.kind == "workflow"),
            presets=tuple(a.id for a in listing.assets if a.kind == "preset"),
        )

    @handler
    async def tick(self, msg: Tick) -> None:
        self.cost = 0.0  # what this tick's reads take on their thread (`_read`)
        try:
            await self._publish()
        finally:
            self.send_after(max(self.interval, self.cost / BUSY_SHARE), self.ref, Tick())

    async def _read(self, label: str, op: Callable[[RunsOperations], T]) -> T:
        """``op`` on the host's worker threads; its time there is added to ``cost`` (the
        wait for the thread and for the loop to take the answer back is not)."""
        clock = self.system.clock

        def timed(ops: RunsOperations) -> T:
            started = clock.now()
            try:
                return op(ops)
            finally:
                self.cost += clock.now() - started

        return await self.port.read(label, timed)

    async def _publish(self) -> None:
        try:
            pubsub = self.pubsub()
        except LookupError:
            return  # the hub's pubsub restarts; so do we
        try:
            if await pubsub.ask(CountSubscribers(LIST_TOPIC)):
                before = self.listing
                listing = await self._read_listing()
                if self.list_dirty or before is None or before.rows != listing.rows:
                    pubsub.tell(Publish(LIST_TOPIC, listing))
                self.list_dirty = False
            for run_id in list(self.followers):
                if not await pubsub.ask(CountSubscribers(run_topic(run_id))):
                    del self.followers[run_id]
                    self.details.pop(run_id, None)
                    self.dirty.discard(run_id)
                    continue
                before_run = self.details.get(run_id)
                detail = await self._read_run(self.followers[run_id])
                if run_id in self.dirty or detail != before_run:
                    self.dirty.discard(run_id)
                    pubsub.tell(Publish(run_topic(run_id), detail))
        except (AskTimeout, ActorExited, ActorNotAlive):
            return  # the pubsub restarts: the next tick publishes

    async def _read_listing(self) -> RunsListing:
        cache = self.cache
        try:
            rows = await self._read("runs-page list", lambda ops: list_rows(ops, cache))
        except _UNAVAILABLE:
            return self.listing if self.listing is not None else RunsListing(0, ())
        if self.listing is not None and self.listing.rows == rows:
            return self.listing
        self.version += 1
        self.listing = RunsListing(self.version, rows)
        return self.listing

    async def _read_run(self, follower: RunFollower) -> RunDetail | RunMissing:
        run_id = follower.run_id
        detail: RunDetail | RunMissing
        try:
            detail = await self._read("runs-page run", follower.read)
        except FlowError as exc:
            detail = RunMissing(run_id, str(exc))
        except _UNAVAILABLE as exc:
            known = self.details.get(run_id)
            if known is not None:
                return known
            detail = RunMissing(run_id, f"the runs host is not answering: {exc}; retrying")
            return detail
        if run_id in self.followers:
            self.details[run_id] = detail
        return detail
