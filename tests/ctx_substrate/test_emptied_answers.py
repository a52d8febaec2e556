"""Relaxed answers are not fsynced (ADR 0117), so a power loss may leave one empty. An
answer is JSON and never empty: a zero-length response or error counts as no answer. A
claim whose answer was emptied is served again when the substrate restarts; a request
closed before the power loss is served again for the in-process committer that observes
it (a resumed run). A power loss is simulated by emptying the files it could empty."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import msgspec
import pytest

from ctx_substrate import Stats, SubstrateStats
from ctx_substrate._answers import answered
from ctx_substrate._intake import locate
from lightflow_actors import Actor, handler
from lightflow_actors.adapters.cortex import CortexClient, Shortcut
from lightflow_actors.cortex import (
    Call,
    CortexOutcome,
    CtxLayout,
    ErrorObserved,
    Observe,
    ResponseObserved,
    Suffix,
)

from .conftest import Ctx

pytestmark = pytest.mark.anyio


class Outcomes(Actor[ResponseObserved | ErrorObserved]):
    def __init__(self, seen: list[CortexOutcome]) -> None:
        self.seen = seen

    @handler
    def outcome(self, msg: ResponseObserved | ErrorObserved) -> None:
        self.seen.append(msg)


def _client(ctx: Ctx) -> CortexClient:
    ctx.system.register("test.substrate", ctx.substrate)
    return CortexClient(ctx.layout, shortcut=Shortcut("test.substrate", lambda k, n: True))


def _file(ctx: Ctx, request_id: str, suffix: str, *, inbox: bool = False) -> Path:
    folder = ctx.layout.inbox if inbox else ctx.layout.outbox
    return CtxLayout.file(folder("api", "openai.chat"), request_id, suffix)


async def test_a_relaxed_answer_is_not_fsynced(start_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx: Ctx = await start_ctx()
    client = ctx.system.spawn(lambda: _client(ctx))
    synced: list[str] = []
    lock = threading.Lock()
    real = os.fsync

    def fsync(fd: int) -> None:
        with lock:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    outcome = await client.ask(Call("api", "openai.chat", "r1", {"q": 1}), timeout=20)
    assert isinstance(outcome, ResponseObserved)
    monkeypatch.undo()
    outbox = str(ctx.layout.outbox("api", "openai.chat"))
    assert not [name for name in synced if name.startswith(outbox)], synced
    assert any(name.endswith(Suffix.TMP) for name in synced)  # the request still is


@pytest.mark.parametrize("suffix", [Suffix.RESPONSE, Suffix.ERROR])
async def test_an_emptied_answer_is_no_answer(start_ctx, suffix: str) -> None:
    ctx: Ctx = await start_ctx()
    inbox = ctx.layout.inbox("api", "openai.chat")
    loc = locate(ctx.backing, inbox / f"x{Suffix.REQUEST}")
    assert loc is not None
    answer = _file(ctx, "x", suffix)
    answer.write_bytes(b"")
    assert not answered(loc)
    answer.write_bytes(b"{}")
    assert answered(loc)


async def test_a_claim_whose_answer_was_emptied_is_served_again_at_restart(
    start_ctx, tmp_path: Path
) -> None:
    first: Ctx = await start_ctx(root=tmp_path / "tree")
    client = first.system.spawn(lambda: _client(first))
    outcome = await client.ask(Call("api", "openai.chat", "r2", {"q": 2}), timeout=20)
    assert isinstance(outcome, ResponseObserved)
    await first.system.shutdown()
    # The power loss took back the close and the answer's data, kept the answer's name.
    os.rename(
        _file(first, "r2", Suffix.DONE, inbox=True), _file(first, "r2", Suffix.CLAIMED, inbox=True)
    )
    _file(first, "r2", Suffix.RESPONSE).write_bytes(b"")
    again: Ctx = await start_ctx(root=tmp_path / "tree")
    response = _file(again, "r2", Suffix.RESPONSE)
    await again.until(lambda: response.stat().st_size > 0, "the answer written again")
    assert msgspec.json.decode(response.read_bytes()) == outcome_body(outcome)
    await again.until(_file(again, "r2", Suffix.DONE, inbox=True).exists, "the claim closed")
    await _served(again, 1)


async def test_a_closed_request_whose_answer_was_emptied_is_served_again_for_its_observer(
    start_ctx, tmp_path: Path
) -> None:
    first: Ctx = await start_ctx(root=tmp_path / "tree")
    client = first.system.spawn(lambda: _client(first))
    outcome = await client.ask(Call("api", "openai.chat", "r3", {"q": 3}), timeout=20)
    assert isinstance(outcome, ResponseObserved)
    await first.system.shutdown()
    _file(first, "r3", Suffix.RESPONSE).write_bytes(b"")  # closed, its answer emptied
    _file(first, "r3", Suffix.ROUTE).write_bytes(b"")
    again: Ctx = await start_ctx(root=tmp_path / "tree")
    seen: list[CortexOutcome] = []
    notify = again.system.spawn(lambda: Outcomes(seen))
    observer = again.system.spawn(lambda: _client(again))
    # What a resumed run does: its commit of the id is a conflict, then it observes.
    observer.tell(Observe("api", "openai.chat", "r3", notify, 20.0))
    await again.until(lambda: bool(seen), "the answer observed")
    [observed] = seen
    assert isinstance(observed, ResponseObserved) and observed.body
    assert msgspec.json.decode(observed.body) == outcome_body(outcome)
    assert observed.route is not None  # written again with the answer
    assert _file(again, "r3", Suffix.DONE, inbox=True).exists()
    stats = await _served(again, 1)
    assert stats.handed_off == 1


async def test_an_observer_of_a_target_served_elsewhere_waits_instead(
    start_ctx, tmp_path: Path
) -> None:
    ctx: Ctx = await start_ctx(root=tmp_path / "tree")
    outcome = await ctx.client.ask(Call("api", "openai.chat", "r4", {"q": 4}), timeout=20)
    assert isinstance(outcome, ResponseObserved)
    await ctx.until(_file(ctx, "r4", Suffix.DONE, inbox=True).exists, "the claim closed")
    _file(ctx, "r4", Suffix.RESPONSE).write_bytes(b"")
    seen: list[CortexOutcome] = []
    notify = ctx.system.spawn(lambda: Outcomes(seen))
    # No shortcut: this client commits nothing again, it only waits for an answer.
    ctx.client.tell(Observe("api", "openai.chat", "r4", notify, 20.0))
    later = await ctx.client.ask(Call("api", "openai.chat", "r5", {"q": 5}), timeout=20)
    assert isinstance(later, ResponseObserved)  # the Observe was handled before it
    assert seen == []
    assert _file(ctx, "r4", Suffix.DONE, inbox=True).exists()  # not committed again
    assert _file(ctx, "r4", Suffix.RESPONSE).read_bytes() == b""


async def _served(ctx: Ctx, count: int) -> SubstrateStats:
    """The substrate's counters once it has counted `count` answers (it counts an answer
    when its write is done, which may be after a client saw the file)."""
    for _ in range(4000):  # bounds a hang only
        stats = await ctx.substrate.ask(Stats())
        if stats.served >= count:
            break
        await asyncio.sleep(0.005)
    assert stats.served == count
    return stats


def outcome_body(outcome: ResponseObserved) -> object:
    return msgspec.json.decode(outcome.body)
