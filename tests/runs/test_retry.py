"""Retrying a failed run through the runs host (and a server, `kill -9` included), and
`run submit` with an explicit request body."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import msgspec
import pytest

from lightflow_actors.flow import (
    Conflict,
    FlowError,
    RunEvent,
    RunManifest,
    RunRetried,
    StepSubmitted,
    StepSucceeded,
)
from lightflow_actors.runs import AwaitSettled, CreateRun, RetryRun, SubmitStep

from ._support import RunsEnv, ServerProcess, running_host
from .test_crash import wait_for

pytestmark = pytest.mark.anyio

STEPS = [f"s{n}" for n in range(1, 11)]


def _events(env: RunsEnv, run_id: str) -> list[RunEvent]:
    data = (env.runs / run_id / "events.jsonl").read_bytes()
    return [msgspec.json.decode(line, type=RunEvent) for line in data.splitlines()]


async def test_a_failed_run_is_retried_from_its_failure_frontier(
    tmp_path: Path, gate: Path
) -> None:
    env = RunsEnv(tmp_path, provider="gated_chat")
    async with running_host(env) as hosting:
        await hosting.call(CreateRun("chain", b"{}", "c1"))
        failed = await hosting.call(AwaitSettled("c1"))
        assert failed.status == "failed"
        status = {s.id: (s.status, s.attempts) for s in failed.steps}
        assert [status[s] for s in STEPS[:4]] == [("succeeded", 1)] * 4
        assert status["s5"] == ("failed", 3)
        assert {status[s] for s in STEPS[5:]} == {("planned", 0)}  # never started

        await anyio.Path(gate).unlink()
        retried = await hosting.call(RetryRun("c1"))
        assert retried.status in ("running", "succeeded")
        done = await hosting.call(AwaitSettled("c1"))

        assert done.status == "succeeded"
        attempts = {s.id: s.attempts for s in done.steps}
        assert attempts == {**dict.fromkeys(STEPS, 1), "s5": 4}  # attempts count on
        # The same run: one journal, numbered without a gap, one run.retried.
        events = _events(env, "c1")
        assert [e.seq for e in events] == list(range(1, done.sequence + 1))
        assert sum(isinstance(e, RunRetried) for e in events) == 1
        submitted = Counter(e.step for e in events if isinstance(e, StepSubmitted))
        assert submitted == Counter({**dict.fromkeys(STEPS, 1), "s5": 4})

        with pytest.raises(Conflict, match="succeeded; there is nothing to retry"):
            await hosting.call(RetryRun("c1"))
        with pytest.raises(FlowError) as missing:
            await hosting.call(RetryRun("never-made"))
        assert missing.value.reason == "not_found"

        await hosting.call(CreateRun("chain", b"{}", "c2", start=False))
        with pytest.raises(Conflict, match="planned and not started"):
            await hosting.call(RetryRun("c2"))
        # Nothing was written by the refusals.
        assert len(_events(env, "c2")) == 1


async def test_submit_with_a_body_commits_that_body(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with running_host(env) as hosting:
        await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "g1", start=False))
        body = {"messages": [{"role": "user", "content": "explicit hello"}], "model": "mock"}
        await hosting.call(SubmitStep("g1", "hello", body))  # type: ignore[arg-type]
        done = await hosting.call(AwaitSettled("g1"))
        assert done.status == "succeeded"
        (step,) = done.steps
        assert step.attempts == 1 and step.body == body
        output = msgspec.json.decode((env.runs / "g1" / "outputs" / "hello.json").read_bytes())
        assert output == {"text": "done: explicit hello"}

        # A step that is not ready is refused, with or without a body, and nothing changes.
        await hosting.call(CreateRun("chain", b"{}", "c1", start=False))
        with pytest.raises(Conflict, match="waits for s1"):
            await hosting.call(SubmitStep("c1", "s2", {"x": 1}))  # type: ignore[arg-type]
        assert len(_events(env, "c1")) == 1


def test_kill_9_mid_retry_then_restart_finishes_the_retried_run(tmp_path: Path, gate: Path) -> None:
    env = RunsEnv(tmp_path, provider="slow_gated_chat", blocking=True)
    run_dir = env.runs / "crash"
    first = ServerProcess(env)
    try:
        with first.client() as http:
            assert http.post("/runs", json={"workflow": "chain", "id": "crash"}).status_code == 201
            with http.stream("GET", "/runtime/streams/crash/events.sse") as stream:
                tail = b"".join(stream.iter_bytes())
            assert tail.endswith(b'event: end\ndata: {"status":"failed"}\n\n')
            gate.unlink()
            retried = http.post("/runs/crash/retry")
            assert retried.status_code == 200, retried.text
            assert retried.json()["status"] == "running"

            def mid_retry() -> bool:
                steps = http.get("/runs/crash/status").json()["steps"]
                return steps["s6"] == "succeeded" and steps["s7"] == "submitted"

            wait_for(mid_retry, 60, "s6 to succeed and s7 to be in flight after the retry")
        first.kill()  # SIGKILL: no shutdown code runs
    finally:
        if first.proc.poll() is None:
            first.kill()
    at_kill = msgspec.json.decode((run_dir / "manifest.json").read_bytes(), type=RunManifest)
    assert at_kill.status == "running"

    second = ServerProcess(env)
    try:
        with second.client() as http:
            with http.stream("GET", "/runtime/streams/crash/events.sse") as stream:
                tail = b"".join(stream.iter_bytes())
            assert tail.endswith(b'event: end\ndata: {"status":"succeeded"}\n\n')
            again = http.post("/runs/crash/retry")
            assert again.status_code == 409
            assert "succeeded; there is nothing to retry" in again.json()["error"]
    finally:
        second.stop()

    manifest = msgspec.json.decode((run_dir / "manifest.json").read_bytes(), type=RunManifest)
    assert manifest.status == "succeeded"
    events = _events(env, "crash")
    assert [e.seq for e in events] == list(range(1, manifest.sequence + 1))
    succeeded = Counter(e.step for e in events if isinstance(e, StepSucceeded))
    assert succeeded == Counter(STEPS)  # every step answered once, none twice
    assert {s.id: s.attempts for s in manifest.steps} == {**dict.fromkeys(STEPS, 1), "s5": 4}
