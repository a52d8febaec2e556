"""`TenantsSync`: the nodes of a cluster tell each other what each tenant uses, so the
count budgets (live sessions, runs in flight) hold cluster-wide (specs/tenants.md §6).

Every `interval` each node publishes, on ``<prefix>.tenants.usage``, its ledger's live
sessions and runs in flight per tenant (`TenantLedger.local_usage`, only tenants that
have some), and hands what the other nodes publish to its ledger
(`TenantLedger.set_peer_usage`); a node not heard for `expire_after` seconds (gone, cut
off) stops counting (`forget_peer`), and a node that stops says so (an empty report).
Admission stays a synchronous look-up on the node's own loop: a session or a run is
never held for a round trip to NATS, at the price of counts as old as one interval (the
limits this sets are in the spec).

Reports are decoded once at the boundary (`UsageReport`, msgspec, at most `MAX_REPORT`
bytes); a bad one is dropped and counted (`malformed`), never handed to the ledger.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Final

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from lightflow_actors.kernel import Actor, Ask, ExitReason, handler
from lightflow_actors.tenants import TenantId, TenantLedger

from ._subjects import check_prefix

__all__ = [
    "GetTenantsSyncInfo",
    "MalformedReport",
    "TenantsSync",
    "TenantsSyncInfo",
    "UsageReport",
    "decode_report",
    "usage_subject",
]

logger = logging.getLogger(__name__)

MAX_REPORT: Final = 1 << 20
"""Bytes of one report; a larger one is dropped (10 000 tenants fit in well under it)."""

NodeName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class UsageReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One node's use: `usage[tenant]` = [live sessions, runs in flight]; `seq` grows
    with each report of the node (from the wall clock in ms at its sync's start, so across
    restarts too); an older one arriving late is dropped."""

    node: NodeName
    seq: Annotated[int, msgspec.Meta(ge=0)]
    usage: dict[TenantId, tuple[Count, Count]]


class TenantsSyncInfo(msgspec.Struct, frozen=True):
    """What an operator (or a test) sees of the sync: who counts, what went wrong."""

    node: str
    peers: list[str]
    published: int
    received: int
    malformed: int


class GetTenantsSyncInfo(Ask[TenantsSyncInfo], frozen=True):
    """Ask a `TenantsSync` how it is doing."""


class _Publish(msgspec.Struct, frozen=True):
    """Timer: report this node's use and forget silent peers."""


class _Heard(msgspec.Struct, frozen=True):
    """A report of another node, decoded."""

    report: UsageReport


_decoder = msgspec.json.Decoder(UsageReport)
_encoder = msgspec.json.Encoder()


class MalformedReport(ValueError):
    """Bytes on the usage subject that are not a `UsageReport`; the message says why."""


def decode_report(data: bytes) -> UsageReport:
    """Decode one report, or `MalformedReport` naming the bad field (``$.usage...``)."""
    if len(data) > MAX_REPORT:
        raise MalformedReport(
            f"dropped a tenants usage report of {len(data)} bytes (at most {MAX_REPORT})"
        )
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as error:
        raise MalformedReport(f"dropped a malformed tenants usage report: {error}") from None


def usage_subject(prefix: str) -> str:
    """Where every node's `UsageReport`s go."""
    return f"{check_prefix(prefix)}.tenants.usage"


class TenantsSync(Actor[_Publish | _Heard | GetTenantsSyncInfo]):
    """Keep `ledger`'s view of the other nodes' use current over `client`.

    ::

        sync = await system.start_actor(lambda: TenantsSync(client, "a", node_tenants(system)))
    """

    def __init__(
        self,
        client: Client,
        node: str,
        ledger: TenantLedger,
        *,
        interval: float = 1.0,
        expire_after: float | None = None,
        prefix: str = "lf",
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval!r}")
        self.client = client
        self.node = node
        self.ledger = ledger
        self.interval = interval
        self.expire_after = 3 * interval if expire_after is None else expire_after
        self.subject = usage_subject(prefix)
        self.subscription: Subscription | None = None
        self.heard: dict[str, tuple[int, float]] = {}  # node -> (its last seq, when)
        self.seq = 0
        self.published = 0
        self.received = 0
        self.malformed = 0

    async def on_start(self) -> None:
        # Numbered from the wall clock in ms (one report a second at most adds 1), so a
        # restarted sync's reports are newer than its previous incarnation's.
        self.seq = self.system.clock.wall_ms()
        me = self.ref

        async def deliver(msg: Msg) -> None:
            try:
                report = decode_report(msg.data)
            except MalformedReport as error:
                self.malformed += 1
                logger.warning("%s", error)
                return
            if me.alive:
                me.tell(_Heard(report))

        self.subscription = await self.client.subscribe(self.subject, cb=deliver)
        await self._publish()
        self.send_after(self.interval, self.ref, _Publish())

    async def on_stop(self, reason: ExitReason) -> None:
        subscription, self.subscription = self.subscription, None
        with contextlib.suppress(Exception):  # the connection may be gone already
            if subscription is not None:
                await subscription.unsubscribe()
            if self.client.is_connected:  # the others stop counting this node at once
                self.seq += 1
                await self.client.publish(
                    self.subject, _encoder.encode(UsageReport(self.node, self.seq, {}))
                )
        for node in list(self.heard):
            self.ledger.forget_peer(node)
        self.heard.clear()

    @handler
    async def publish(self, msg: _Publish) -> None:
        now = self.system.clock.now()
        for node, (_, when) in list(self.heard.items()):
            if now - when > self.expire_after:
                silent = now - when
                logger.info("node %r sent no tenants usage for %.1f s: not counted", node, silent)
                del self.heard[node]
                self.ledger.forget_peer(node)
        with contextlib.suppress(Exception):  # NATS down: the link restarts; try next time
            await self._publish()
        self.send_after(self.interval, self.ref, _Publish())

    @handler
    def heard_report(self, msg: _Heard) -> None:
        report = msg.report
        if report.node == self.node:
            return  # our own (a client without no_echo)
        last = self.heard.get(report.node)
        if last is not None and report.seq <= last[0]:
            return  # overtaken by a newer report
        self.received += 1
        self.heard[report.node] = (report.seq, self.system.clock.now())
        self.ledger.set_peer_usage(report.node, report.usage)
        if not report.usage:
            del self.heard[report.node]  # it stopped (or uses nothing): nothing to expire

    @handler
    def info(self, msg: GetTenantsSyncInfo) -> TenantsSyncInfo:
        return TenantsSyncInfo(
            self.node, self.ledger.peers, self.published, self.received, self.malformed
        )

    async def _publish(self) -> None:
        self.seq += 1
        report = UsageReport(self.node, self.seq, self.ledger.local_usage())
        await self.client.publish(self.subject, _encoder.encode(report))
        self.published += 1
