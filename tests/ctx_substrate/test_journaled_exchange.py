"""The journaled exchange (ADR 0122): a committer that journals the exchange (`Commit`
with `journal=True`) and a target served on this process's loop get the request served
from memory, and the answer back with the ABI files to write, byte for byte those a
served request file leaves. Anything the file path would refuse is committed as a file
and refused the usual way."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctx_substrate import Policy, Stats
from lightflow_actors import Actor, ActorRef, handler
from lightflow_actors.adapters.cortex import CortexClient, Shortcut
from lightflow_actors.cortex import (
    Call,
    Commit,
    CommitFailed,
    CortexOutcome,
    CtxLayout,
    ErrorObserved,
    ObserveTimedOut,
    RequestCommitted,
    ResponseObserved,
    Suffix,
)

from .conftest import Ctx
from .test_emptied_answers import Outcomes

pytestmark = pytest.mark.anyio

BODY = {"model": "m", "messages": [{"role": "user", "content": "tea"}]}
ANSWER_FILES = (Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE, Suffix.ERROR)


def _client(ctx: Ctx, name: str, *, on_loop: bool = True) -> ActorRef[Commit | Call]:
    ctx.system.register(name, ctx.substrate)
    shortcut = Shortcut(name, lambda k, n: True, (lambda k, n: True) if on_loop else None)
    return ctx.system.spawn(lambda: CortexClient(ctx.layout, shortcut=shortcut))


async def _journaled(
    ctx: Ctx, client: ActorRef[Commit | Call], request_id: str, body: object, **options: bool
) -> CortexOutcome:
    seen: list[CortexOutcome] = []
    notify = ctx.system.spawn(lambda: Outcomes(seen))
    committed = await client.ask(
        Commit("api", "openai.chat", request_id, body, notify=notify, journal=True, **options)
    )
    assert isinstance(committed, RequestCommitted), committed
    await ctx.until(lambda: bool(seen), "the outcome")
    return seen[0]


def _files(layout: CtxLayout, request_id: str) -> dict[str, bytes]:
    inbox, outbox = layout.inbox("api", "openai.chat"), layout.outbox("api", "openai.chat")
    found = {}
    for folder, suffixes in ((inbox, (Suffix.DONE, Suffix.REQUEST, Suffix.CLAIMED)),
                             (outbox, ANSWER_FILES)):  # fmt: skip
        for suffix in suffixes:
            path = CtxLayout.file(folder, request_id, suffix)
            if path.exists():
                found[suffix] = path.read_bytes()
    return found


def _write(files: tuple[object, ...]) -> None:
    for file in files:
        Path(file.path).write_bytes(file.data)  # type: ignore[attr-defined]


async def test_a_journaled_exchange_leaves_the_files_a_served_request_leaves(
    start_ctx, tmp_path: Path
) -> None:
    journaled: Ctx = await start_ctx()
    served: Ctx = await start_ctx(root=tmp_path / "served")
    outcome = await _journaled(journaled, _client(journaled, "j.substrate"), "r1", BODY)
    assert isinstance(outcome, ResponseObserved) and outcome.files
    # Nothing is on disk until the committer writes the files it was given.
    assert _files(journaled.layout, "r1") == {}
    assert [Path(f.path).name for f in outcome.files] == [
        "r1.fingerprint",
        "r1.route.json",
        "r1.resp.json",
        "r1.done",
    ]
    _write(outcome.files)
    by_file = await _client(served, "s.substrate", on_loop=False).ask(
        Call("api", "openai.chat", "r1", BODY), timeout=20
    )
    assert isinstance(by_file, ResponseObserved) and by_file.files == ()
    await served.settled()
    expected = _files(served.layout, "r1")
    assert set(expected) == {Suffix.DONE, Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE}
    assert _files(journaled.layout, "r1") == expected
    assert outcome.body == by_file.body and outcome.route == by_file.route
    assert outcome.fingerprint == by_file.fingerprint
    # Audited as any exchange: claimed, the policy's decision, the answer.
    await journaled.settled()
    events = [e.event for e in journaled.audit() if e.id == "r1"]
    assert events == ["request.claimed", "policy.decision", "response.written"]
    stats = await journaled.substrate.ask(Stats())
    assert stats.journaled == 1 and stats.served == 1 and stats.handed_off == 0


async def test_a_provider_error_is_journaled_as_an_error_file(start_ctx) -> None:
    from ctx_substrate import ProviderFailure, callable_provider

    def refuses(request: object) -> object:
        raise ProviderFailure("provider_error", "no tea today")

    ctx: Ctx = await start_ctx(providers=[callable_provider("echo", refuses)])
    outcome = await _journaled(ctx, _client(ctx, "j.substrate"), "e1", BODY)
    assert isinstance(outcome, ErrorObserved)
    assert outcome.error.kind == "provider_error" and outcome.error.message == "no tea today"
    _write(outcome.files)
    assert set(_files(ctx.layout, "e1")) == {
        Suffix.DONE,
        Suffix.FINGERPRINT,
        Suffix.ROUTE,
        Suffix.ERROR,
    }


async def test_a_request_the_policy_denies_is_committed_as_a_file_and_refused(
    start_ctx,
) -> None:
    ctx: Ctx = await start_ctx(policy=Policy(default="deny"))
    outcome = await _journaled(ctx, _client(ctx, "j.substrate"), "d1", BODY)
    assert isinstance(outcome, ErrorObserved) and outcome.files == ()
    assert outcome.error.kind == "denied"
    await ctx.settled()
    assert Suffix.ERROR in _files(ctx.layout, "d1")  # the usual refusal, on disk
    assert (await ctx.substrate.ask(Stats())).journaled == 0


async def test_a_blocking_target_is_not_journaled(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    outcome = await _journaled(ctx, _client(ctx, "j.substrate", on_loop=False), "b1", BODY)
    assert isinstance(outcome, ResponseObserved) and outcome.files == ()
    await ctx.settled()
    assert Suffix.RESPONSE in _files(ctx.layout, "b1")


async def test_a_resumed_commit_of_an_answered_id_is_a_conflict(start_ctx) -> None:
    ctx: Ctx = await start_ctx()
    client = _client(ctx, "j.substrate")
    outcome = await _journaled(ctx, client, "c1", BODY)
    _write(outcome.files)
    again = await client.ask(
        Commit("api", "openai.chat", "c1", BODY, journal=True, resuming=True, notify=client)
    )
    assert isinstance(again, CommitFailed) and again.cause == "conflict"
    # An id served in memory right now is one too, resumed or not.
    seen: list[CortexOutcome] = []
    notify = ctx.system.spawn(lambda: Outcomes(seen))
    first = client.ask(Commit("api", "openai.chat", "c2", BODY, notify=notify, journal=True))
    second = client.ask(Commit("api", "openai.chat", "c2", BODY, notify=notify, journal=True))
    results = await asyncio.gather(first, second)
    causes = sorted(type(r).__name__ + getattr(r, "cause", "") for r in results)
    assert causes == ["CommitFailedconflict", "RequestCommitted"]


class TimedOut(Actor[CortexOutcome]):
    """Notes the outcomes it is told, a timeout included."""

    def __init__(self, seen: list[CortexOutcome]) -> None:
        self.seen = seen

    @handler
    def outcome(self, msg: CortexOutcome) -> None:
        self.seen.append(msg)


async def test_an_answer_after_its_step_timed_out_leaves_its_files(start_ctx) -> None:
    from ctx_substrate import callable_provider

    release = asyncio.Event()

    async def held(request: object) -> object:
        await release.wait()
        return {"late": True}

    ctx: Ctx = await start_ctx(providers=[callable_provider("echo", held)])
    client = _client(ctx, "j.substrate")
    seen: list[CortexOutcome] = []
    notify = ctx.system.spawn(lambda: TimedOut(seen))
    commit = Commit(
        "api", "openai.chat", "late", BODY, notify=notify, journal=True, timeout_s=0.05,
        tenant="acme",
    )  # fmt: skip
    assert isinstance(await client.ask(commit), RequestCommitted)
    await ctx.until(lambda: bool(seen), "the step's timeout")
    assert isinstance(seen[0], ObserveTimedOut)
    # Still served in memory: its id is not free for another commit.
    again = await client.ask(msgspec.structs.replace(commit, notify=client))
    assert isinstance(again, CommitFailed) and again.cause == "conflict"
    release.set()
    # Nobody waits for the answer any more; it still leaves what a served request leaves.
    expected = {Suffix.DONE, Suffix.FINGERPRINT, Suffix.ROUTE, Suffix.RESPONSE}
    await ctx.until(lambda: set(_files(ctx.layout, "late")) == expected, "the late files")
    files = _files(ctx.layout, "late")
    assert msgspec.json.decode(files[Suffix.RESPONSE]) == {"late": True}
    assert files[Suffix.DONE] == msgspec.json.encode(BODY)
    inbox = ctx.layout.inbox("api", "openai.chat")
    assert CtxLayout.file(inbox, "late", Suffix.TENANT).read_bytes() == b"acme"
    assert len(seen) == 1  # and the committer is told nothing more


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=st.one_of(
        st.binary(max_size=64),
        st.just(b"\xff\xfe{"),  # invalid UTF-8
        st.just(b"[" * 5000 + b"]" * 5000),  # nested past the decoder's limit
        st.just(b'{"x": "' + b"y" * 300_000 + b'"}'),  # past the substrate's size limit
    )
)
async def test_hostile_bodies_are_served_or_refused_never_lost(start_ctx, body: bytes) -> None:
    """Whatever the bytes, a journaled commit is answered: served (a JSON object) with
    its files, or refused as a file would be (malformed, too deep, not UTF-8, too large)."""
    ctx: Ctx = await start_ctx(max_request_bytes=256_000)
    client = _client(ctx, "j.substrate")
    request_id = f"h{os.urandom(4).hex()}"
    outcome = await _journaled(ctx, client, request_id, body)
    if isinstance(outcome, ResponseObserved):
        assert outcome.files and outcome.files[-1].data == body
    else:
        assert isinstance(outcome, ErrorObserved) and outcome.files == ()
        assert outcome.error.kind in {"malformed", "too_deep", "invalid_utf8", "too_large"}
    await ctx.settled()
