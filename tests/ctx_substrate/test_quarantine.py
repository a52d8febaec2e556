"""Poison requests are answered and set aside, never crash-looped (specs/cortexfs-abi.md
§Dead letters): bad bytes, written in place, hard links, ids too long for their answers,
and file system errors while answering."""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ctx_substrate._substrate as substrate_module
from ctx_substrate import (
    Rescan,
    Routes,
    Stats,
    SubstrateStats,
    callable_provider,
    subprocess_tool,
)
from lightflow_actors import ActorSystem
from lightflow_actors.cortex import (
    CtxLayout,
    DeadLetter,
    ErrorKind,
    commit_request,
    decode_error,
    list_dead_letters,
)

pytestmark = pytest.mark.anyio

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000  # an object nested 5000 deep
BAD_UTF8 = b'{"text": "\xff\xfe"}'


def plant(inbox: Path, name: str, body: bytes) -> Path:
    """A file committed the ABI's way (tmp, then rename), under any name and content."""
    tmp = inbox / ".plant.tmp"
    tmp.write_bytes(body)
    os.rename(tmp, inbox / name)
    return inbox / name


def dead(folder: Path) -> list[DeadLetter]:
    records = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [msgspec.json.decode(p.read_bytes(), type=DeadLetter) for p in records]


async def answered_with(ctx: Any, outbox: Path, rid: str) -> ErrorKind:
    error = outbox / f"{rid}.error"
    await ctx.until(error.exists, f"{rid}.error")
    return decode_error(error.read_bytes()).kind


