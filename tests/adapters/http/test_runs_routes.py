"""The runs HTTP routes on the operator app (Starlette TestClient: the app and its actor
system run in the client's portal thread): every route, its errors, the token guard, and
hypothesis on bodies and run ids."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from lightflow_actors.adapters.http import RUNS_LINKS, create_app, runs_routes
from lightflow_actors.flow.streams import RuntimeStreamReader, decode_runtime_frame
from lightflow_actors.host import RunsHosting

from ...runs._support import RunsEnv, hostile_assets

TOKEN = "runs-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_client(env: RunsEnv, token: str | None = None) -> TestClient:
    hosting = RunsHosting(env.config, environ=env.environ, mcp=False)
    app = create_app(
        token=token,
        routes=runs_routes(hosting, token=token),
        links=RUNS_LINKS,
        on_startup=hosting.start,
    )
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> RunsEnv:
    return RunsEnv(tmp_path_factory.mktemp("routes"))


@pytest.fixture(scope="module")
def client(env: RunsEnv) -> Iterator[TestClient]:
    with make_client(env) as c:
        yield c


def settle(client: TestClient, run_id: str) -> bytes:
    """The run's live frame stream, read to its end (it ends when the run settles)."""
    response = client.get(f"/runtime/streams/{quote(run_id, safe='')}/events")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-lightflow-frames"
    return response.content


def run_dirs(env: RunsEnv) -> set[str]:
    return {p.name for p in env.runs.iterdir()} if env.runs.exists() else set()


