"""The substrate's file I/O runs off the loop, on its lanes (ADR 0119): the loop thread
never fsyncs nor renames a claim or an answer, commit order is kept into the providers'
queues, and the substrate serves on the deterministic loop too (`run_blocking` inline)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctx_substrate import (
    Policy,
    ProviderRequest,
    Routes,
    Stats,
    Substrate,
    SubstrateConfig,
    callable_provider,
    read_audit,
)
from ctx_substrate._lanes import MAX_BATCH, IoLanes, JobCrashed
from ctx_substrate._watcher import Committed
from lightflow_actors.adapters.cortex import CortexClient, Shortcut
from lightflow_actors.cortex import Call, CtxLayout, ResponseObserved, decode_error, temp_name

from ..conftest import Runtime
from .conftest import Ctx

UID = "1000"


# -- the lanes alone ------------------------------------------------------------------------


async def _inline(fn: Callable[..., tuple[object, ...]], *args: object) -> tuple[object, ...]:
    return fn(*args)


@pytest.mark.anyio
async def test_lanes_keep_intake_order_and_each_keys_order() -> None:
    delivered: list[tuple[tuple[object, ...], int]] = []
    lanes = IoLanes(_inline, lambda o, n: delivered.append((o, n)), asyncio.get_running_loop())
    for n in range(5):
        lanes.submit(lambda n=n: ("intake", n))  # type: ignore[misc]
    for key in ("a", "b"):
        for n in range(4):
            lanes.submit(lambda key=key, n=n: (key, n), key)  # type: ignore[misc]
    lanes.submit(lambda: None, "a")  # no outcome: counted, not delivered
    assert lanes.unsettled == 14
    while not lanes.idle:  # noqa: ASYNC110 (the lanes have no event to wait on)
        await asyncio.sleep(0)
    outcomes = [o for batch, _ in delivered for o in batch]
    assert len(outcomes) == 13
    for lane in ("intake", "a", "b"):
        assert [n for name, n in outcomes if name == lane] == sorted(  # type: ignore[misc]
            n
            for name, n in outcomes
            if name == lane  # type: ignore[misc]
        )
    # A burst is one thread hand-off per lane, not one per job.
    assert lanes.batches <= 3 and lanes.jobs == 14
    lanes.settled(sum(n for _, n in delivered))
    assert lanes.unsettled == 0


@pytest.mark.anyio
async def test_a_job_that_raises_ends_its_batch_with_the_error() -> None:
    delivered: list[tuple[object, ...]] = []
    lanes = IoLanes(_inline, lambda o, n: delivered.append(o), asyncio.get_running_loop())

    def boom() -> object:
        raise ZeroDivisionError("a bug")

    lanes.submit(lambda: "before")
    lanes.submit(boom)
    lanes.submit(lambda: "after")  # the actor crashes on the error: not run
    while not lanes.idle:  # noqa: ASYNC110 (the lanes have no event to wait on)
        await asyncio.sleep(0)
    [batch] = delivered
    assert batch[0] == "before" and isinstance(batch[1], JobCrashed) and len(batch) == 2
    assert isinstance(batch[1].error, ZeroDivisionError)


@pytest.mark.anyio
async def test_closed_lanes_run_and_deliver_nothing() -> None:
    delivered: list[object] = []
    lanes = IoLanes(_inline, lambda o, n: delivered.append(o), asyncio.get_running_loop())
    lanes.submit(lambda: "queued")
    lanes.close()
    lanes.submit(lambda: "late")
    for _ in range(5):
        await asyncio.sleep(0)
    assert delivered == [] and lanes.idle
    with pytest.raises(ValueError, match="count"):
        IoLanes(_inline, lambda o, n: None, asyncio.get_running_loop(), count=0)


# -- the substrate: no file work on the loop thread -------------------------------------------


@pytest.mark.anyio
async def test_claims_answers_and_audit_are_written_off_the_loop_thread(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every fsync, and every rename but the client's commit (ADR 0110 keeps it on the
    loop, in the turn of its hand-off), happens on a worker thread, for handed-off and
    watched requests, answers and refusals alike."""
    loop_thread = threading.get_ident()
    on_loop: list[str] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd: int) -> None:
        if threading.get_ident() == loop_thread:
            on_loop.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}")
        real_fsync(fd)

    def renamer(real: Callable[..., None], name: str) -> Callable[..., None]:
        def rename(src: Any, dst: Any, **dir_fds: Any) -> None:
            if threading.get_ident() == loop_thread and not str(dst).endswith(".req.json"):
                on_loop.append(f"{name} {src} -> {dst}")
            real(src, dst, **dir_fds)

        return rename

    ctx: Ctx = await start_ctx()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", renamer(real_rename, "rename"))
    monkeypatch.setattr(os, "replace", renamer(real_replace, "replace"))
    ctx.system.register("test.substrate", ctx.substrate)
    shortcut = Shortcut("test.substrate", lambda kind, name: name == "openai.chat")
    client = ctx.system.spawn(lambda: CortexClient(ctx.layout, shortcut=shortcut))
    handed = [
        await client.ask(Call("api", "openai.chat", f"h{n}", {"n": n}), timeout=20)
        for n in range(3)
    ]
    watched = await client.ask(Call("api", "anthropic.messages", "w1", {}), timeout=20)
    refused = await client.ask(Call("api", "openai.chat", "bad", b"[1, 2"), timeout=20)
    assert all(isinstance(o, ResponseObserved) for o in [*handed, watched]), [*handed, watched]
    assert not isinstance(refused, ResponseObserved)
    await ctx.settled()
    monkeypatch.undo()
    assert on_loop == []
    stats = await ctx.substrate.ask(Stats())
    assert (stats.served, stats.handed_off, stats.refused) == (4, 4, 1)
    inbox = ctx.layout.api_inbox("openai.chat")
    assert sorted(p.name for p in inbox.iterdir() if not p.name.startswith("bad")) == [
        "h0.done",
        "h1.done",
        "h2.done",
    ]
    outbox = ctx.layout.api_outbox("openai.chat")
    assert decode_error((outbox / "bad.error").read_bytes()).kind == "malformed"