async def test_poison_on_disk_at_start_is_answered_and_set_aside(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    # The files of a previous incarnation: a poisoned claim it crashed on, and a poisoned
    # commit it never reached. Before the fix the first crashed the substrate at every start.
    root = tmp_path / "ctx"
    inbox = root / "home/1000/api/openai.chat/inbox"
    inbox.mkdir(parents=True)
    (inbox / "deep.claimed").write_bytes(DEEP)
    plant(inbox, "utf.req.json", BAD_UTF8)
    ctx = await start_ctx(root=root)
    outbox = ctx.layout.api_outbox("openai.chat")
    assert await answered_with(ctx, outbox, "deep") == "too_deep"
    assert await answered_with(ctx, outbox, "utf") == "invalid_utf8"
    await ctx.until(lambda: len(dead(inbox.parent / "dead")) == 2, "two dead letters")
    letters = {d.id: d for d in dead(inbox.parent / "dead")}
    assert letters["deep"].error == "too_deep" and letters["deep"].found_as == "claimed"
    assert letters["utf"].error == "invalid_utf8" and letters["utf"].found_as == "committed"
    for letter, body in ((letters["deep"], DEEP), (letters["utf"], BAD_UTF8)):
        assert letter.file is not None
        assert (inbox.parent / "dead" / letter.file).read_bytes() == body  # bytes kept as sent
    assert not any(inbox.glob("deep.*")) and not any(inbox.glob("utf.*"))
    # The substrate still serves.
    commit_request(inbox, "good", b'{"model": "m"}')
    await ctx.until((outbox / "good.resp.json").exists, "good.resp.json")
    stats = await ctx.substrate.ask(Stats())
    assert stats.quarantined == 2
    listed = list_dead_letters(root)
    assert {e.letter.id for e in listed.letters} == {"deep", "utf"}
    assert {e.folder for e in listed.letters} == {"home/1000/api/openai.chat/dead"}
    events = [e.event for e in ctx.audit()]
    assert events.count("request.quarantined") == 2


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (DEEP, "too_deep"),
        (b'{"a":' * 5000, "too_deep"),
        (b'{"a": ' + b"[" * 5000, "too_deep"),
        (b"[" * 5000, "malformed"),  # not an object: refused before it is nested
        (BAD_UTF8, "invalid_utf8"),
        (b'{"\xc3": 1}', "invalid_utf8"),
        (b"[1, 2]", "malformed"),
        (b'{"a": 1', "malformed"),
    ],
)
async def test_bad_bodies_in_every_kind_of_inbox(
    start_ctx: Callable[..., Any], body: bytes, kind: str
) -> None:
    ctx = await start_ctx()
    places = [
        (ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")),
        (ctx.layout.tool_inbox("echo"), ctx.layout.tool_outbox("echo")),
        (ctx.layout.thread_inbox("t1"), ctx.layout.thread_inbox("t1")),
    ]
    for inbox, _ in places:
        plant(inbox, "bad.req.json", body)
    for inbox, outbox in places:
        assert await answered_with(ctx, outbox, "bad") == kind
        await ctx.until(lambda inbox=inbox: len(dead(inbox.parent / "dead")) == 1, "dead letter")
    assert len(list_dead_letters(ctx.backing).letters) == 3


@pytest.mark.parametrize("size", [201, 245, 246])
async def test_id_too_long_for_its_answer_names_gets_an_error(
    start_ctx: Callable[..., Any], size: int
) -> None:
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    rid = "r" * size
    plant(inbox, rid + ".req.json", b"{}")  # fits: 246 + 9 = 255 bytes
    assert await answered_with(ctx, outbox, rid) == "name_too_long"
    record = decode_error((outbox / f"{rid}.error").read_bytes())
    assert record.id == rid and "200" in record.message
    await ctx.until(lambda: len(dead(inbox.parent / "dead")) == 1, "dead letter")
    assert [p.name for p in outbox.iterdir()] == [f"{rid}.error"]  # no temporary left over


async def test_a_request_written_in_place_is_refused(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    # A writer still busy with the file: before the fix the substrate read half of it.
    with (inbox / "inplace.req.json").open("wb") as handle:
        handle.write(b'{"model": ')
        handle.flush()
        assert await answered_with(ctx, outbox, "inplace") == "not_renamed"
        handle.write(b'"late"}')
    assert not (outbox / "inplace.resp.json").exists()
    letters = dead(inbox.parent / "dead")
    assert [(d.id, d.error, d.found_as) for d in letters] == [("inplace", "not_renamed", "written")]
    # A commit by rename in the same inbox is served as usual.
    commit_request(inbox, "renamed", b"{}")
    await ctx.until((outbox / "renamed.resp.json").exists, "renamed.resp.json")


async def test_a_hard_link_to_a_file_outside_is_refused(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    secret = tmp_path / "secret.json"
    secret.write_bytes(b'{"secret": "s3cr3t"}')
    staged = inbox / "linked.tmp"
    os.link(secret, staged)
    os.rename(staged, inbox / "linked.req.json")  # committed by rename, but it is a link
    assert await answered_with(ctx, outbox, "linked") == "hard_link"
    assert not (outbox / "linked.resp.json").exists()
    assert secret.read_bytes() == b'{"secret": "s3cr3t"}' and os.stat(secret).st_nlink == 1
    [letter] = dead(inbox.parent / "dead")
    assert letter.error == "hard_link" and letter.file is None  # removed, not kept


async def test_a_hard_link_created_in_place_is_refused(
    start_ctx: Callable[..., Any], tmp_path: Path
) -> None:
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    secret = tmp_path / "secret.json"
    secret.write_bytes(b"{}")
    os.link(secret, inbox / "direct.req.json")
    assert await answered_with(ctx, outbox, "direct") == "hard_link"
    assert secret.read_bytes() == b"{}"


def _failing(code: int, match: Callable[[Path], bool]) -> Callable[..., None]:
    real = substrate_module.write_response.__globals__["atomic_write"]

    def atomic_write(path: Path, data: bytes, **kwargs: Any) -> None:
        if match(path):
            raise OSError(code, os.strerror(code), str(path))
        real(path, data, **kwargs)

    return atomic_write


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EMFILE])
async def test_answers_that_cannot_be_written_are_retried(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    import ctx_substrate._answers as answers

    ctx = await start_ctx(rescan_interval_s=60.0)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    monkeypatch.setattr(answers, "atomic_write", _failing(code, lambda p: True))
    commit_request(inbox, "full", b"{}")
    plant(inbox, "poison.req.json", DEEP)

    async def retrying() -> int:
        return int((await ctx.substrate.ask(Stats())).retrying)

    for _ in range(2000):
        if await retrying() == 2:
            break
        await ctx.until(lambda: True, "a turn")
    assert await retrying() == 2  # both waiting; the substrate is alive and answering asks
    assert not list(outbox.iterdir())
    assert sorted(p.name for p in inbox.iterdir()) == ["full.claimed", "poison.claimed"]
    # Space returns: the next rescan writes both answers; nothing is lost or doubled.
    monkeypatch.undo()
    ctx.substrate.tell(Rescan())
    await ctx.until((outbox / "full.resp.json").exists, "full.resp.json")
    assert await answered_with(ctx, outbox, "poison") == "too_deep"
    assert not (outbox / "full.error").exists()
    assert await retrying() == 0
    events = [e for e in ctx.audit() if e.event == "request.retry"]
    assert sorted(e.id or "" for e in events) == ["full", "poison"]  # audited once each


async def test_a_response_that_cannot_be_written_becomes_an_error(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctx_substrate._answers as answers

    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    fail = _failing(errno.EACCES, lambda p: p.name.endswith(".resp.json"))
    monkeypatch.setattr(answers, "atomic_write", fail)
    commit_request(inbox, "denied", b"{}")
    assert await answered_with(ctx, outbox, "denied") == "io_error"
    record = decode_error((outbox / "denied.error").read_bytes())
    assert "EACCES" in record.message
    await ctx.until((inbox / "denied.done").exists, "denied.done")
    monkeypatch.undo()
    commit_request(inbox, "after", b"{}")
    await ctx.until((outbox / "after.resp.json").exists, "after.resp.json")


async def test_a_request_unreadable_for_now_is_retried(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = substrate_module.read_request
    failures = []

    def read_request(path: Path, limit: int) -> bytes:
        if not failures:
            failures.append(path)
            raise OSError(errno.EMFILE, "Too many open files")
        return real(path, limit)

    monkeypatch.setattr(substrate_module, "read_request", read_request)
    ctx = await start_ctx(rescan_interval_s=0.05)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "later", b"{}")
    await ctx.until((outbox / "later.resp.json").exists, "later.resp.json")
    assert failures and failures[0].name == "later.claimed"


async def test_a_bug_on_one_request_quarantines_it(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = substrate_module.decode_body

    def decode_body(kind: Any, raw: bytes) -> dict[str, object]:
        if b"boom" in raw:
            raise ZeroDivisionError("a bug")
        return real(kind, raw)

    monkeypatch.setattr(substrate_module, "decode_body", decode_body)
    ctx = await start_ctx()
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "bug", b'{"boom": 1}')
    assert await answered_with(ctx, outbox, "bug") == "internal"
    [letter] = dead(inbox.parent / "dead")
    assert "ZeroDivisionError" in letter.message
    commit_request(inbox, "fine", b"{}")
    await ctx.until((outbox / "fine.resp.json").exists, "fine.resp.json")


async def test_provider_output_nested_too_deep_is_a_provider_error(
    start_ctx: Callable[..., Any],
) -> None:
    deep = subprocess_tool("deep", [sys.executable, "-c", "print('[' * 5000 + ']' * 5000)"])
    ctx = await start_ctx(
        providers=[callable_provider("echo", lambda r: {}), deep],
        routes=Routes(api={"*": "echo"}, tool={"deep": "deep"}),
        tools=["echo", "deep"],
    )
    commit_request(ctx.layout.tool_inbox("deep"), "d", b"{}")
    assert await answered_with(ctx, ctx.layout.tool_outbox("deep"), "d") == "provider_error"
    assert not [e for e in ctx.audit() if e.event == "provider.crashed"]


async def test_a_claim_that_fails_for_now_is_retried(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.rename
    failed: list[str] = []

    def rename(src: Any, dst: Any, **kwargs: Any) -> None:
        if str(dst).endswith("wait.claimed") and not failed:
            failed.append(str(src))
            raise OSError(errno.ENFILE, "Too many open files in system")
        real(src, dst, **kwargs)

    monkeypatch.setattr(substrate_module.os, "rename", rename)
    ctx = await start_ctx(rescan_interval_s=0.05)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    commit_request(inbox, "wait", b"{}")
    await ctx.until((outbox / "wait.resp.json").exists, "wait.resp.json")
    assert failed
    assert (await ctx.substrate.ask(Stats())).retrying == 0


HOSTILE_BODIES = st.one_of(
    st.binary(max_size=64),
    st.integers(1, 6000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d),
    st.binary(min_size=1, max_size=4).map(lambda b: b'{"t": "' + b + b'\xff"}'),
    st.just(b'{"model": "m"}'),
)
HOSTILE_NAMES = st.one_of(
    st.text(st.sampled_from(["a", "é", "-", ".", " "]), min_size=1, max_size=8),
    st.binary(min_size=1, max_size=6).filter(lambda b: b"/" not in b and b"\0" not in b),
    st.integers(195, 245).map(lambda n: "n" * n),  # with its one-digit prefix: 196-246 bytes
)


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests=st.lists(st.tuples(HOSTILE_NAMES, HOSTILE_BODIES), min_size=1, max_size=6))
def test_every_request_gets_exactly_one_answer(
    tmp_path_factory: pytest.TempPathFactory, requests: list[tuple[str | bytes, bytes]]
) -> None:
    """Whatever the name and bytes: one `.resp.json` or `.error` each, a dead letter for
    each refused for what it is, and the substrate still serving afterwards."""
    from ctx_substrate import Policy, Substrate, SubstrateConfig

    root = tmp_path_factory.mktemp("q") / "ctx"
    layout = CtxLayout(str(root), "u")
    inbox, outbox = layout.api_inbox("openai.chat"), layout.api_outbox("openai.chat")
    names = list(
        dict.fromkeys(
            f"{i}" + (n if isinstance(n, str) else os.fsdecode(n))
            for i, (n, _) in enumerate(requests)
        )
    )
    bodies = [body for _, body in requests]

    async def scenario() -> SubstrateStats:
        cfg = SubstrateConfig(
            root=str(root), uids=("u",), routes=Routes(api={"*": "e"}), policy=Policy.allow_all()
        )
        async with ActorSystem() as system:
            sub = await system.start_actor(
                lambda: Substrate(cfg, [callable_provider("e", lambda r: {})])
            )
            for name, body in zip(names, bodies, strict=True):
                plant(inbox, name + ".req.json", body)
            loop = asyncio.get_running_loop()
            end, after, committed = loop.time() + 20, outbox / "after.resp.json", False
            while loop.time() < end and not after.exists():  # bounds a hang, times nothing
                stats = await sub.ask(Stats())
                settled = stats.served + stats.refused >= len(names) and not stats.in_flight
                if settled and not committed:
                    commit_request(inbox, "after", b"{}")
                    committed = True
                await asyncio.sleep(0.01)
            # The last answer is written before its claim is closed (ADR 0119).
            while loop.time() < end and (await sub.ask(Stats())).io_unsettled:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return await sub.ask(Stats())

    stats = asyncio.run(scenario())
    assert (outbox / "after.resp.json").exists()
    for name in names:
        found = [os.path.lexists(outbox / (name + s)) for s in (".resp.json", ".error")]
        assert sum(found) == 1, name
    errors = [outbox / (n + ".error") for n in names if (outbox / (n + ".error")).exists()]
    quarantined = [decode_error(p.read_bytes()).kind for p in errors]
    assert stats.quarantined == len(quarantined) == len(dead(inbox.parent / "dead"))
    assert not [n for n in os.listdir(inbox) if n.endswith((".req.json", ".claimed"))]


async def test_a_rescan_out_of_descriptors_passes_by(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctx_substrate._scan as scan

    real = os.scandir
    failing = [True]

    def scandir(path: Any) -> Any:
        if failing[0]:
            raise OSError(errno.EMFILE, "Too many open files")
        return real(path)

    ctx = await start_ctx(watch="poll", poll_interval_s=0.02)
    inbox, outbox = ctx.layout.api_inbox("openai.chat"), ctx.layout.api_outbox("openai.chat")
    monkeypatch.setattr(scan.os, "scandir", scandir)
    commit_request(inbox, "scan", b"{}")
    ctx.substrate.tell(Rescan())
    assert (await ctx.substrate.ask(Stats())).served == 0  # alive, nothing found yet
    failing[0] = False
    await ctx.until((outbox / "scan.resp.json").exists, "scan.resp.json")
