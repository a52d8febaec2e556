"""The runs host in-process: runs execute their DAG against the directory substrate with a
Python-callable provider; cancel, submit, refresh, leases; bad input writes nothing."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.flow import EVENT_NAMES, FlowError, RunStore, RunView
from lightflow_actors.kernel import Refused
from lightflow_actors.runs import (
    AwaitSettled,
    CancelRun,
    CreateRun,
    RefreshRun,
    RunHostedElsewhere,
    SubmitStep,
    run_lease_path,
)
from lightflow_actors.supervision import TreeNode, system_tree

from ._support import RunsEnv, running_host

pytestmark = pytest.mark.anyio


def events(env: RunsEnv, run_id: str) -> list[dict[str, object]]:
    lines = (env.runs / run_id / "events.jsonl").read_bytes().splitlines()
    return [msgspec.json.decode(line) for line in lines]


def trace(env: RunsEnv, run_id: str) -> list[dict[str, object]]:
    lines = (env.runs / run_id / "trace.jsonl").read_bytes().splitlines()
    return [msgspec.json.decode(line) for line in lines]


async def test_a_diamond_runs_to_success_through_the_substrate(runs_env: RunsEnv, host) -> None:
    async with host() as hosting:
        created = await hosting.call(CreateRun("fanout", b'{"topic": "tea"}', "d1"))
        assert created.status == "planned"
        view = await hosting.call(AwaitSettled("d1"))
    assert view.status == "succeeded"
    assert [s.status for s in view.steps] == ["succeeded"] * 5
    out = msgspec.json.decode((runs_env.runs / "d1" / "outputs" / "join.json").read_bytes())
    assert out == {"text": "done: done: left of done: plan tea + done: right of done: plan tea"}
    tell = msgspec.json.decode((runs_env.runs / "d1" / "outputs" / "tell.json").read_bytes())
    assert tell["text"].startswith("done: done: done:")
    log = events(runs_env, "d1")
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert {e["event"] for e in log} <= set(EVENT_NAMES)
    per_step = {s.id: [e["event"] for e in log if e.get("step") == s.id] for s in view.steps}
    assert all(names == ["step.submitted", "step.succeeded"] for names in per_step.values())
    # left and right depend only on plan: the actor submits both before either answers
    order = [(e["event"], e.get("step")) for e in log]
    assert order.index(("step.submitted", "right")) < order.index(("step.succeeded", "left"))
    assert order.index(("step.submitted", "left")) < order.index(("step.succeeded", "right"))
    records = trace(runs_env, "d1")
    committed = [r for r in records if r["record"] == "cortex.request.committed"]
    observed = [r for r in records if r["record"] == "cortex.response.observed"]
    assert len(committed) == len(observed) == 5
    assert all(str(r["path"]).endswith(".req.json") for r in committed)
    assert {r["route"]["provider"] for r in observed if r["route"]} == {"mock"}


async def test_a_failing_provider_fails_the_run_after_its_retries(runs_env: RunsEnv, host) -> None:
    async with host() as hosting:
        await hosting.call(CreateRun("fails", b"{}", "f1"))
        view = await hosting.call(AwaitSettled("f1"))
    assert view.status == "failed"
    (step,) = view.steps
    assert step.attempts == 3 and "refuses FAIL" in (step.error or "")
    names = [e["event"] for e in events(runs_env, "f1")]
    assert names.count("step.failed") == 3
    errors = [r for r in trace(runs_env, "f1") if r["record"] == "cortex.error.observed"]
    assert len(errors) == 3


async def test_cancel_submit_refresh_of_a_run_created_without_starting(
    runs_env: RunsEnv, host
) -> None:
    async with host() as hosting:
        planned = await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "g1", start=False))
        assert planned.status == "planned"
        assert (await hosting.call(AwaitSettled("g1"))).status == "planned"  # nobody drives it
        view = await hosting.call(SubmitStep("g1", "hello"))
        assert view.status in ("running", "succeeded")
        assert (await hosting.call(AwaitSettled("g1"))).status == "succeeded"

        await hosting.call(CreateRun("chain", b"{}", "c1", start=False))
        cancelled = await hosting.call(CancelRun("c1", "not needed"))
        assert cancelled.status == "cancelled"
        with pytest.raises(FlowError) as conflict:
            await hosting.call(CancelRun("c1"))
        assert conflict.value.reason == "conflict"

        await hosting.call(CreateRun("greet", b'{"name": "Bo"}', "g2", start=False))
        await hosting.call(RefreshRun("g2"))
        assert (await hosting.call(AwaitSettled("g2"))).status == "succeeded"
        with pytest.raises(FlowError) as missing:
            await hosting.call(SubmitStep("g2", "nope"))
        assert missing.value.reason in ("not_found", "conflict")
        with pytest.raises(FlowError) as unknown:
            await hosting.call(RefreshRun("never-made"))
        assert unknown.value.reason == "not_found"
    last = events(runs_env, "c1")[-1]
    assert last["event"] == "run.cancelled" and last["reason"] == "not needed"


async def test_cancelling_a_running_run_stops_it(runs_env: RunsEnv, host) -> None:
    async with host() as hosting:
        await hosting.call(CreateRun("chain", b"{}", "c2"))
        view = await hosting.call(CancelRun("c2", "stop"))
        settled = await hosting.call(AwaitSettled("c2"))
    assert view.status == settled.status == "cancelled"
    assert events(runs_env, "c2")[-1]["event"] == "run.cancelled"


@pytest.mark.parametrize(
    "workflow,inputs,run_id,reason",
    [
        ("greet", b'{"name": "x"}', "..", "invalid"),
        ("greet", b'{"name": "x"}', "a/b", "invalid"),
        ("greet", b'{"name": "x"}', "a\x00b", "invalid"),
        ("greet", b'{"name": "x"}', "x" * 10_000, "invalid"),
        ("greet", b'{"name": ', "ok-1", "invalid"),
        ("greet", b"[1, 2]", "ok-2", "invalid"),
        ("greet", b'{"name": 5}', "ok-3", "invalid"),
        ("greet", b'{"name": "x", "times": "two"}', "ok-4", "invalid"),
        ("greet", b'{"name": "x", "extra": 1}', "ok-5", "invalid"),
        ("mistyped", b'{"tags": ["a"]}', "ok-8", "invalid"),
        ("no-such-workflow", b"{}", "ok-6", "not_found"),
        ("mock", b"{}", "ok-7", "not_found"),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    runs_env: RunsEnv, host, workflow: str, inputs: bytes, run_id: str, reason: str
) -> None:
    async with host() as hosting:
        with pytest.raises(FlowError) as refused:
            await hosting.call(CreateRun(workflow, inputs, run_id))
    assert isinstance(refused.value, Refused) and refused.value.reason == reason
    assert not runs_env.runs.exists() or list(runs_env.runs.iterdir()) == []


async def test_a_run_driven_by_another_process_is_not_driven_twice(runs_env: RunsEnv, host) -> None:
    async with host() as hosting:
        await hosting.call(CreateRun("greet", b'{"name": "x"}', "leased", start=False))
        lease = run_lease_path(runs_env.state, "leased")
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"fd = os.open({str(lease)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.lockf(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert holder.stdout is not None and await holder.stdout.readline() == b"held\n"
            with pytest.raises(RunHostedElsewhere) as busy:
                await hosting.call(RefreshRun("leased"))
            assert busy.value.reason == "conflict"
        finally:
            await holder.communicate(b"")
        view: RunView = await hosting.call(RefreshRun("leased"))
        assert view.run_id == "leased"
        assert (await hosting.call(AwaitSettled("leased"))).status == "succeeded"


async def test_a_server_start_resumes_unfinished_runs(runs_env: RunsEnv, host) -> None:
    async with host(resume=False) as hosting:
        await hosting.call(CreateRun("greet", b'{"name": "later"}', "r1", start=False))
    async with host() as hosting:  # resume=True, as a server
        view = await hosting.call(AwaitSettled("r1"))
        while view.status not in ("succeeded", "failed"):
            view = await hosting.call(AwaitSettled("r1"))
    assert view.status == "succeeded"


async def test_a_restarted_host_adopts_the_runs_its_predecessor_started(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path, provider="slow_chat", blocking=True)
    async with running_host(env) as hosting:
        await hosting.call(CreateRun("greet", b'{"name": "slow"}', "adopted"))
        # On a loaded machine the run actor may not have submitted its step yet: wait for it,
        # so the kill lands while the step is in flight (the case under test).
        seen = "created"
        for _ in range(3000):  # the bound only stops a hang
            seen = (await hosting.read("get", lambda ops: ops.get("adopted"))).status
            if seen == "running":
                break
            await asyncio.sleep(0.01)
        assert seen == "running", f"the run never showed its step in flight: {seen}"
        old = hosting.host()
        hosting.system.kill(old)  # untrappable: no on_stop, its leases stay with the process
        for _ in range(500):
            new = hosting.system.whereis(hosting.names.host)
            if new is not None and new != old:
                break
            await asyncio.sleep(0.01)
        in_flight = await hosting.read("get", lambda ops: ops.get("adopted"))
        assert in_flight.status == "running"
        # Not adopted, the new host would answer at once with the running run.
        view = await hosting.call(AwaitSettled("adopted"))
        assert view.status == "succeeded"
        restarted = [
            n
            for root in system_tree(hosting.system).roots
            for n in _walk(root)
            if n.name == hosting.names.host
        ]
        assert restarted[0].restarts == 1
    names = [e["event"] for e in events(env, "adopted")]
    assert names == ["run.created", "step.submitted", "step.succeeded"]


def _walk(node: TreeNode) -> list[TreeNode]:
    out = [node]
    for child in node.children:
        out += _walk(child)
    return out


async def test_the_journal_checkpoint_at_shutdown_runs_off_the_loop(
    runs_env: RunsEnv, host, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed_on: list[int] = []
    real = RunStore.close

    def close(self: RunStore) -> None:
        closed_on.append(threading.get_ident())
        real(self)

    monkeypatch.setattr(RunStore, "close", close)
    loop_thread = threading.get_ident()
    async with host() as hosting:
        await hosting.call(CreateRun("fanout", b'{"topic": "tea"}', "c1"))
        assert (await hosting.call(AwaitSettled("c1"))).status == "succeeded"
    assert closed_on and loop_thread not in closed_on  # fsyncs on a worker thread
    assert not list((runs_env.runs.parent / "wal").glob("*.wal"))  # checkpointed, deleted
    manifest = msgspec.json.decode((runs_env.runs / "c1" / "manifest.json").read_bytes())
    assert manifest["sequence"] == len(events(runs_env, "c1"))


async def test_a_created_run_starts_from_what_was_written_and_a_restart_reads_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0132: a run the host creates and starts is written, leased and prepared in one
    worker-thread call, and its actor starts from the manifest and workflow written,
    reading nothing back; an incarnation after a crash resumes from the folder."""
    from lightflow_actors.flow import RunActor

    reads: list[str] = []
    real = RunActor._read_for_resume

    def counted(actor: RunActor):  # type: ignore[no-untyped-def]
        reads.append(actor._run_id)
        return real(actor)

    monkeypatch.setattr(RunActor, "_read_for_resume", counted)
    env = RunsEnv(tmp_path, provider="slow_chat", blocking=True)
    async with running_host(env) as hosting:
        created = await hosting.call(CreateRun("greet", b'{"name": "fresh"}', "fresh"))
        assert created.status == "planned" and created.run_id == "fresh"
        runs = hosting.system.whereis(hosting.names.run("fresh"))
        assert runs is not None
        for _ in range(500):  # its step in flight: the kill below interrupts it
            if (await hosting.read("get", lambda ops: ops.get("fresh"))).status == "running":
                break
            await asyncio.sleep(0.01)
        assert reads == []  # the first incarnation read nothing back
        hosting.system.kill(runs)
        view = await hosting.call(AwaitSettled("fresh"))
        while view.status not in ("succeeded", "failed"):
            view = await hosting.call(AwaitSettled("fresh"))
        assert view.status == "succeeded"
    assert reads == ["fresh"]  # the restarted one resumed from its folder
    names = [e["event"] for e in events(env, "fresh")]
    assert names[0] == "run.created" and names[-1] == "step.succeeded"