def test_create_follow_and_read_a_run(client: TestClient, env: RunsEnv) -> None:
    created = client.post(
        "/runs", json={"workflow": "fanout", "inputs": {"topic": "tea"}, "id": "h1"}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "runs/h1"
    assert created.json()["status"] == "planned"
    frames = RuntimeStreamReader().feed(settle(client, "h1"))
    assert [f.sequence for f in frames] == list(range(1, len(frames) + 1))
    assert all(f.kind.name == "RunEvent" and f.run_id == "h1" for f in frames)
    events = client.get("/runs/h1/events")
    assert events.headers["content-type"] == "application/x-ndjson"
    lines = [msgspec.json.decode(line) for line in events.content.splitlines()]
    assert [f.payload() for f in frames] == lines
    assert lines[-1]["event"] == "step.succeeded"
    assert client.get("/runs/h1/status").json() == {
        "run_id": "h1",
        "status": "succeeded",
        "steps": dict.fromkeys(["plan", "left", "right", "join", "tell"], "succeeded"),
    }
    run = client.get("/runs/h1").json()
    assert run["status"] == "succeeded" and len(run["steps"]) == 5
    assert client.get("/runs/h1/request").json()["inputs"] == {"topic": "tea"}
    assert client.get("/runs/h1/workflow").json()["steps"][0]["id"] == "plan"
    trace = [msgspec.json.decode(x) for x in client.get("/runs/h1/trace").content.splitlines()]
    assert {t["record"] for t in trace} == {"cortex.request.committed", "cortex.response.observed"}
    assert "h1" in {r["run_id"] for r in client.get("/runs").json()}
    snapshot = client.get("/runtime/streams/h1/snapshot.fb")
    assert snapshot.content[4:8] == b"LFRS"
    frame = decode_runtime_frame(snapshot.content)
    assert (frame.kind.name, frame.status, frame.sequence) == (
        "RunSnapshot",
        "succeeded",
        len(lines),
    )
    assert frame.payload() == run
    info = client.get("/runtime/streams").json()
    assert info["file_identifier"] == "LFRS" and "h1" in {r["run_id"] for r in info["runs"]}
    schema = client.get("/runtime/streams/schema.fbs")
    assert 'file_identifier "LFRS";' in schema.text
    later = RuntimeStreamReader().feed(
        client.get("/runtime/streams/h1/events", params={"after": 3}).content
    )
    assert [f.sequence for f in later] == list(range(4, len(lines) + 1))


def test_sse_variant_resumes_after_last_event_id(client: TestClient) -> None:
    client.post("/runs", json={"workflow": "greet", "inputs": {"name": "sse"}, "id": "sse-1"})
    body = client.get("/runtime/streams/sse-1/events.sse").text
    assert body.endswith('event: end\ndata: {"status":"succeeded"}\n\n')
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == [1, 2, 3]
    again = client.get("/runtime/streams/sse-1/events.sse", headers={"Last-Event-ID": "2"}).text
    assert [line for line in again.splitlines() if line.startswith("id: ")] == ["id: 3"]


def test_assets_abi_and_preview(client: TestClient, env: RunsEnv) -> None:
    listing = client.get("/assets").json()
    assert {a["id"] for a in listing["assets"]} >= {"greet", "chain", "fanout", "mock", "quick"}
    assert listing["problems"] == []
    assert {a["kind"] for a in client.get("/assets/workflows").json()["assets"]} == {"workflow"}
    assert client.get("/assets/model").json()["assets"][0]["id"] == "mock"
    bad = client.get("/assets/gadgets")
    assert bad.status_code == 400 and "unknown asset kind" in bad.json()["error"]
    abi = client.get("/ctx/abi").json()
    assert abi["mount"] == str(env.state / "ctx")
    assert abi["api"].startswith(abi["home"])
    before = run_dirs(env)
    preview = client.post("/runs/preview", json={"workflow": "greet", "inputs": {"name": "p"}})
    assert preview.status_code == 200
    assert preview.json()["steps"][0]["request"]["messages"][0]["content"] == "Greet p 1 times"
    assert run_dirs(env) == before


@pytest.mark.parametrize(
    "method,path,body,status,words",
    [
        ("GET", "/runs/%2E%2E", None, 400, "reserved"),
        ("GET", "/runs/%2E", None, 400, "reserved"),
        ("GET", "/runs/a%00b", None, 400, "NUL"),
        ("GET", "/runs/" + "x" * 10_000, None, 400, "limit"),
        ("GET", "/runs/a%2Fb", None, 404, "no route"),
        ("GET", "/runs/nobody", None, 404, "no run"),
        ("GET", "/runs/nobody/events", None, 404, "no run"),
        ("GET", "/runtime/streams/nobody/snapshot.fb", None, 404, "no run"),
        ("GET", "/runtime/streams/nobody/events", None, 404, "no run"),
        ("GET", "/runs?limit=3", None, 400, "limit"),
        ("GET", "/runtime/streams/h1/events?after=-1", None, 400, "after"),
        ("GET", "/runtime/streams/h1/events?after=1&after=2", None, 400, "more than once"),
        ("POST", "/runs", b'{"workflow": "greet", "inputs": {"name": ', 400, "not valid JSON"),
        ("POST", "/runs", b'{"workflow": "greet", "inputs": {"name": 3}}', 400, "$.name"),
        ("POST", "/runs", b'{"workflow": "greet", "inputs": [1]}', 400, "JSON object"),
        ("POST", "/runs", b'{"workflow": "greet", "inptus": {}}', 400, "inptus"),
        ("POST", "/runs", b'{"inputs": {}}', 400, "workflow"),
        ("POST", "/runs", b'{"workflow": "greet", "id": ".."}', 400, "reserved"),
        ("POST", "/runs", b'{"workflow": "greet", "id": "a/b"}', 400, "'/'"),
        ("POST", "/runs", b'{"workflow": 7}', 400, "workflow"),
        ("POST", "/runs", b'{"workflow": "nope"}', 404, "no workflow"),
        ("POST", "/runs", b'{"workflow": "mistyped"}', 400, "{inputs.tags} is list[str]"),
        ("POST", "/runs/preview", b'{"workflow": "mistyped"}', 400, "only str, int"),
        (
            "POST",
            "/runs",
            b'{"workflow": "greet", "inputs": {"name": "x"}, "id": "h1"}',
            409,
            "exists",
        ),
        ("POST", "/runs", b"x" * (3 << 20), 413, "limit"),
        ("POST", "/runs/h1/cancel", b"{}", 409, "already succeeded"),
        ("POST", "/runs/h1/steps/nope/submit", b"", 404, "no step"),
        ("POST", "/runs/h1/steps/plan/submit", b"", 409, "succeeded"),
        ("POST", "/runs/h1/refresh", b'{"x": 1}', 400, "x"),
        ("POST", "/runs/nobody/cancel", b"", 404, "no run"),
        ("DELETE", "/runs/h1", None, 405, "not allowed"),
    ],
)
def test_errors_are_json_with_their_status(
    client: TestClient,
    env: RunsEnv,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    words: str,
) -> None:
    if client.get("/runs/h1").status_code == 404:
        client.post("/runs", json={"workflow": "greet", "inputs": {"name": "h"}, "id": "h1"})
        settle(client, "h1")
    before = run_dirs(env)
    response = client.request(method, path, content=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error
    assert run_dirs(env) == before


def test_post_routes_need_the_token_when_the_server_has_one(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    with make_client(env, token=TOKEN) as client:
        body = {"workflow": "greet", "inputs": {"name": "t"}, "id": "t1"}
        assert client.post("/runs", json=body).status_code == 401
        wrong = client.post("/runs", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403
        foreign = client.post("/runs", json=body, headers={**AUTH, "Origin": "http://evil.test"})
        assert foreign.status_code == 403
        assert client.post("/mcp", json={}).status_code == 401
        assert run_dirs(env) == set()
        assert client.post("/runs", json=body, headers=AUTH).status_code == 201
        assert client.get("/runs/t1").status_code == 200  # reads need no token
        settle(client, "t1")


def test_a_broken_asset_is_named_beside_the_good_ones(tmp_path: Path) -> None:
    assets = hostile_assets(tmp_path)
    env = RunsEnv(tmp_path, assets=assets, evaluation={"timeout_s": 2})
    broken = assets / "workflows" / "syntax.py"
    with make_client(env) as client:
        listing = client.get("/assets")
        assert listing.status_code == 200
        (problem,) = listing.json()["problems"]
        assert problem["path"] == str(broken) and problem["line"] == 2
        assert problem["failure"] == "syntax" and problem["kind"] == "workflow"
        assert client.get("/assets/models").json()["problems"] == []
        for workflow, line, failure in (("exits", 4, "exit"), ("boom", 4, "exception")):
            answer = client.post("/runs/preview", json={"workflow": workflow})
            assert answer.status_code == 400
            error = answer.json()["error"]
            assert f"{assets / 'workflows' / workflow}.py:{line}:" in error
            assert f"(failure: {failure})" in error
        created = client.post("/runs", json={"workflow": "greet", "inputs": {"name": "x"}})
        assert created.status_code == 201  # one bad file breaks no other asset
        broken.unlink()
        assert client.get("/assets").json()["problems"] == []  # fixed: seen at the next call
        settle(client, created.json()["run_id"])


def test_a_runs_model_is_a_body_field_recorded_with_the_run(
    client: TestClient, env: RunsEnv
) -> None:
    body = {"workflow": "greet", "inputs": {"name": "Ada"}, "id": "mo1", "model": "gpt-4.1"}
    created = client.post("/runs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["model"] == "gpt-4.1"
    settle(client, "mo1")
    assert client.get("/runs/mo1").json()["model"] == "gpt-4.1"
    assert client.get("/runs/mo1/request").json()["model"] == "gpt-4.1"
    (step,) = client.get("/runs/mo1/workflow").json()["steps"]
    assert step["request"]["model"] == step["model"]["name"] == "gpt-4.1"
    trace = [
        msgspec.json.decode(line) for line in client.get("/runs/mo1/trace").content.splitlines()
    ]
    assert trace[0]["record"] == "cortex.request.committed" and trace[0]["model"] == "gpt-4.1"
    preview = client.post(
        "/runs/preview", json={"workflow": "greet", "inputs": {"name": "x"}, "model": "mock"}
    )
    assert preview.status_code == 200 and preview.json()["model"] == "mock"
    for bad in ("a b", "", "x" * 201, 5):
        refused = client.post("/runs", json={**body, "id": "mo2", "model": bad})
        assert refused.status_code == 400 and "model" in refused.json()["error"]
    assert "mo2" not in run_dirs(env)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(msgspec.json.encode),
    st.fixed_dictionaries(
        {"workflow": st.sampled_from(["greet", "chain", "nope", ""])},
        optional={
            "inputs": json_values,
            "id": st.text(max_size=30),
            "preset": st.text(max_size=5) | st.none(),
            "model": st.sampled_from(["gpt-4.1", "mock", "a b", ""]) | st.text(max_size=8),
        },
    ).map(msgspec.json.encode),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_any_create_body_gets_a_json_answer_and_refusals_write_nothing(
    client: TestClient, env: RunsEnv, body: bytes
) -> None:
    before = run_dirs(env)
    response = client.post("/runs", content=body)
    assert response.status_code in (201, 400, 404, 409), response.text
    if response.status_code == 201:
        assert run_dirs(env) == before | {response.json()["run_id"]}
        client.post(f"/runs/{quote(response.json()['run_id'], safe='')}/cancel")
    else:
        assert isinstance(response.json()["error"], str)
        assert run_dirs(env) == before


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(run_id=st.text(min_size=1, max_size=300))
def test_any_run_id_in_a_path_is_answered_without_a_500(client: TestClient, run_id: str) -> None:
    for suffix in ("", "/status", "/events"):
        response = client.get(f"/runs/{quote(run_id, safe='')}{suffix}")
        assert response.status_code in (200, 400, 404), response.text
        if response.status_code != 200:
            assert isinstance(response.json()["error"], str)