@pytest.mark.anyio
async def test_a_handed_off_request_costs_three_file_jobs(start_ctx: Callable[..., Any]) -> None:
    """Intake (claim, read, claimed line), the policy line, the answer: its watch event,
    which comes after the hand-off, queues no claim that could only lose the rename (once:
    a second event of that name is a new commit, claimed as usual)."""
    ctx: Ctx = await start_ctx(watch="poll", poll_interval_s=3600.0, rescan_interval_s=3600.0)
    ctx.system.register("test.substrate", ctx.substrate)
    client = ctx.system.spawn(
        lambda: CortexClient(ctx.layout, shortcut=Shortcut("test.substrate", lambda k, n: True))
    )
    await ctx.settled()
    before = await ctx.substrate.ask(Stats())
    for n in range(5):
        outcome = await client.ask(Call("api", "openai.chat", f"j{n}", {"n": n}), timeout=20)
        assert isinstance(outcome, ResponseObserved)
    await ctx.settled()
    inbox = ctx.layout.api_inbox("openai.chat")
    for n in range(5):  # what the watch would report, after the answers
        ctx.substrate.tell(Committed(str(inbox / f"j{n}.req.json")))
    await ctx.settled()
    after = await ctx.substrate.ask(Stats())
    assert after.handed_off - before.handed_off == 5
    assert after.io_jobs - before.io_jobs == 3 * 5
    assert after.io_batches - before.io_batches <= 3 * 5
    ctx.substrate.tell(Committed(str(inbox / "j0.req.json")))  # a second one: looked at
    await ctx.settled()
    assert (await ctx.substrate.ask(Stats())).io_jobs == after.io_jobs + 1


