"""Providers serve concurrently: `concurrency` worker slots per provider (async callables,
blocking callables on a bounded pool of threads, subprocess tools), limits per route, and
the slots visible in the supervision tree. Overlap is shown with events and barriers, never
with time."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctx_substrate import ProviderRequest, Routes, callable_provider, subprocess_tool
from ctx_substrate.providers import ProviderSpec, slot_id
from lightflow_actors.cortex import commit_request
from lightflow_actors.supervision import system_tree

pytestmark = pytest.mark.anyio


class Gate:
    """An async provider that holds every request until released, counting how many it
    holds at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.release = asyncio.Event()

    async def serve(self, request: ProviderRequest) -> object:
        self.inside += 1
        self.most = max(self.most, self.inside)
        try:
            await self.release.wait()
        finally:
            self.inside -= 1
        return {"id": request.id}


async def commit_and_wait(ctx: Any, ids: list[str], kind: str = "api") -> None:
    inbox = ctx.layout.api_inbox("openai.chat")
    outbox = ctx.layout.api_outbox("openai.chat")
    for rid in ids:
        commit_request(inbox, rid, b"{}")
    await ctx.until(
        lambda: all((outbox / f"{rid}.resp.json").exists() for rid in ids), "every answer"
    )


async def test_async_provider_serves_n_requests_at_once(start_ctx: Callable[..., Any]) -> None:
    gate = Gate()
    ctx = await start_ctx(providers=[callable_provider("echo", gate.serve, concurrency=5)])
    inbox = ctx.layout.api_inbox("openai.chat")
    for n in range(8):
        commit_request(inbox, f"r{n}", b"{}")
    # Five are held inside the provider at the same moment: they overlap.
    await ctx.until(lambda: gate.inside == 5, "five requests inside the provider at once")
    gate.release.set()
    outbox = ctx.layout.api_outbox("openai.chat")
    await ctx.until(
        lambda: all((outbox / f"r{n}.resp.json").exists() for n in range(8)), "eight answers"
    )
    assert gate.most == 5  # and never more than its concurrency


async def test_async_callables_are_concurrent_by_default(start_ctx: Callable[..., Any]) -> None:
    gate = Gate()
    spec = callable_provider("echo", gate.serve)
    assert spec.concurrency > 1
    ctx = await start_ctx(providers=[spec])
    inbox = ctx.layout.api_inbox("openai.chat")
    for n in range(4):
        commit_request(inbox, f"r{n}", b"{}")
    await ctx.until(lambda: gate.inside == 4, "four requests inside at once")
    gate.release.set()


async def test_blocking_provider_runs_on_a_bounded_pool_of_threads(
    start_ctx: Callable[..., Any],
) -> None:
    # Three calls meet at a barrier: only possible if three threads run them at once.
    barrier = threading.Barrier(3, timeout=30)
    threads: set[int] = set()

    def meet(request: ProviderRequest) -> object:
        threads.add(threading.get_ident())
        barrier.wait()
        return {"id": request.id}

    spec = callable_provider("echo", meet, blocking=True, concurrency=3)
    ctx = await start_ctx(providers=[spec])
    await commit_and_wait(ctx, ["a", "b", "c"])
    assert len(threads) == 3 and not barrier.broken


async def test_a_route_limit_holds_its_requests_below_the_provider(
    start_ctx: Callable[..., Any],
) -> None:
    gate = Gate()
    routes = Routes(api={"*": "echo"}, limits={"api/*": 2})
    ctx = await start_ctx(
        providers=[callable_provider("echo", gate.serve, concurrency=6)], routes=routes
    )
    inbox = ctx.layout.api_inbox("openai.chat")
    for n in range(5):
        commit_request(inbox, f"r{n}", b"{}")
    await ctx.until(lambda: gate.inside == 2, "two requests of the limited route inside")
    stats = await _settled(ctx)
    assert gate.inside == 2 and stats >= 5
    gate.release.set()
    outbox = ctx.layout.api_outbox("openai.chat")
    await ctx.until(
        lambda: all((outbox / f"r{n}.resp.json").exists() for n in range(5)), "five answers"
    )
    assert gate.most == 2


