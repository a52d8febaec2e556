"""The provider host's tenant scheduling on both loops (the `runtime` fixture): the real
asyncio loop and the deterministic one, where the provider-call budget refills in
virtual time. A provider host is driven directly with `Serve` messages (no files)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from ctx_substrate import ProviderRequest, callable_provider
from ctx_substrate._audit import AuditLog
from ctx_substrate.providers import ProviderHost, Serve, Served
from lightflow_actors.kernel import Actor, ActorRef, Ask, Reply, handler
from lightflow_actors.tenants import Budgets, TenantLedger, TenantsConfig

from ..conftest import Runtime


class Collected(Ask[list[tuple[str, str, float]]], frozen=True):
    count: int


class Collector(Actor[Served | Collected]):
    """Remembers each answer: (tenant, request id, when it was answered)."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, str, float]] = []
        self.waiting: tuple[int, Reply[list[tuple[str, str, float]]]] | None = None

    @handler
    def served(self, msg: Served) -> None:
        body = msgspec.json.decode(msg.outcome.body)  # type: ignore[union-attr]
        self.answers.append((body["tenant"], body["id"], self.system.clock.now()))
        if self.waiting is not None and len(self.answers) >= self.waiting[0]:
            self.waiting[1].send(list(self.answers))
            self.waiting = None

    @handler
    def collected(self, msg: Collected) -> None:
        reply = self.defer(msg)
        if len(self.answers) >= msg.count:
            reply.send(list(self.answers))
        else:
            self.waiting = (msg.count, reply)


def request(tenant: str, rid: str) -> ProviderRequest:
    return ProviderRequest("api", "openai.chat", "1000", rid, {}, b"{}", tenant=tenant)


async def answer(req: ProviderRequest) -> object:
    return {"tenant": req.tenant, "id": req.id}


async def test_a_held_tenant_waits_for_its_budget_while_others_are_served(
    runtime: Runtime, tmp_path: Path
) -> None:
    config = TenantsConfig(
        tenants={"metered": Budgets(provider_calls_per_min=60, provider_calls_burst=1)}
    )
    audit = AuditLog(tmp_path / "audit.jsonl", lambda: 0, durable=False)
    async with runtime.system() as system:
        ledger = TenantLedger(config, clock=system.clock)
        spec = callable_provider("echo", answer, concurrency=1)
        host: ActorRef[Serve] = system.spawn(
            lambda: ProviderHost(
                spec, audit, max_restarts=3, period_s=5.0, shutdown_s=1.0, tenants=ledger
            )
        )
        collector = system.spawn(Collector)
        start = system.clock.now()
        for token, (tenant, rid) in enumerate(
            [("metered", "m1"), ("metered", "m2"), ("metered", "m3"), ("quiet", "q1")]
        ):
            host.tell(Serve(token, request(tenant, rid), collector))
        answers = await collector.ask(Collected(4), timeout=30.0)
    order = [rid for _, rid, _ in answers]
    assert order == ["m1", "q1", "m2", "m3"], answers
    at = {rid: when - start for _, rid, when in answers}
    # One call a second: the held calls go no earlier than their tokens come back.
    assert at["m2"] >= 0.99 and at["m3"] >= 1.99
    # Recorded each time the tenant starts waiting: before m2, and again before m3.
    events = [(e.kind, e.tenant, e.budget, e.subject) for e in ledger.events()]
    assert events == [("throttled", "metered", "provider_calls", "echo")] * 2
    audit.close()