@pytest.mark.anyio
async def test_a_slow_answer_write_does_not_hold_the_loop(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync that does not return until the loop has done other work: with the write
    on the loop this would wait out its bound; off the loop the loop answers meanwhile."""
    ctx: Ctx = await start_ctx()
    outbox = ctx.layout.api_outbox("openai.chat")
    gate = threading.Event()
    real_fsync = os.fsync
    held: list[bool] = []

    response_tmp = temp_name("slow.resp.json")

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(response_tmp):
            held.append(gate.wait(timeout=20))  # bounds a hang only
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    call = asyncio.ensure_future(
        ctx.client.ask(Call("api", "openai.chat", "slow", {}, timeout_s=30), timeout=40)
    )
    # The substrate answers asks while the response's fsync is held: served by the
    # provider (nothing in flight), its answer being written (a job unsettled).
    for _ in range(4000):
        stats = await ctx.substrate.ask(Stats(), timeout=5)
        if stats.io_unsettled and not stats.in_flight and (outbox / response_tmp).exists():
            break
        await asyncio.sleep(0.005)
    assert not gate.is_set() and not (outbox / "slow.resp.json").exists()
    assert held == []  # still held: the loop ran this test while the thread waited
    gate.set()
    assert isinstance(await call, ResponseObserved)
    monkeypatch.undo()
    assert held == [True]


# -- the deterministic loop -------------------------------------------------------------------


def _answer(request: ProviderRequest) -> dict[str, object]:
    return {"id": request.id, "tenant": request.tenant}


async def test_the_substrate_serves_on_both_loops(runtime: Runtime, tmp_path: Path) -> None:
    """On the deterministic loop `run_blocking` runs the lanes' batches inline: the same
    files, answers and audit lines as on the real loop (poll watch: no inotify thread)."""
    root = tmp_path / "ctx"
    config = SubstrateConfig(
        root=str(root),
        uids=(UID,),
        routes=Routes(api={"*": "echo"}),
        policy=Policy.allow_all(),
        watch="poll",
        poll_interval_s=0.05,
        rescan_interval_s=1.0,
    )
    layout = CtxLayout(str(root), UID)
    inbox, outbox = layout.api_inbox("openai.chat"), layout.api_outbox("openai.chat")
    async with runtime.system(allow_threads=True) as system:
        substrate = await system.start_actor(
            lambda: Substrate(config, [callable_provider("echo", _answer)])
        )
        deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
        for n, body in enumerate([b"{}", b'{"a": [1]}', b'{"text": "\xff"}', deep]):
            tmp = inbox / f"r{n}.tmp"
            tmp.write_bytes(body)
            os.rename(tmp, inbox / f"r{n}.req.json")
        for _ in range(2000):
            stats = await substrate.ask(Stats())
            if stats.served + stats.refused == 4 and not stats.io_unsettled:
                break
            await asyncio.sleep(0.05)
        assert (stats.served, stats.refused, stats.quarantined) == (2, 2, 2), stats
    for n in (0, 1):
        assert msgspec.json.decode((outbox / f"r{n}.resp.json").read_bytes()) == {
            "id": f"r{n}",
            "tenant": "default",
        }
    kinds = {n: decode_error((outbox / f"r{n}.error").read_bytes()).kind for n in (2, 3)}
    assert kinds == {2: "invalid_utf8", 3: "too_deep"}
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["r0.done", "r1.done"]
    events = [(e.id, e.event) for e in read_audit(root / "audit" / "events.jsonl") if e.id]
    for n in (0, 1):
        mine = [event for rid, event in events if rid == f"r{n}"]
        assert mine == ["request.claimed", "policy.decision", "response.written"]


# -- answer lanes are fair between tenants (ADR 0128) ------------------------------------------


def _one_answer_lane() -> tuple[IoLanes, list[object]]:
    """Lanes with a single answer lane (every key on it) and the outcomes in run order."""
    ran: list[object] = []
    lanes = IoLanes(_inline, lambda o, n: ran.extend(o), asyncio.get_running_loop(), count=2)
    return lanes, ran


async def _idle(lanes: IoLanes) -> None:
    while not lanes.idle:  # noqa: ASYNC110 (the lanes have no event to wait on)
        await asyncio.sleep(0)


@pytest.mark.anyio
async def test_an_answer_lane_takes_tenants_in_turn_not_the_backlog_first() -> None:
    lanes, ran = _one_answer_lane()
    for n in range(6):
        lanes.submit(lambda n=n: f"noisy{n}", f"n{n}", "noisy")  # type: ignore[misc]
    for n in range(2):
        lanes.submit(lambda n=n: f"quiet{n}", f"q{n}", "quiet")  # type: ignore[misc]
    assert lanes.waiting() == {"noisy": 6, "quiet": 2}
    await _idle(lanes)
    # First come first served would run the quiet answers seventh and eighth.
    assert ran == ["noisy0", "quiet0", "noisy1", "quiet1", "noisy2", "noisy3", "noisy4", "noisy5"]
    assert lanes.waiting() == {} and lanes.jobs == 8


@pytest.mark.anyio
async def test_a_quiet_answer_goes_into_the_next_batch_however_long_the_backlog() -> None:
    lanes, ran = _one_answer_lane()
    for n in range(3 * MAX_BATCH):
        lanes.submit(lambda n=n: f"noisy{n}", f"n{n}", "noisy")  # type: ignore[misc]
    lanes.submit(lambda: "quiet", "q", "quiet")
    await _idle(lanes)
    assert ran.index("quiet") == 1
    assert lanes.batches == 4 and len(ran) == 3 * MAX_BATCH + 1  # batches stay bounded


@pytest.mark.anyio
async def test_a_keys_jobs_keep_their_order_whatever_tenant_a_later_job_names() -> None:
    lanes, ran = _one_answer_lane()
    lanes.submit(lambda: "a1", "a", "noisy")
    for n in range(3):
        lanes.submit(lambda n=n: f"b{n}", f"b{n}", "quiet")  # type: ignore[misc]
    lanes.submit(lambda: "a2", "a")  # no tenant named: stays with its key's jobs (noisy)
    lanes.submit(lambda: "a3", "a", "quiet")  # another named: still behind a1 and a2
    await _idle(lanes)
    assert [o for o in ran if str(o).startswith("a")] == ["a1", "a2", "a3"]
    assert ran == ["a1", "b0", "a2", "b1", "a3", "b2"]
    # Once a key's jobs have run, its next job waits among the tenant it names.
    lanes.submit(lambda: "a4", "a", "quiet")
    await _idle(lanes)
    assert lanes.waiting() == {} and ran[-1] == "a4"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.sampled_from(["noisy", "quiet", None])),
        max_size=80,
    )
)
def test_every_job_runs_once_in_its_keys_order_and_its_tenants_order(
    submits: list[tuple[str, str | None]],
) -> None:
    async def scenario() -> None:
        lanes, ran = _one_answer_lane()
        owner: dict[str, str] = {}
        for n, (key, tenant) in enumerate(submits):
            owner.setdefault(key, tenant or "default")
            lanes.submit(lambda n=n, key=key: (key, n), key, tenant)  # type: ignore[misc]
        await _idle(lanes)
        assert sorted(n for _, n in ran) == list(range(len(submits)))  # type: ignore[misc]
        for key in owner:  # each key's jobs in submit order
            mine = [n for k, n in ran if k == key]  # type: ignore[misc]
            assert mine == sorted(mine)
        for tenant in set(owner.values()):  # FIFO within a tenant (keys first queued)
            theirs = [n for k, n in ran if owner[k] == tenant]  # type: ignore[misc]
            assert theirs == sorted(theirs)
        lanes.settled(lanes.jobs)
        assert lanes.unsettled == 0

    asyncio.run(scenario())