async def _settled(ctx: Any) -> int:
    """How many requests the substrate has in flight, once all five are claimed."""
    from ctx_substrate import Stats

    inbox = ctx.layout.api_inbox("openai.chat")
    await ctx.until(
        lambda: len(list(inbox.glob("*.claimed"))) == 5, "all five claimed (three queued)"
    )
    return int((await ctx.substrate.ask(Stats())).in_flight)


async def test_subprocess_tool_runs_a_bounded_number_of_processes(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    # Each process announces itself, then waits for a release file: two run at once.
    marks = tmp_path / "marks"
    marks.mkdir()
    release = tmp_path / "release"
    script = (
        "import json, os, sys, time, pathlib; d = json.load(sys.stdin); "
        f"pathlib.Path({str(marks)!r}, d['n']).touch(); "
        f"[time.sleep(0.01) for _ in iter(lambda: os.path.exists({str(release)!r}), True)]; "
        "print(json.dumps(d))"
    )
    tool = subprocess_tool("slow", [sys.executable, "-c", script], concurrency=2)
    ctx = await start_ctx(providers=[tool], routes=Routes(tool={"slow": "slow"}), tools=("slow",))
    inbox, outbox = ctx.layout.tool_inbox("slow"), ctx.layout.tool_outbox("slow")
    for n in range(4):
        commit_request(inbox, f"t{n}", msgspec.json.encode({"n": f"t{n}"}))
    await ctx.until(lambda: len(list(marks.iterdir())) == 2, "two processes running at once")
    claimed = len(list(inbox.glob("*.claimed")))
    assert len(list(marks.iterdir())) == 2 and claimed == 4  # two more wait their turn
    release.touch()
    await ctx.until(
        lambda: all((outbox / f"t{n}.resp.json").exists() for n in range(4)), "four answers"
    )


async def test_slots_are_visible_in_the_supervision_tree(start_ctx: Callable[..., Any]) -> None:
    routes = Routes(api={"*": "echo"}, limits={"api/*": 2})
    ctx = await start_ctx(
        providers=[callable_provider("echo", Gate().serve, concurrency=3)], routes=routes
    )

    def slots() -> list[str]:
        ids: list[str] = []

        def walk(nodes: list[Any]) -> None:
            for node in nodes:
                if node.child_id is not None and node.child_id.startswith("echo "):
                    ids.append(node.child_id)
                walk(node.children)

        walk(system_tree(ctx.system).roots)  # what GET /system/tree pages through
        return ids

    expected = [slot_id("echo", i, 3, {"api/*": 2}) for i in range(3)]
    assert expected == ["echo 1/3 (api/*<=2)", "echo 2/3 (api/*<=2)", "echo 3/3 (api/*<=2)"]
    await ctx.until(lambda: slots() == expected, "the provider's three slots in the tree")


@pytest.mark.parametrize("concurrency", [0, -1, 257])
async def test_concurrency_out_of_range_is_refused(concurrency: int) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        ProviderSpec("x", lambda: None, concurrency=concurrency)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("limits", "ok"),
    [({"api/*": 1}, True), ({"api/openai.chat": 1}, False), ({"nope": 1}, False)],
)
async def test_route_limits_must_name_a_route(limits: dict[str, int], ok: bool) -> None:
    document = msgspec.json.encode({"api": {"*": "echo"}, "limits": limits})
    if ok:
        assert msgspec.json.decode(document, type=Routes).limits == limits
    else:
        with pytest.raises(msgspec.ValidationError, match="names no route"):
            msgspec.json.decode(document, type=Routes)


async def test_a_zero_route_limit_is_refused() -> None:
    document = b'{"api": {"*": "echo"}, "limits": {"api/*": 0}}'
    with pytest.raises(msgspec.ValidationError, match="limits"):
        msgspec.json.decode(document, type=Routes)
