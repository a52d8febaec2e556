"""Provider crashes, many concurrent requests, and substrate restarts: nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctx_substrate import ProviderRequest, Stats, callable_provider
from lightflow_actors.cortex import commit_request, decode_error

from ._loop_io import watch_loop_io

pytestmark = pytest.mark.anyio

BACKENDS = ["directory", pytest.param("fuse", marks=pytest.mark.fuse)]


def answers_per_id(ctx: Any) -> Counter[str | None]:
    return Counter(e.id for e in ctx.audit() if e.event in ("response.written", "error.written"))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_provider_crash_mid_request(start_ctx: Callable[..., Any], backend: str) -> None:
    def flaky(request: ProviderRequest) -> dict[str, object]:
        if request.body.get("crash"):
            raise RuntimeError("boom")
        return {"id": request.id}

    ctx = await start_ctx(backend=backend, providers=[callable_provider("echo", flaky)])
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    ids = ["a", "b", "crash", "c", "d"]
    for rid in ids:
        commit_request(inbox, rid, b'{"crash": true}' if rid == "crash" else b"{}")
    for rid in ids:
        done = [outbox / (rid + ".resp.json"), outbox / (rid + ".error")]
        await ctx.until(lambda done=done: any(p.exists() for p in done), f"an answer for {rid}")
    error = decode_error((outbox / "crash.error").read_bytes())
    assert error.kind == "provider_crashed" and "boom" in error.message
    for rid in ("a", "b", "c", "d"):
        assert msgspec.json.decode((outbox / f"{rid}.resp.json").read_bytes()) == {"id": rid}
    await ctx.settled()  # the hosts' audit lines are appended on the lanes (ADR 0128)
    events = [e.event for e in ctx.audit()]
    assert events.count("provider.crashed") == 1 and events.count("provider.restarted") == 1
    assert set(answers_per_id(ctx).values()) == {1}
    assert sorted(os.listdir(inbox)) == sorted(f"{rid}.done" for rid in ids)


async def test_restart_intensity_gives_up(start_ctx: Callable[..., Any]) -> None:
    def always(request: ProviderRequest) -> object:
        raise RuntimeError("always")

    ctx = await start_ctx(providers=[callable_provider("echo", always)], max_restarts=2)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    for n in range(5):
        commit_request(inbox, f"r{n}", b"{}")
    await ctx.until(
        lambda: all((outbox / f"r{n}.error").exists() for n in range(5)), "five error files"
    )
    kinds = {decode_error((outbox / f"r{n}.error").read_bytes()).kind for n in range(5)}
    assert kinds == {"provider_crashed"}
    await ctx.settled()
    events = [e.event for e in ctx.audit()]
    assert events.count("provider.restarted") == 2 and events.count("provider.gave_up") == 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_thousand_concurrent_requests(start_ctx: Callable[..., Any], backend: str) -> None:
    ctx = await start_ctx(backend=backend, durable_audit=False)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    n = 1000

    def commit_all() -> None:
        for i in range(n):
            commit_request(inbox, f"q{i:04d}", msgspec.json.encode({"i": i}))

    # Commit from a thread while the substrate serves on the loop: real concurrency.
    await asyncio.to_thread(commit_all)
    await ctx.until(lambda: len(os.listdir(outbox)) >= 3 * n, "3 000 answer files", limit_s=60)
    stats = await ctx.substrate.ask(Stats())
    assert (stats.served, stats.errors, stats.refused, stats.duplicates) == (n, 0, 0, 0)
    for i in range(n):
        body = msgspec.json.decode((outbox / f"q{i:04d}.resp.json").read_bytes())
        assert body["body"] == {"i": i}
    assert answers_per_id(ctx) == Counter({f"q{i:04d}": 1 for i in range(n)})
    assert sorted(os.listdir(inbox)) == [f"q{i:04d}.done" for i in range(n)]


async def test_restart_with_requests_left_in_inboxes(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    hold = asyncio.Event()

    async def stuck(request: ProviderRequest) -> object:
        await hold.wait()  # never set: the first incarnation never answers
        return {}

    # The stuck provider is killed 0.1 s into the stop (the default gives it 5 s to finish).
    first = await start_ctx(
        providers=[callable_provider("echo", stuck)], root=root, provider_shutdown_s=0.1
    )
    inbox = first.layout.api_inbox("openai.chat")
    outbox = first.layout.api_outbox("openai.chat")
    for rid in ("c1", "c2", "c3"):
        commit_request(inbox, rid, b"{}")
    await first.until(lambda: (inbox / "c3.claimed").exists(), "all three claimed")
    await first.system.shutdown(timeout=0.1)  # the substrate dies with c1..c3 claimed, unanswered

    # While it is down: a new request arrives, and one claim was answered before the
    # crash but never closed (the answer exists; it must not be answered again).
    commit_request(inbox, "new", b"{}")
    os.rename(inbox / "c3.claimed", inbox / "c3.claimed")
    (outbox / "c3.resp.json").write_bytes(b'{"answered":"before the crash"}')

    second = await start_ctx(root=root)
    for rid in ("c1", "c2", "new"):
        await second.until((outbox / f"{rid}.resp.json").exists, f"{rid} answered after restart")
    await second.until((inbox / "c3.done").exists, "c3's claim closed")
    assert (outbox / "c3.resp.json").read_bytes() == b'{"answered":"before the crash"}'
    assert sorted(os.listdir(inbox)) == ["c1.done", "c2.done", "c3.done", "new.done"]
    counts = answers_per_id(second)
    assert counts == Counter({"c1": 1, "c2": 1, "new": 1})
    resumed = sorted(e.id or "" for e in second.audit() if e.event == "request.resumed")
    assert resumed == ["c1", "c2", "c3"]


async def test_worker_killed_by_operator_is_requeued_not_failed(
    start_ctx: Callable[..., Any],
) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def slow(request: ProviderRequest) -> object:
        calls.append(request.id)
        if len(calls) == 1:
            await release.wait()  # the first incarnation is killed while it waits here
        return {"id": request.id}

    ctx = await start_ctx(providers=[callable_provider("echo", slow, concurrency=1)])
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "k", b"{}")
    await ctx.until(lambda: calls == ["k"], "the first incarnation to start serving")
    (worker,) = [a for a in ctx.system.actors() if a.kind == "AsyncCallableWorker"]
    victim = ctx.system.get(worker.id)
    assert victim is not None
    ctx.system.kill(victim)
    await ctx.until((outbox / "k.resp.json").exists, "the requeued request's answer")
    assert not (outbox / "k.error").exists()
    assert calls == ["k", "k"]  # served again by the restarted worker: answered once
    restarted = [e for e in ctx.audit() if e.event == "provider.restarted"]
    assert [e.reason for e in restarted] == ["killed"]
    assert answers_per_id(ctx) == Counter({"k": 1})


async def test_a_provider_hosts_audit_lines_are_written_off_the_loop_thread(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def always(request: ProviderRequest) -> object:
        raise RuntimeError("always")

    ctx = await start_ctx(providers=[callable_provider("echo", always)], max_restarts=1)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    for n in range(3):
        commit_request(inbox, f"r{n}", b"{}")  # the client's fsyncs, before the watch
    on_loop = watch_loop_io(monkeypatch)
    await ctx.until(
        lambda: all((outbox / f"r{n}.error").exists() for n in range(3)), "three error files"
    )
    await ctx.settled()
    monkeypatch.undo()
    assert on_loop == []
    events = [e.event for e in ctx.audit() if e.event.startswith("provider.")]
    assert events == [
        "provider.crashed",
        "provider.restarted",
        "provider.crashed",
        "provider.gave_up",
    ]
