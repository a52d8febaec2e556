"""The node's one `TenantLedger`, shared by the parts `lightflow serve` assembles.

Budgets are per node, so the live views, the runs host and the substrate's provider
hosts must count against one ledger: `node_tenants(system)` makes it on first use for a
system (from the tenants file, `load_tenants_config`) and gives the same one to every
later caller for that system, like an Akka extension (one instance per `ActorSystem`,
held by a weak reference to the system, so nothing outlives it). `tenants_part` serves
what it knows at ``GET /system/tenants``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lightflow_actors.adapters.http import BadRequest, PartSource, ServeOptions, ServerPart
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.tenants import (
    TenantEvent,
    TenantLedger,
    TenantUsage,
    load_tenants_config,
    report_refusals,
)

__all__ = ["TenantsPage", "node_tenants", "tenants_part"]

_MAX_SEQ = (1 << 63) - 1
_LEDGERS: weakref.WeakKeyDictionary[ActorSystem, TenantLedger] = weakref.WeakKeyDictionary()


class _SystemClock:
    """The system's clock, read at each call: a part is built before its system starts
    (and has a clock), and a deterministic system's virtual clock is the one to follow."""

    __slots__ = ("_system",)

    def __init__(self, system: ActorSystem) -> None:
        self._system = system

    def now(self) -> float:
        return self._system.clock.now()

    def wall_ms(self) -> int:
        return self._system.clock.wall_ms()


def node_tenants(system: ActorSystem, environ: Mapping[str, str] | None = None) -> TenantLedger:
    """The ledger of `system`'s node, made on the first call from the tenants file
    (``$LIGHTFLOW_TENANTS_CONFIG``, else ``$XDG_CONFIG_HOME/lightflow/tenants.json``; no
    file: no budgets). Raises `TenantsConfigError` for a bad file. Its refusals are the
    system's ``over_budget`` lifecycle events too (`report_refusals`: at most one a
    second per tenant and budget, with a count)."""
    ledger = _LEDGERS.get(system)
    if ledger is None:
        config = load_tenants_config(environ=environ)
        ledger = _LEDGERS[system] = TenantLedger(config, clock=_SystemClock(system))
        report_refusals(ledger, system)
    return ledger


class TenantsPage(msgspec.Struct, frozen=True):
    """``GET /system/tenants``: each tenant's use, budgets and refusals, and the newest
    recorded events (refusals and held provider calls) after ``?after=<seq>``."""

    tenants: list[TenantUsage]
    events: list[TenantEvent]


def tenants_part(options: ServeOptions) -> PartSource:
    """``GET /system/tenants`` of the node's ledger (read-only, like ``/system/tree``)."""

    def build(system: ActorSystem) -> ServerPart:
        ledger = node_tenants(system)
        encoder = msgspec.json.Encoder()

        async def tenants(request: Request) -> Response:
            unknown = set(request.query_params) - {"after"}
            if unknown:
                raise BadRequest(f"unknown query parameter {sorted(unknown)[0]!r}", field="query")
            raw = request.query_params.get("after", "0")
            if not (raw.isascii() and raw.isdigit() and int(raw[:20]) <= _MAX_SEQ):
                raise BadRequest(
                    f"invalid query parameter `after`: {raw[:40]!r} is not an event seq "
                    "(a whole number)",
                    field="query.after",
                )
            after = int(raw)
            page = TenantsPage(ledger.usage(), ledger.events(after))
            return Response(encoder.encode(page), media_type="application/json")

        return ServerPart(routes=(Route("/system/tenants", tenants, methods=["GET"]),))

    return build
