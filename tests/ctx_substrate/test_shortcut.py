"""The in-process shortcut at the substrate (ADR 0100): a `Handoff` claims a committed
request at once, the committer is told `AnswerWritten`, a request seen both by the hand-off
and by the watch is served once, and a relaxed commit is never at-most-once."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from ctx_substrate import Stats, SubstrateMessage, SubstrateStats, read_audit
from lightflow_actors import Actor, ActorRef, handler
from lightflow_actors.adapters.cortex import CortexClient, Shortcut
from lightflow_actors.cortex import (
    AnswerWritten,
    Call,
    Commit,
    CtxLayout,
    Handoff,
    RequestCommitted,
    ResponseObserved,
    Suffix,
    commit_request,
)

from .conftest import Ctx

pytestmark = pytest.mark.anyio


class Notes(Actor[AnswerWritten]):
    """Keeps every `AnswerWritten` it is told."""

    def __init__(self, seen: list[AnswerWritten]) -> None:
        self.seen = seen

    @handler
    def answer_written(self, msg: AnswerWritten) -> None:
        self.seen.append(msg)


def _inbox(ctx: Ctx) -> Path:
    return ctx.layout.inbox("api", "openai.chat")


def _outbox(ctx: Ctx) -> Path:
    return ctx.layout.outbox("api", "openai.chat")


def _notes(ctx: Ctx) -> tuple[ActorRef[AnswerWritten], list[AnswerWritten]]:
    seen: list[AnswerWritten] = []
    return ctx.system.spawn(lambda: Notes(seen)), seen


async def _settled(ctx: Ctx) -> SubstrateStats:
    """The substrate's counters once every file job is handled (an answer is counted when
    its I/O lane's write is handled, which may be after a client saw the file)."""
    for _ in range(4000):  # bounds a hang only
        stats = await ctx.substrate.ask(Stats())
        if stats.io_unsettled == 0 and stats.in_flight == 0:
            break
        await asyncio.sleep(0.005)
    return stats


def _handoff(ctx: Ctx, path: Path, notify: ActorRef[AnswerWritten], relaxed: bool) -> None:
    substrate: ActorRef[SubstrateMessage] = ctx.substrate
    substrate.tell(Handoff(str(path), notify, relaxed))


