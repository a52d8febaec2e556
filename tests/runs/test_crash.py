"""Crash safety: `kill -9` the server mid-run, start it again, and the run resumes to
`succeeded` with every step answered once, nothing lost, a valid manifest; while it runs,
a reader never sees a torn file (manifest, outputs, answers) or a torn journal line."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.flow import (
    RequestCommitted,
    ResponseObserved,
    RunEvent,
    RunManifest,
    StepSubmitted,
    StepSucceeded,
    TraceRecord,
)

from ._support import RunsEnv, ServerProcess


class TornWatcher(threading.Thread):
    """Reads the run's files over and over; records anything that does not decode."""

    def __init__(self, run_dir: Path, ctx: Path) -> None:
        super().__init__(daemon=True)
        self.run_dir = run_dir
        self.ctx = ctx
        self.problems: list[str] = []
        self.reads = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.check_once()

    def check_once(self) -> None:
        whole: list[tuple[Path, type | None]] = [(self.run_dir / "manifest.json", RunManifest)]
        whole += [(p, None) for p in self.run_dir.glob("outputs/*.json")]
        whole += [(p, None) for p in self.ctx.glob("home/*/api/*/outbox/*.resp.json")]
        for path, kind in whole:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            try:
                msgspec.json.decode(data, type=kind) if kind else msgspec.json.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.problems.append(f"{path.name}: {exc}")
        for name, kind in (("events.jsonl", RunEvent), ("trace.jsonl", TraceRecord)):
            try:
                data = (self.run_dir / name).read_bytes()
            except FileNotFoundError:
                continue
            complete = data[: data.rfind(b"\n") + 1]  # a reader ignores an unterminated tail
            for line in complete.splitlines():
                try:
                    msgspec.json.decode(line, type=kind)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.problems.append(f"{name}: {exc}")
        self.reads += 1


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(params=["file", "journaled"])
def slow_env(tmp_path: Path, request: pytest.FixtureRequest) -> RunsEnv:
    """A blocking provider (its exchanges are files, ADR 0100), or an `async def` one on
    the loop (its exchanges are journaled by the run, ADR 0122)."""
    if request.param == "file":
        return RunsEnv(tmp_path, provider="slow_chat", blocking=True)
    return RunsEnv(tmp_path, provider="async_slow_chat")


def test_kill_9_mid_run_then_restart_resumes_to_success(slow_env: RunsEnv) -> None:
    run_dir = slow_env.runs / "crash"
    watcher = TornWatcher(run_dir, slow_env.state / "ctx")
    first = ServerProcess(slow_env)
    try:
        with first.client() as http:
            created = http.post("/runs", json={"workflow": "chain", "id": "crash"})
            assert created.status_code == 201, created.text
            watcher.start()

            def mid_run() -> bool:
                steps = list(http.get("/runs/crash/status").json()["steps"].values())
                return steps.count("succeeded") >= 3 and "submitted" in steps

            wait_for(mid_run, 30, "three steps to succeed and the next one in flight")
        first.kill()  # SIGKILL: no shutdown code runs
    finally:
        if first.proc.poll() is None:
            first.kill()
    at_kill = msgspec.json.decode((run_dir / "manifest.json").read_bytes(), type=RunManifest)
    assert at_kill.status == "running"
    assert "submitted" in {s.status for s in at_kill.steps}  # killed with a step in flight
    done_at_kill = [s.id for s in at_kill.steps if s.status == "succeeded"]
    assert 3 <= len(done_at_kill) < 10

    second = ServerProcess(slow_env)
    try:
        with second.client() as http:
            # The live stream ends when the run settles: the restarted server resumed it.
            with http.stream("GET", "/runtime/streams/crash/events.sse") as stream:
                tail = b"".join(stream.iter_bytes())
            assert tail.endswith(b'event: end\ndata: {"status":"succeeded"}\n\n')
    finally:
        second.stop()
        watcher.stop.set()
        watcher.join(10)

    assert watcher.problems == [] and watcher.reads > 10
    manifest = msgspec.json.decode((run_dir / "manifest.json").read_bytes(), type=RunManifest)
    assert manifest.status == "succeeded"
    assert all(s.attempts == 1 for s in manifest.steps), manifest.steps
    events = [
        msgspec.json.decode(line, type=RunEvent)
        for line in (run_dir / "events.jsonl").read_bytes().splitlines()
    ]
    assert (
        [e.seq for e in events]
        == list(range(1, len(events) + 1))
        == list(range(1, manifest.sequence + 1))
    )
    submitted = Counter(e.step for e in events if isinstance(e, StepSubmitted))
    succeeded = Counter(e.step for e in events if isinstance(e, StepSucceeded))
    steps = {f"s{n}" for n in range(1, 11)}
    assert submitted == succeeded == Counter(steps)  # no step lost, none done twice
    trace = [
        msgspec.json.decode(line, type=TraceRecord)
        for line in (run_dir / "trace.jsonl").read_bytes().splitlines()
    ]
    observed = [r for r in trace if isinstance(r, ResponseObserved)]
    committed = Counter(r.step for r in trace if isinstance(r, RequestCommitted))
    assert Counter(r.step for r in observed) == Counter(steps)
    if "async" in str(slow_env.config.providers[0]):
        # Journaled: the call in flight at the kill died with the process; the resumed run
        # sent that request again (its commit traced twice if the first record was
        # durable), and its route says so: one step at most, the one in flight.
        resumed = [r.step for r in observed if (r.route or {}).get("resumed", False)]
        assert len(resumed) <= 1, resumed
        assert all(count <= 1 or step in resumed for step, count in committed.items())
        assert all(count <= 2 for count in committed.values())
    else:
        assert all(count <= 1 for count in committed.values())
    last = msgspec.json.decode((run_dir / "outputs" / "s10.json").read_bytes())
    assert last["text"].endswith("step 1 after: start")
    # The substrate answered each request id once, even the one served again on restart.
    answers = list((slow_env.state / "ctx").glob("home/*/api/openai.chat/outbox/*.resp.json"))
    assert len(answers) == 10
    closed = list((slow_env.state / "ctx").glob("home/*/api/openai.chat/inbox/*.done"))
    assert len(closed) == 10
