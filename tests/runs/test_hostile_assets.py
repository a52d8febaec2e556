"""Asset files that loop, exit, raise, hog memory or do not parse: each fails alone, named
with its file, line and failure, and never holds the runs host or the server.

Resolution runs in the evaluator's child process (`flow._evaluation`); the host resolves
beside its mailbox, so other creates, cancels and reads go on while one file loops.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest

from lightflow_actors.flow import AssetError, AssetListing, FlowError
from lightflow_actors.runs import CancelRun, CreateRun, Read

from ._support import RunsEnv, ServerProcess, hostile_assets, running_host

pytestmark = pytest.mark.anyio


async def _failure(hosting, workflow: str) -> AssetError:  # type: ignore[no-untyped-def]
    with pytest.raises(AssetError) as err:
        await hosting.call(CreateRun(workflow, b"{}", f"{workflow}-1"))
    return err.value


async def test_each_hostile_file_fails_alone_with_its_file_line_and_failure(
    tmp_path: Path,
) -> None:
    assets = hostile_assets(tmp_path)
    env = RunsEnv(tmp_path, assets=assets, evaluation={"timeout_s": 1.5, "memory_mb": 256})
    async with running_host(env) as hosting:
        listing = await hosting.call(Read("assets", lambda ops: ops.assets("workflows")))
        assert isinstance(listing, AssetListing)
        ids = {a.id for a in listing.assets}
        assert {"greet", "chain", "loop", "exits", "boom", "hog"} <= ids
        (problem,) = listing.problems
        assert problem.path == str(assets / "workflows" / "syntax.py")
        assert (problem.line, problem.failure) == (2, "syntax")

        expected = {
            "loop": ("timeout", (3, 4)),
            "exits": ("exit", (4,)),
            "boom": ("exception", (4,)),
            "hog": ("memory", (2,)),
        }
        for workflow, (failure, lines) in expected.items():
            error = await _failure(hosting, workflow)
            assert error.reason == "invalid"
            assert error.path == assets / "workflows" / f"{workflow}.py"
            assert error.failure == failure and error.line in lines, str(error)
            assert f"(failure: {failure})" in str(error)
        # the good ones are untouched by all of it
        view = await hosting.call(CreateRun("greet", b'{"name": "Ada"}', "g1", start=False))
        assert view.status == "planned"
    assert not (env.runs / "loop-1").exists() and (env.runs / "g1").is_dir()


async def test_a_looping_file_holds_neither_creates_nor_cancels_nor_reads(
    tmp_path: Path,
) -> None:
    env = RunsEnv(tmp_path, assets=hostile_assets(tmp_path), evaluation={"timeout_s": 600})
    async with running_host(env) as hosting:
        looping = asyncio.ensure_future(hosting.call(CreateRun("loop", b"{}", "l1")))
        await asyncio.sleep(0)
        created = await hosting.call(CreateRun("greet", b'{"name": "Bo"}', "g2", start=False))
        assert created.status == "planned"
        cancelled = await hosting.call(CancelRun("g2", "not needed"))
        assert cancelled.status == "cancelled"
        runs = await hosting.call(Read("list", lambda ops: ops.list_runs()))
        assert [r.run_id for r in runs] == ["g2"]  # type: ignore[attr-defined]
        assert not looping.done()  # still evaluating (its timeout is 10 minutes)
    # Stopping the host killed the evaluation: the ask ends now, not in 10 minutes.
    with pytest.raises(Exception):  # noqa: B017 - ActorExited or the evaluator's refusal
        await looping


def test_sigterm_stops_a_server_while_a_file_loops_and_the_api_keeps_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = RunsEnv(tmp_path, assets=hostile_assets(tmp_path), evaluation={"timeout_s": 600})
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(env.config_path))
    server = ServerProcess(env)
    answers: list[object] = []

    def preview_the_loop() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=120, trust_env=False) as http:
                answers.append(http.post("/runs/preview", json={"workflow": "loop"}).status_code)
        except httpx.HTTPError as exc:
            answers.append(exc)

    previewing = threading.Thread(target=preview_the_loop)
    previewing.start()
    try:
        with server.client() as http:
            body = {"workflow": "greet", "inputs": {"name": "x"}, "id": "s1"}
            assert http.post("/runs", json=body).status_code == 201
            assert [r["run_id"] for r in http.get("/runs").json()] == ["s1"]
            listing = http.get("/assets/workflows").json()
            assert [p["failure"] for p in listing["problems"]] == ["syntax"]
            assert "greet" in {a["id"] for a in listing["assets"]}
            cancel = http.post("/runs/s1/cancel", json={})
            assert cancel.status_code in (200, 409)  # 409: it succeeded already
        assert previewing.is_alive()  # the loop is still being evaluated
    finally:
        code = server.stop()
        previewing.join(60)
    assert code != -9 and not previewing.is_alive()  # SIGTERM sufficed; no SIGKILL


async def test_a_flow_error_from_the_child_keeps_its_type_and_reason(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    async with running_host(env) as hosting:
        with pytest.raises(FlowError) as err:
            await hosting.call(CreateRun("greet", b'{"name": 5}', "bad-1"))
        assert type(err.value).__name__ == "InvalidInputs" and err.value.reason == "invalid"
        assert "$.name" in str(err.value)