async def test_a_handoff_is_served_and_its_committer_told(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    notify, seen = _notes(ctx)
    path = commit_request(_inbox(ctx), "r1", b'{"q": 1}', sync_folder=False)
    _handoff(ctx, path, notify, relaxed=True)
    await ctx.until(lambda: bool(seen), "the answer notice")
    assert seen == [AnswerWritten(str(_outbox(ctx)), "r1")]
    for suffix in (Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE):
        assert CtxLayout.file(_outbox(ctx), "r1", suffix).exists(), suffix
    await ctx.until(lambda: (_inbox(ctx) / f"r1{Suffix.DONE}").exists(), "the claim closed")
    stats = await _settled(ctx)
    assert (stats.served, stats.handed_off, stats.relaxed) == (1, 1, 1)
    written = [e for e in ctx.audit() if e.event == "response.written"]
    assert [e.id for e in written] == ["r1"]


async def test_a_request_the_watch_served_first_is_served_once(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    notify, seen = _notes(ctx)
    path = commit_request(_inbox(ctx), "r2", b'{"q": 2}')
    response = CtxLayout.file(_outbox(ctx), "r2", Suffix.RESPONSE)
    await ctx.until(response.exists, "the watch serving it")
    # The hand-off arrives late (the watch won the claim): nothing is served again, and
    # the committer is still told the answer is there.
    _handoff(ctx, path, notify, relaxed=True)
    await ctx.until(lambda: bool(seen), "the answer notice")
    stats = await _settled(ctx)
    assert (stats.served, stats.handed_off, stats.relaxed) == (1, 0, 0)
    assert [e.id for e in ctx.audit() if e.event == "response.written"] == ["r2"]


async def test_a_handoff_outside_any_inbox_is_ignored(start_ctx, tmp_path: Path) -> None:
    ctx: Ctx = await start_ctx()
    notify, seen = _notes(ctx)
    stray = tmp_path / "elsewhere" / "x.req.json"
    stray.parent.mkdir()
    stray.write_bytes(b"{}")
    _handoff(ctx, stray, notify, relaxed=True)
    _handoff(ctx, _inbox(ctx) / "missing.req.json", notify, relaxed=False)
    stats = await ctx.substrate.ask(Stats())  # after both hand-offs: the mailbox is FIFO
    assert (stats.served, stats.handed_off) == (0, 0)
    assert stray.read_bytes() == b"{}" and seen == []


async def test_a_client_with_the_shortcut_hands_requests_off(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    ctx.system.register("test.substrate", ctx.substrate)
    targets: list[tuple[str, str]] = []

    def in_process(kind: str, name: str) -> bool:
        targets.append((kind, name))
        return name == "openai.chat"

    shortcut = Shortcut("test.substrate", in_process)
    client = ctx.system.spawn(lambda: CortexClient(ctx.layout, shortcut=shortcut))
    outcomes = [
        await client.ask(Call("api", "openai.chat", f"c{n}", {"n": n}), timeout=20)
        for n in range(3)
    ]
    other = await client.ask(Call("api", "anthropic.messages", "m1", {"n": 9}), timeout=20)
    assert all(isinstance(o, ResponseObserved) for o in [*outcomes, other])
    await ctx.settled()  # the watched one: seen before its claim was closed (ADR 0119)
    stats = await _settled(ctx)
    # The three routed in-process were handed off; the other waited for the watch.
    assert (stats.served, stats.handed_off, stats.relaxed) == (4, 3, 3)
    assert ("api", "anthropic.messages") in targets
    audit = read_audit(ctx.backing / "audit" / "events.jsonl")
    assert sorted(e.id for e in audit if e.event == "response.written") == [
        "c0",
        "c1",
        "c2",
        "m1",
    ]


async def test_an_at_most_once_request_is_never_relaxed(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    ctx.system.register("test.substrate", ctx.substrate)
    client = ctx.system.spawn(
        lambda: CortexClient(ctx.layout, shortcut=Shortcut("test.substrate", lambda k, n: True))
    )
    commit = Commit("api", "openai.chat", "once1", {"q": 1}, at_most_once=True)
    committed = await client.ask(commit)
    assert isinstance(committed, RequestCommitted)
    response = CtxLayout.file(_outbox(ctx), "once1", Suffix.RESPONSE)
    await ctx.until(response.exists, "the answer")
    stats = await _settled(ctx)
    assert (stats.served, stats.handed_off, stats.relaxed) == (1, 1, 0)


def test_a_relaxed_commit_cannot_be_at_most_once(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at-most-once"):
        commit_request(tmp_path, "r", b"{}", at_most_once=True, sync_folder=False)
    assert os.listdir(tmp_path) == []


async def test_a_commit_writes_and_fsyncs_off_the_loop_and_one_id_commits_once(
    start_ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0110: the client's request fsync runs on a worker thread, not the loop's; two
    commits of one id sent together: one commits, the other is a conflict."""
    import asyncio
    import threading

    ctx: Ctx = await start_ctx()
    ctx.system.register("test.substrate", ctx.substrate)
    shortcut = Shortcut("test.substrate", lambda kind, name: name == "openai.chat")
    client = ctx.system.spawn(lambda: CortexClient(ctx.layout, shortcut=shortcut))
    loop_thread = threading.get_ident()
    fsync_threads: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(Suffix.TMP):
            fsync_threads.append(threading.get_ident())
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    both = [client.ask(Commit("api", "openai.chat", "same", {"n": n})) for n in range(2)]
    results = await asyncio.gather(*both)
    assert sorted(type(r).__name__ for r in results) == ["CommitFailed", "RequestCommitted"]
    failed = next(r for r in results if not isinstance(r, RequestCommitted))
    assert failed.cause == "conflict"
    assert fsync_threads and loop_thread not in fsync_threads
    outcome = await client.ask(Call("api", "openai.chat", "next", {"n": 2}), timeout=20)
    assert isinstance(outcome, ResponseObserved)
    stats = await _settled(ctx)
    assert stats.handed_off == 2 and stats.relaxed == 2  # the hand-off still wins the watch
