"""Tenants at the substrate (ADR 0104): a request's `<id>.tenant` file names whose it is;
a provider's waiting requests are served round-robin across tenants, not first come
first served; a tenant past its provider-call budget is passed over (its requests keep
their place, a ``throttled`` event is recorded) while other tenants are served. Order is
shown with a provider that admits one request at a time, never with time."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_substrate import ProviderRequest, callable_provider
from ctx_substrate._intake import locate, read_tenant
from lightflow_actors.cortex import Suffix, commit_request
from lightflow_actors.tenants import DEFAULT_TENANT, Budgets, TenantsConfig

pytestmark = pytest.mark.anyio


class Turnstile:
    """An async provider with one slot that lets requests in one at a time, on demand,
    and remembers whose each one was, in the order they came in."""

    def __init__(self) -> None:
        self.order: list[tuple[str, str]] = []  # (tenant, request id)
        self.permits = asyncio.Semaphore(0)

    async def serve(self, request: ProviderRequest) -> object:
        self.order.append((request.tenant, request.id))
        await self.permits.acquire()
        return {"id": request.id, "tenant": request.tenant}


def claimed(ctx: Any) -> int:
    return len(list(ctx.layout.api_inbox("openai.chat").glob("*.claimed")))


async def test_the_tenant_file_names_whose_request_it_is(start_ctx: Callable[..., Any]) -> None:
    seen: dict[str, str] = {}

    def serve(request: ProviderRequest) -> object:
        seen[request.id] = request.tenant
        return {}

    ctx = await start_ctx(providers=[callable_provider("echo", serve)])
    inbox = ctx.layout.api_inbox("openai.chat")
    commit_request(inbox, "mine", b"{}", tenant="acme")
    commit_request(inbox, "anon", b"{}")
    await ctx.until(lambda: len(seen) == 2, "both served")
    assert seen == {"mine": "acme", "anon": DEFAULT_TENANT}
    assert (inbox / f"mine{Suffix.TENANT}").read_bytes() == b"acme"
    assert not (inbox / f"anon{Suffix.TENANT}").exists()


async def test_a_flooding_tenant_does_not_push_another_tenants_request_back(
    start_ctx: Callable[..., Any],
) -> None:
    gate = Turnstile()
    ctx = await start_ctx(providers=[callable_provider("echo", gate.serve, concurrency=1)])
    inbox = ctx.layout.api_inbox("openai.chat")
    for n in range(10):
        commit_request(inbox, f"noisy-{n}", b"{}", tenant="noisy")
    await ctx.until(lambda: claimed(ctx) == 10, "the flood queued")
    commit_request(inbox, "quiet-0", b"{}", tenant="quiet")
    await ctx.until(lambda: claimed(ctx) == 11, "the quiet request queued behind it")
    gate.permits.release()  # let them through one by one; each answer admits the next
    for _ in range(10):
        gate.permits.release()
    outbox = ctx.layout.api_outbox("openai.chat")
    await ctx.until(lambda: len(list(outbox.glob("*.resp.json"))) == 11, "every answer")
    tenants = [tenant for tenant, _ in gate.order]
    # First come first served would put it 11th; round robin serves it on the next turn.
    assert tenants.index("quiet") <= 2, gate.order
    noisy = [rid for tenant, rid in gate.order if tenant == "noisy"]
    assert noisy == sorted(noisy, key=lambda r: int(r.rsplit("-", 1)[1]))  # FIFO within one


async def test_weights_give_a_tenant_more_turns(start_ctx: Callable[..., Any]) -> None:
    gate = Turnstile()
    config = TenantsConfig(tenants={"gold": Budgets(weight=3)})
    ctx = await start_ctx(
        providers=[callable_provider("echo", gate.serve, concurrency=1)], tenants=config
    )
    inbox = ctx.layout.api_inbox("openai.chat")
    commit_request(inbox, "first", b"{}", tenant="other")
    await ctx.until(lambda: len(gate.order) == 1, "the slot taken")
    for n in range(6):
        commit_request(inbox, f"o{n}", b"{}", tenant="other")
    await ctx.until(lambda: claimed(ctx) == 7, "the first tenant's work queued")
    for n in range(6):
        commit_request(inbox, f"g{n}", b"{}", tenant="gold")
    await ctx.until(lambda: claimed(ctx) == 13, "both queued")
    for _ in range(13):
        gate.permits.release()
    await ctx.until(lambda: len(gate.order) == 13, "all served")
    tenants = [tenant for tenant, _ in gate.order[1:]]
    # Rounds: one of "other", then three of "gold" (weight 3), and so on.
    assert tenants[:8] == ["other", "gold", "gold", "gold", "other", "gold", "gold", "gold"]


async def test_a_tenant_past_its_provider_calls_waits_and_others_go_on(
    start_ctx: Callable[..., Any],
) -> None:
    served: list[str] = []

    def serve(request: ProviderRequest) -> object:
        served.append(request.id)
        return {}

    # One call, then one more every 100 s: the second call of "metered" must wait.
    config = TenantsConfig(
        tenants={"metered": Budgets(provider_calls_per_min=0.6, provider_calls_burst=1)}
    )
    ctx = await start_ctx(providers=[callable_provider("echo", serve)], tenants=config)
    ledger = ctx.tenants
    assert ledger is not None
    inbox = ctx.layout.api_inbox("openai.chat")
    commit_request(inbox, "m1", b"{}", tenant="metered")
    await ctx.until(lambda: served == ["m1"], "the first call")
    commit_request(inbox, "m2", b"{}", tenant="metered")
    await ctx.until(lambda: bool(ledger.events()), "the held call recorded")
    commit_request(inbox, "q1", b"{}", tenant="quiet")
    await ctx.until(lambda: "q1" in served, "the other tenant served meanwhile")
    assert served == ["m1", "q1"]  # m2 keeps waiting for its budget
    assert (inbox / f"m2{Suffix.CLAIMED}").exists()
    [event] = ledger.events()
    assert (event.kind, event.tenant, event.budget) == ("throttled", "metered", "provider_calls")
    assert 0 < event.retry_after <= 100
    usage = {u.tenant: u for u in ledger.usage()}
    assert usage["metered"].throttled == 1 and usage["metered"].refused == {}
    # Lift the budget: the held request is served on the next turn, nothing was lost.
    ledger.reconfigure(TenantsConfig())
    commit_request(inbox, "q2", b"{}", tenant="quiet")
    await ctx.until(lambda: {"m2", "q2"} <= set(served), "the held call served")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_any_tenant_file_reads_as_a_tenant_id_or_the_default(
    tmp_path_factory: Any, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("t")
    inbox = root / "home" / "1000" / "api" / "openai.chat" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "r.tenant").write_bytes(data)
    loc = locate(root, inbox / "r.claimed", Suffix.CLAIMED)
    assert loc is not None
    tenant = read_tenant(loc)
    text = data.decode("ascii", "replace").strip()
    assert tenant in (text, DEFAULT_TENANT)
    assert 1 <= len(tenant) <= 64 and "/" not in tenant and tenant not in (".", "..")


def test_a_tenant_file_that_is_a_fifo_or_a_symlink_is_not_followed(tmp_path: Any) -> None:
    inbox = tmp_path / "home" / "1000" / "api" / "openai.chat" / "inbox"
    inbox.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("acme")
    (inbox / "link.tenant").symlink_to(secret)
    os.mkfifo(inbox / "fifo.tenant")
    for rid in ("link", "fifo", "missing"):
        loc = locate(tmp_path, inbox / f"{rid}.claimed", Suffix.CLAIMED)
        assert loc is not None
        assert read_tenant(loc) == DEFAULT_TENANT
