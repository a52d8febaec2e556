"""The routes and aliases added for everyday runs: `POST /runs/{id}/retry`, `GET /workflows`,
the preview body's seed names; every one with malformed, oversized, deeply nested and
invalid-UTF-8 input answered by a clear error that writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ...runs._support import RunsEnv
from .test_runs_routes import make_client, run_dirs, settle

STEPS = [f"s{n}" for n in range(1, 11)]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """While this file exists, step 5 of `chain` fails (`gated_chat`)."""
    path = tmp_path_factory.mktemp("gate") / "gate"
    path.touch()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIGHTFLOW_TEST_GATE", str(path))
        yield path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, gate: Path) -> RunsEnv:
    return RunsEnv(tmp_path_factory.mktemp("retry"), provider="gated_chat")


@pytest.fixture(scope="module")
def client(env: RunsEnv) -> Iterator[TestClient]:
    with make_client(env) as c:
        yield c


def test_a_failed_run_is_retried_over_http(client: TestClient, env: RunsEnv, gate: Path) -> None:
    assert client.post("/runs", json={"workflow": "chain", "id": "h1"}).status_code == 201
    settle(client, "h1")
    assert client.get("/runs/h1").json()["status"] == "failed"
    planned = [s for s in client.get("/runs/h1").json()["steps"] if s["status"] == "planned"]
    assert [s["id"] for s in planned] == STEPS[5:]  # never started, and they say so

    gate.unlink()
    retried = client.post("/runs/h1/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "running"
    settle(client, "h1")
    done = client.get("/runs/h1").json()
    assert done["status"] == "succeeded"
    assert {s["id"]: s["attempts"] for s in done["steps"]} == {
        **dict.fromkeys(STEPS, 1),
        "s5": 4,
    }
    events = [line for line in client.get("/runs/h1/events").text.splitlines()]
    assert sum('"event":"run.retried"' in line for line in events) == 1

    again = client.post("/runs/h1/retry")
    assert again.status_code == 409
    assert "succeeded; there is nothing to retry" in again.json()["error"]
    assert client.post("/runs/none/retry").status_code == 404


@pytest.mark.parametrize(
    "body,status,words",
    [
        (b'{"x": 1}', 400, "unknown field"),
        (b"{", 400, "not valid JSON"),
        (b"[1]", 400, "invalid request body"),
        (b'{"a": "\xff"}', 400, "body"),
        (b"[" * 50_000 + b"]" * 50_000, 400, "body"),
        (b" " * (3 << 20), 413, "limit"),
    ],
)
def test_a_bad_retry_body_is_refused_and_writes_nothing(
    client: TestClient, env: RunsEnv, body: bytes, status: int, words: str
) -> None:
    client.post("/runs", json={"workflow": "chain", "id": "planned-1"}, params=None)
    before = run_dirs(env)
    events = (env.runs / "planned-1" / "events.jsonl").read_bytes()
    answer = client.post(
        "/runs/planned-1/retry", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert run_dirs(env) == before
    # The run goes on as it was (a failed-or-not run is never changed by a refused retry).
    assert (env.runs / "planned-1" / "events.jsonl").read_bytes()[: len(events)] == events


@pytest.mark.parametrize(
    "path,status",
    [
        ("/runs/..%2F..%2Fetc/retry", 404),  # a `/` in the id: no such route
        ("/runs/%2E%2E/retry", 400),
        ("/runs/%00/retry", 400),
        ("/runs/" + "x" * 300 + "/retry", 400),
        ("/runs/h1/retry?force=1", 400),
    ],
)
def test_a_bad_run_id_or_query_on_retry_is_refused(
    client: TestClient, path: str, status: int
) -> None:
    answer = client.post(path)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]


def test_workflows_and_the_preview_aliases(client: TestClient) -> None:
    workflows = client.get("/workflows")
    assert workflows.status_code == 200
    assert workflows.json() == client.get("/assets/workflows").json()
    assert client.get("/workflows?kind=x").status_code == 400

    named = client.post("/runs/preview", json={"workflow": "greet", "inputs": {"name": "A"}})
    seed = client.post(
        "/runs/preview",
        json={"workflow_asset_id": "greet", "inputs": {"name": "A"}, "run_id": "greet-1"},
    )
    assert seed.status_code == 200, seed.text
    assert seed.json() == named.json()
    both = client.post("/runs/preview", json={"workflow": "greet", "workflow_asset_id": "greet"})
    assert both.status_code == 400  # the same workflow named twice is fine; `name` is missing
    assert "name" in both.json()["error"]
    for body, words in (
        ({"inputs": {}}, "names no workflow"),
        ({"workflow": "greet", "workflow_asset_id": "chain"}, "two different workflows"),
        ({"workflow_asset_id": "greet", "run_id": "../x"}, "'/'"),
        ({"workflow_asset_id": "greet", "run_id": ".."}, "reserved"),
        ({"workflow_asset_id": "", "inputs": {}}, "body"),
        ({"workflow_asset_id": 7}, "body"),
    ):
        answer = client.post("/runs/preview", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert words in answer.json()["error"], (body, answer.json())


@pytest.mark.parametrize("route", ["/runs/preview", "/runs", "/runs/h1/retry", "/runs/h1/cancel"])
@pytest.mark.parametrize(
    "body,words",
    [
        (b'{"workflow": "\xff"}', "not valid UTF-8"),
        (
            b'{"workflow": "greet", "inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            "too deeply",
        ),
        (b'{"inputs": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", "too deeply"),
    ],
)
def test_invalid_utf8_and_deep_nesting_are_400_not_500(
    client: TestClient, env: RunsEnv, route: str, body: bytes, words: str
) -> None:
    before = run_dirs(env)
    answer = client.post(route, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"].startswith("body")
    if route in ("/runs/preview", "/runs"):
        assert words in answer.json()["error"]
    assert run_dirs(env) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=64),
        st.dictionaries(
            st.sampled_from(["workflow", "workflow_asset_id", "run_id", "inputs", "x"]),
            st.one_of(st.text(max_size=20), st.integers(), st.none()),
            max_size=4,
        ).map(lambda d: __import__("json").dumps(d).encode()),
    )
)
def test_any_preview_body_gets_a_json_answer_without_a_500(
    client: TestClient, env: RunsEnv, body: bytes
) -> None:
    before = run_dirs(env)
    answer = client.post(
        "/runs/preview", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code in (200, 400, 404), answer.text
    assert isinstance(answer.json(), list | dict)
    assert run_dirs(env) == before
