"""Refusals: hostile names, symlinks, oversized and malformed requests, policy, duplicates."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_substrate import Policy, PolicyRule, Routes, Stats
from lightflow_actors.cortex import ErrorRecord, decode_error

pytestmark = pytest.mark.anyio


def commit_raw(inbox: Path, name: str, data: bytes) -> None:
    """Commit under an arbitrary file name (bypassing the client's id checks)."""
    tmp = inbox / ".hostile.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, inbox / name)


async def refused(ctx: Any, outbox: Path, rid: str) -> ErrorRecord:
    error = outbox / (rid + ".error")
    await ctx.until(error.exists, f"an error file for {rid!r}")
    return decode_error(error.read_bytes())


async def test_oversized_request(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx(max_request_bytes=64)
    commit_raw(ctx.layout.api_inbox("openai.chat"), "big.req.json", b'{"x":"' + b"a" * 100 + b'"}')
    record = await refused(ctx, ctx.layout.api_outbox("openai.chat"), "big")
    assert record.kind == "too_large"
    assert [e.error for e in ctx.audit() if e.event == "request.refused"] == ["too_large"]


@pytest.mark.parametrize(
    ("data", "kind"), [(b"[1,2]", "malformed"), (b"{", "malformed"), (b"\xff\xfe", "malformed")]
)
async def test_malformed_body(start_ctx: Callable[..., Any], data: bytes, kind: str) -> None:
    ctx = await start_ctx()
    commit_raw(ctx.layout.api_inbox("openai.chat"), "m.req.json", data)
    assert (await refused(ctx, ctx.layout.api_outbox("openai.chat"), "m")).kind == kind


async def test_unknown_format(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    inbox = ctx.backing / "home" / "1000" / "api" / "made.up" / "inbox"
    inbox.mkdir(parents=True)
    commit_raw(inbox, "u.req.json", b"{}")
    record = await refused(ctx, inbox.parent / "outbox", "u")
    assert record.kind == "unknown_format" and "openai.chat" in record.message
    events = [e for e in ctx.audit() if e.event == "request.refused"]
    assert [(e.target, e.error) for e in events] == [("made.up", "unknown_format")]


async def test_policy_denies_and_no_route(start_ctx: Callable[..., Any]) -> None:
    policy = Policy(rules=(PolicyRule("echo", api=("openai.chat",)),))
    ctx = await start_ctx(
        routes=Routes(api={"openai.chat": "echo", "openai.responses": "echo"}), policy=policy
    )
    commit_raw(ctx.layout.api_inbox("openai.responses"), "d.req.json", b"{}")
    assert (await refused(ctx, ctx.layout.api_outbox("openai.responses"), "d")).kind == "denied"
    commit_raw(ctx.layout.api_inbox("anthropic.messages"), "n.req.json", b"{}")
    assert (await refused(ctx, ctx.layout.api_outbox("anthropic.messages"), "n")).kind == "no_route"
    decisions = [e for e in ctx.audit() if e.event == "policy.decision"]
    assert [(e.target, e.allowed) for e in decisions] == [("openai.responses", False)]


async def test_symlinked_request_is_not_followed(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    ctx = await start_ctx()
    secret = tmp_path / "secret.json"
    secret.write_bytes(b'{"secret": "do not read"}')
    inbox = ctx.layout.api_inbox("openai.chat")
    (inbox / "s.req.json").symlink_to(secret)
    record = await refused(ctx, ctx.layout.api_outbox("openai.chat"), "s")
    assert record.kind == "path_escape"
    assert secret.read_bytes() == b'{"secret": "do not read"}'
    assert not (ctx.layout.api_outbox("openai.chat") / "s.resp.json").exists()


async def test_symlinked_inbox_is_left_alone(start_ctx: Callable[..., Any], tmp_path: Path) -> None:
    ctx = await start_ctx(watch="poll", poll_interval_s=0.02)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.req.json").write_bytes(b"{}")
    thread = ctx.backing / "home" / "1000" / "thread" / "evil"
    thread.mkdir()
    (thread / "inbox").symlink_to(outside)
    await asyncio.sleep(0.2)  # several polls
    assert sorted(os.listdir(outside)) == ["o.req.json"], "nothing renamed or written outside"


async def test_claims_in_a_symlinked_inbox_are_left_alone(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    ctx = await start_ctx(watch="poll", poll_interval_s=0.02)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.claimed").write_bytes(b'{"secret": 1}')  # as if left by a crash
    fmt = ctx.backing / "home" / "1000" / "api" / "openai.responses"
    (fmt / "inbox").rmdir()
    (fmt / "inbox").symlink_to(outside)
    await asyncio.sleep(0.3)  # many rescans
    assert sorted(os.listdir(outside)) == ["o.claimed"], "nothing renamed outside"
    assert not any((fmt / "outbox").iterdir()), "nothing answered for it"
    refusals = [e for e in ctx.audit() if e.id == "o" and e.event == "request.refused"]
    assert len(refusals) == 1 and refusals[0].error == "path_escape"


async def test_duplicate_id_is_not_answered_twice(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_raw(inbox, "d.req.json", b'{"n":1}')
    await ctx.until((outbox / "d.resp.json").exists, "the first answer")
    first = (outbox / "d.resp.json").read_bytes()
    os.unlink(inbox / "d.done")
    commit_raw(inbox, "d.req.json", b'{"n":2}')
    await ctx.until((inbox / "d.duplicate").exists, "the duplicate to be set aside")
    assert (outbox / "d.resp.json").read_bytes() == first
    assert [e.event for e in ctx.audit() if e.id == "d"].count("response.written") == 1


NAME_CHARS = st.sampled_from(
    ["a", "Z", "0", ".", "-", " ", "\n", "\t", "\x7f", "é", "\\", "*", "$"]
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=st.lists(st.text(NAME_CHARS, max_size=12), min_size=1, max_size=6, unique=True))
def test_hostile_file_names_are_answered_once_inside_the_tree(
    tmp_path_factory: pytest.TempPathFactory, names: list[str]
) -> None:
    """Any file name committed into an inbox gets exactly one answer or refusal, in its outbox."""
    from ctx_substrate import Substrate, SubstrateConfig, callable_provider, read_audit
    from lightflow_actors import ActorSystem
    from lightflow_actors.cortex import CtxLayout, is_segment_id

    root = tmp_path_factory.mktemp("h") / "ctx"

    async def scenario() -> None:
        cfg = SubstrateConfig(
            root=str(root),
            uids=("u",),
            routes=Routes(api={"*": "e"}),
            policy=Policy.allow_all(),
            watch="poll",
            poll_interval_s=0.01,
        )
        async with ActorSystem() as system:
            sub = await system.start_actor(
                lambda: Substrate(cfg, [callable_provider("e", lambda r: {"id": r.id})])
            )
            layout = CtxLayout(str(root), "u")
            inbox = layout.api_inbox("openai.chat")
            for name in names:
                commit_raw(inbox, name + ".req.json", b"{}")
            loop = asyncio.get_running_loop()
            end = loop.time() + 20
            while True:
                stats = await sub.ask(Stats())
                if stats.served + stats.refused >= len(names) or loop.time() > end:
                    break
                await asyncio.sleep(0.01)
            assert stats.served + stats.refused == len(names)
            assert stats.served == sum(1 for n in names if is_segment_id(n))

    asyncio.run(scenario())
    outbox = root / "home" / "u" / "api" / "openai.chat" / "outbox"
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve())
    for name in names:
        answers = [outbox / (name + s) for s in (".resp.json", ".error")]
        assert sum(p.exists() for p in answers) == 1, name
    events = read_audit(root / "audit" / "events.jsonl")
    per_id = [e.id or "" for e in events if e.event in ("response.written", "request.refused")]
    assert sorted(per_id) == sorted(names)
    for event in events:
        msgspec.json.encode(event)
