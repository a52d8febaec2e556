"""Jobs run once when their `req` is committed; hooks fire on an interval of the system clock."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctx_substrate import ProviderRequest, callable_provider
from lightflow_actors.cortex import commit_request

from ._loop_io import watch_loop_io

pytestmark = pytest.mark.anyio


def commit_file(folder: Path, name: str, data: bytes) -> None:
    tmp = folder / f"{name}.tmp"
    tmp.write_bytes(data)
    os.rename(tmp, folder / name)


def counting() -> tuple[list[str], Any]:
    calls: list[str] = []

    def fn(request: ProviderRequest) -> dict[str, object]:
        calls.append(request.id)
        return {"n": len(calls), "target": request.target, "body": request.body}

    return calls, callable_provider("echo", fn)


async def test_job_runs_once_on_commit(start_ctx: Callable[..., Any]) -> None:
    calls, provider = counting()
    ctx = await start_ctx(providers=[provider], rescan_interval_s=0.05)
    job = ctx.backing / "home" / "1000" / "job" / "j1"
    job.mkdir(parents=True)
    commit_file(job, "spec", b'{"kind": "api", "target": "openai.chat"}')
    commit_file(job, "req", b'{"model": "m"}')
    await ctx.until(
        lambda: (job / "status").exists() and (job / "status").read_text().strip() == "succeeded",
        "the job to succeed",
    )
    out = msgspec.json.decode((job / "out.json").read_bytes())
    assert out == {"n": 1, "target": "openai.chat", "body": {"model": "m"}}
    # The runner's thread appends the end's audit line after writing `status`.
    await ctx.until(
        lambda: any(e.event == "job.finished" for e in ctx.audit()), "the job's end audited"
    )
    events = [(e.event, e.reason) for e in ctx.audit() if e.kind == "job"]
    assert events == [("job.started", None), ("job.finished", "succeeded")]
    await asyncio.sleep(0.2)  # later rescans do not run a finished job again
    assert calls == ["j1"]


async def test_job_with_bad_spec_fails_visibly(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    job = ctx.backing / "home" / "1000" / "job" / "bad"
    job.mkdir(parents=True)
    commit_file(job, "spec", b'{"kind": "shell", "target": "rm"}')
    commit_file(job, "req", b"{}")
    await ctx.until(
        lambda: (job / "status").exists() and (job / "status").read_text().strip() == "failed",
        "the job to fail",
    )
    out = msgspec.json.decode((job / "out.json").read_bytes())
    assert out["error"]["kind"] == "malformed" and "$.kind" in out["error"]["message"]


@pytest.mark.parametrize(
    "spec", [b'{"kind": "api", "target": ' + b"[" * 5000, b'{"kind": "api", "target": "\xff"}']
)
async def test_job_with_a_poisoned_spec_fails_visibly(
    start_ctx: Callable[..., Any], spec: bytes
) -> None:
    ctx = await start_ctx()
    job = ctx.backing / "home" / "1000" / "job" / "poison"
    job.mkdir(parents=True)
    commit_file(job, "spec", spec)
    commit_file(job, "req", b"{}")
    await ctx.until(
        lambda: (job / "status").exists() and (job / "status").read_text().strip() == "failed",
        "the job to fail",
    )
    out = msgspec.json.decode((job / "out.json").read_bytes())
    assert out["error"]["kind"] == "malformed" and out["error"]["id"] == "poison"
    commit_request(ctx.layout.api_inbox("openai.chat"), "after", b"{}")  # still serving
    await ctx.until((ctx.layout.api_outbox("openai.chat") / "after.resp.json").exists, "after")


async def test_job_denied_target(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    job = ctx.backing / "home" / "1000" / "job" / "fmt"
    job.mkdir(parents=True)
    commit_file(job, "spec", b'{"kind": "api", "target": "no.such.format"}')
    commit_file(job, "req", b"{}")
    await ctx.until(
        lambda: (job / "status").exists() and (job / "status").read_text().strip() == "failed",
        "the job to fail",
    )
    out = msgspec.json.decode((job / "out.json").read_bytes())
    assert out["error"]["kind"] == "unknown_format"


async def test_hook_fires_on_interval(start_ctx: Callable[..., Any]) -> None:
    calls, provider = counting()
    ctx = await start_ctx(providers=[provider])
    hook = ctx.backing / "home" / "1000" / "hook" / "tick"
    hook.mkdir(parents=True)
    commit_file(hook, "spec", b'{"kind": "thread", "target": "t1"}')
    commit_file(hook, "req", b'{"ping": true}')
    commit_file(hook, "trigger", b'{"every_s": 0.02}')
    await ctx.until(
        lambda: (
            len(calls) >= 3
            and (hook / "log.jsonl").exists()
            and len((hook / "log.jsonl").read_text().splitlines()) >= 3
        ),
        "three firings",
    )
    lines = [msgspec.json.decode(line) for line in (hook / "log.jsonl").read_text().splitlines()]
    assert all(line["status"] == "succeeded" for line in lines)
    assert int((hook / "last").read_text()) >= lines[0]["ts_ms"]
    assert msgspec.json.decode((hook / "out.json").read_bytes())["target"] == "t1"
    shutil.rmtree(hook)  # removing the folder stops the hook
    seen = len(calls)
    await asyncio.sleep(0.15)
    assert len(calls) <= seen + 1


async def test_hook_with_broken_trigger_logs_once(start_ctx: Callable[..., Any]) -> None:
    ctx = await start_ctx()
    hook = ctx.backing / "home" / "1000" / "hook" / "broken"
    hook.mkdir(parents=True)
    commit_file(hook, "trigger", b'{"every_s": -1}')
    # The runner's thread creates the log, then appends its line: wait for the line.
    await ctx.until(
        lambda: (hook / "log.jsonl").exists() and (hook / "log.jsonl").read_bytes().endswith(b"\n"),
        "the failure to be logged",
    )
    lines = (hook / "log.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "trigger" in msgspec.json.decode(lines[0])["error"]
    assert (hook / "status").read_text().strip() == "failed"


async def test_job_and_hook_files_are_written_off_the_loop_thread(
    start_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's and a hook's `status`, `out.json`, `last`, log and audit lines are written
    and fsynced on worker threads (ADR 0119, ADR 0128), on success and on failure alike."""
    calls, provider = counting()
    ctx = await start_ctx(providers=[provider], rescan_interval_s=0.05)
    on_loop = watch_loop_io(monkeypatch)
    home = ctx.backing / "home" / "1000"
    good, bad = home / "job" / "good", home / "job" / "bad"
    tick, broken = home / "hook" / "tick", home / "hook" / "broken"
    for folder in (good, bad, tick, broken):
        folder.mkdir(parents=True)
    commit_file(good, "spec", b'{"kind": "api", "target": "openai.chat"}')
    commit_file(good, "req", b'{"model": "m"}')
    commit_file(bad, "spec", b'{"kind": "nope"')
    commit_file(bad, "req", b"{}")
    commit_file(tick, "spec", b'{"kind": "thread", "target": "t1"}')
    commit_file(tick, "req", b'{"ping": true}')
    commit_file(tick, "trigger", b'{"every_s": 0.02}')
    commit_file(broken, "trigger", b'{"every_s": -1}')

    def status(folder: Path) -> str:
        path = folder / "status"
        return path.read_text().strip() if path.exists() else ""

    def fired(folder: Path, times: int) -> bool:
        log = folder / "log.jsonl"
        return log.exists() and len(log.read_text().splitlines()) >= times

    await ctx.until(
        lambda: (
            status(good) == "succeeded"
            and status(bad) == "failed"
            and fired(tick, 2)
            and fired(broken, 1)
        ),
        "both jobs done, the hook fired twice, the broken one logged",
    )
    shutil.rmtree(tick)
    shutil.rmtree(broken)
    await ctx.settled()
    monkeypatch.undo()
    assert on_loop == []
    assert msgspec.json.decode((bad / "out.json").read_bytes())["error"]["kind"] == "malformed"
    assert "good" in calls
