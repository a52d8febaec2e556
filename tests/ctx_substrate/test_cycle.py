"""The commit → response cycle through the client actor, and what it leaves on disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from ctx_substrate import Stats
from lightflow_actors.cortex import (
    Call,
    Commit,
    CommitFailed,
    CortexOutcome,
    ErrorObserved,
    ObserveTimedOut,
    RequestCommitted,
    ResponseObserved,
    Suffix,
    write_tmp_request,
)

pytestmark = pytest.mark.anyio

BACKENDS = ["directory", pytest.param("fuse", marks=pytest.mark.fuse)]


async def call(ctx: Any, kind: Any, name: str, rid: str, body: object) -> CortexOutcome:
    outcome = await ctx.client.ask(Call(kind, name, rid, body, timeout_s=20), timeout=30)
    assert not isinstance(outcome, CommitFailed), outcome
    return outcome  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("kind", "name"), [("api", "openai.chat"), ("tool", "echo"), ("thread", "t1")]
)
@pytest.mark.parametrize("backend", BACKENDS)
async def test_commit_response_cycle(
    start_ctx: Callable[..., Any], backend: str, kind: str, name: str
) -> None:
    ctx = await start_ctx(backend=backend)
    body = {"model": "m-1", "messages": [{"role": "user", "content": "hi"}]}
    if kind == "tool":
        body = {"args": ["-n", "x"], "stdin": "in"}
    outcome = await call(ctx, kind, name, "step-1", body)
    assert isinstance(outcome, ResponseObserved)
    answer = outcome.json()
    assert isinstance(answer, dict)
    assert answer["id"] == "step-1" and answer["target"] == name
    raw = msgspec.json.encode(body)
    assert outcome.fingerprint == "sha256:" + hashlib.sha256(raw).hexdigest()
    if kind == "thread":
        assert outcome.route is None
    else:
        assert outcome.route is not None and outcome.route.provider == "echo"
    await ctx.settled()  # the claim is closed and audited just after the answer is written
    inbox = ctx.layout.inbox(kind, name)
    assert sorted(os.listdir(inbox)) == (
        ["step-1.done"] if kind != "thread" else sorted(["step-1.done", *answer_files("step-1")])
    )
    events = [e.event for e in ctx.audit() if e.id == "step-1"]
    assert events == ["request.claimed", "policy.decision", "response.written"]


def answer_files(rid: str) -> list[str]:
    return [rid + Suffix.FINGERPRINT, rid + Suffix.RESPONSE]


async def test_route_tables_are_published(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    route = ctx.backing / "route"
    assert msgspec.json.decode((route / "api.json").read_bytes()) == {"*": "echo"}
    model = msgspec.json.decode((ctx.backing / "model" / "echo.json").read_bytes())
    assert model == {"provider": "echo", "model": ""}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_route_records_model(start_ctx: Callable[..., Any], backend: str) -> None:
    ctx = await start_ctx(backend=backend)
    outcome = await call(ctx, "api", "anthropic.messages", "r", {"model": "claude-x"})
    assert isinstance(outcome, ResponseObserved) and outcome.route is not None
    assert (outcome.route.provider, outcome.route.model) == ("echo", "claude-x")
    assert "route api/* -> echo" in outcome.route.reason


async def test_plain_tmp_write_does_not_trigger(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx(rescan_interval_s=0.05)
    inbox = ctx.layout.api_inbox("openai.chat")
    tmp = write_tmp_request(inbox, "slow", b'{"a":1}')
    before = len(ctx.audit())
    # Several rescans and any inotify events for the tmp file pass without a claim.
    await asyncio.sleep(0.3)
    assert tmp.exists() and len(ctx.audit()) == before
    os.rename(tmp, inbox / "slow.req.json")
    response = ctx.layout.api_outbox("openai.chat") / "slow.resp.json"
    await ctx.until(response.exists, "the renamed request to be answered")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_commit_notifies_an_actor(start_ctx: Callable[..., Any], backend: str) -> None:
    from lightflow_actors import Actor, handler

    got: asyncio.Queue[CortexOutcome] = asyncio.Queue()

    class Run(Actor[ResponseObserved | ErrorObserved | ObserveTimedOut]):
        @handler
        def outcome(self, msg: ResponseObserved | ErrorObserved | ObserveTimedOut) -> None:
            got.put_nowait(msg)

    ctx = await start_ctx(backend=backend)
    run = ctx.system.spawn(Run)
    reply = await ctx.client.ask(Commit("api", "openai.chat", "n1", {"x": 1}, notify=run))
    assert isinstance(reply, RequestCommitted) and reply.path.endswith("n1.req.json")
    outcome = await asyncio.wait_for(got.get(), 20)
    assert isinstance(outcome, ResponseObserved) and outcome.id == "n1"
    again = await ctx.client.ask(Commit("api", "openai.chat", "n1", {"x": 2}))
    assert isinstance(again, CommitFailed) and "already committed" in again.reason
    assert again.cause == "conflict"


@pytest.mark.parametrize("rid", ["", ".", "..", "../x", "a/b", "n\x00ul", "x" * 300])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_client_refuses_hostile_ids(
    start_ctx: Callable[..., Any], backend: str, rid: str
) -> None:
    ctx = await start_ctx(backend=backend)
    reply = await ctx.client.ask(Commit("api", "openai.chat", rid, {}))
    assert isinstance(reply, CommitFailed) and "InvalidIdError" in reply.reason
    assert reply.cause == "invalid"
    reply = await ctx.client.ask(Commit("tool", rid or "..", "ok", {}))
    assert isinstance(reply, CommitFailed)
    assert not any(ctx.backing.parent.glob("x*")), "nothing written beside the tree"


async def test_unencodable_body_is_refused_with_its_cause(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    reply = await ctx.client.ask(Commit("api", "openai.chat", "odd", {"x": object()}))
    assert isinstance(reply, CommitFailed) and reply.cause == "unencodable"
    assert "TypeError" in reply.reason
    inbox = ctx.backing / "home"
    assert not any(inbox.rglob("odd.*")), "nothing committed for a body that is not JSON"


async def test_observe_times_out(start_ctx: Callable[..., Any]) -> None:
    from lightflow_actors.cortex import Observe

    got: asyncio.Queue[CortexOutcome] = asyncio.Queue()
    from lightflow_actors import Actor, handler

    class Run(Actor[ResponseObserved | ErrorObserved | ObserveTimedOut]):
        @handler
        def outcome(self, msg: ResponseObserved | ErrorObserved | ObserveTimedOut) -> None:
            got.put_nowait(msg)

    ctx = await start_ctx()
    run = ctx.system.spawn(Run)
    ctx.client.tell(Observe("api", "openai.chat", "never", run, timeout_s=0.1))
    outcome = await asyncio.wait_for(got.get(), 20)
    assert isinstance(outcome, ObserveTimedOut) and outcome.id == "never"


async def test_poll_mode_serves(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx(watch="poll", poll_interval_s=0.02)
    outcome = await call(ctx, "api", "openai.chat", "p1", {"x": 1})
    assert isinstance(outcome, ResponseObserved)
    await ctx.settled()
    stats = await ctx.substrate.ask(Stats())
    assert stats.watch_mode == "poll" and stats.served == 1
