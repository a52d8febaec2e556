"""Hostile request bodies on every HTTP route of the real app (invalid UTF-8, 5 000 levels
of nesting, bodies over the limit, chunked or declared): each is a 400 or 413 with a JSON
error naming the problem, no actor crashes, and the app keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from lightflow_actors.adapters.http import RUNS_LINKS, create_app, runs_routes
from lightflow_actors.adapters.http._inputs import OPERATOR, RUNS
from lightflow_actors.host import RunsHosting

from ...runs._support import RunsEnv
from .test_runs_routes import settle

DEEP = b"[" * 5000 + b"]" * 5000
BAD_UTF8 = b'{"workflow": "greet", "inputs": {"name": "\xff"}}'


def make_client(env: RunsEnv) -> TestClient:
    hosting = RunsHosting(env.config, environ=env.environ, mcp=True)
    app = create_app(routes=runs_routes(hosting), links=RUNS_LINKS, on_startup=hosting.start)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=True)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with make_client(RunsEnv(tmp_path_factory.mktemp("hostile"))) as c:
        yield c


def restarts(client: TestClient) -> dict[str, int]:
    nodes = client.get("/system/tree").json()["nodes"]
    return {f"{n['id']}:{n['name']}": n["restarts"] for n in nodes}


def test_invalid_utf8_in_run_inputs_is_a_400_naming_the_field_and_crashes_nothing(
    client: TestClient,
) -> None:
    # Before: msgspec raised UnicodeDecodeError inside the runs actor, six of them made its
    # supervisor give up, and every later POST /runs failed.
    before = restarts(client)
    for _ in range(6):
        answer = client.post("/runs", content=BAD_UTF8)
        assert answer.status_code == 400, answer.text
        error = answer.json()
        assert error["field"] == "body.inputs.name"
        assert "UTF-8" in error["error"]
        preview = client.post("/runs/preview", content=BAD_UTF8)
        assert preview.status_code == 400 and preview.json()["field"] == "body.inputs.name"
    assert restarts(client) == before
    created = client.post("/runs", json={"workflow": "greet", "inputs": {"name": "ok"}})
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    settle(client, run_id)
    assert client.get(f"/runs/{run_id}/status").json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"workflow": "greet", "inputs": {"a": ' + DEEP + b"}}", "body", "deeply"),
        (b'{"workflow": "greet", "inputs": ' + DEEP + b"}", "body", "deeply"),
        (b'{"workflow": "gr\xc3\x28eet"}', "body.workflow", "UTF-8"),
        (b'{"wo\xffrkflow": "greet"}', "body.wo\ufffdrkflow", "UTF-8"),
        (b'{"workflow": "greet", "inputs": {"\xfe": 1}}', "body.inputs.\ufffd", "UTF-8"),
        (
            b'{"workflow": "greet", "inputs": {"a": [1, "\xed\xa0\x80"]}}',
            "body.inputs.a.1",
            "UTF-8",
        ),
        (b"\xff" + b"{}", "body", "UTF-8"),
    ],
)
def test_deep_nesting_and_invalid_utf8_are_400s_naming_the_field(
    client: TestClient, body: bytes, field: str, words: str
) -> None:
    for path in ("/runs", "/runs/preview"):
        answer = client.post(path, content=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == field
        assert words in answer.json()["error"]


def post_routes(client: TestClient) -> list[str]:
    app = client.app
    paths = [r.path for r in app.starlette.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert "/runs/{id}/steps/{step}/submit" in paths
    filled = {"/runs/{id}/steps/{step}/submit": "/runs/r1/steps/s1/submit"}
    out: list[str] = []
    for route in app.starlette.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            path = filled.get(route.path, route.path.replace("{id}", "1"))
            out.append(path)
    return out


def test_every_post_route_answers_hostile_bodies_with_400_or_413(client: TestClient) -> None:
    routes = post_routes(client)
    assert {"/runs", "/runs/preview", "/actors/1/stop", "/mcp"} <= set(routes)
    headers = {"content-type": "application/json", "accept": "application/json"}
    for path in routes:
        limit = OPERATOR.max_body_bytes if path.startswith("/actors") else RUNS.max_body_bytes
        for body, statuses in (
            (b'{"x": "\xff\xfe"}', {400}),
            (b"\xff", {400}),
            (DEEP, {400}),
            (b"{" * 3000, {400}),
            (b" " * (limit + 1), {413}),
        ):
            answer = client.post(path, content=body, headers=headers)
            assert answer.status_code in statuses, (path, body[:20], answer.text)
            assert answer.headers["content-type"].startswith("application/json")
            text = answer.text
            assert text and msgspec.json.decode(answer.content), path
        # a chunked body (no Content-Length) over the limit is refused as it streams
        chunks = (b" " * 65536 for _ in range(limit // 65536 + 2))
        answer = client.post(path, content=chunks, headers=headers)
        assert answer.status_code == 413, (path, answer.text)
        assert "limit" in answer.text
    assert client.get("/health").json()["status"] == "ok"


def test_a_declared_length_over_the_limit_is_refused_before_reading(client: TestClient) -> None:
    # The body is never sent in full: the declared length alone decides.
    answer = client.post(
        "/runs",
        content=b"{}",
        headers={
            "content-length": str(RUNS.max_body_bytes + 1),
            "content-type": "application/json",
        },
    )
    assert answer.status_code == 413
    assert answer.json()["field"] == "body"


def test_a_body_at_the_limit_is_still_decoded(tmp_path: Path) -> None:
    with make_client(RunsEnv(tmp_path)) as client:
        padding = RUNS.max_body_bytes - len(b'{"reason": ""}')
        body = b'{"reason": "' + b"r" * 10 + b'"}' + b" " * (padding - 10)
        assert len(body) == RUNS.max_body_bytes
        answer = client.post("/runs/nobody/cancel", content=body)
        assert answer.status_code == 404, answer.text  # decoded, then: no such run


def test_every_get_route_answers_bad_paths_queries_and_headers_without_a_500(
    client: TestClient,
) -> None:
    # Percent-encoded invalid UTF-8, a NUL, a lone surrogate in path parameters and
    # queries; a Last-Event-ID that is not ASCII. Each is a JSON 4xx (a path parameter
    # that is merely unknown: 404), never a 500, and never a stream opened on it. (The
    # pages and static files take no input and answer them 200.)
    pages = {"/", "/observer.css", "/openapi.yaml", "/observer"}
    gets = [
        r.path
        for r in client.app.starlette.routes  # type: ignore[attr-defined]
        if isinstance(r, Route) and "GET" in (r.methods or ()) and r.path not in pages
    ]
    assert "/runtime/streams/{id}/events.sse" in gets and "/system/events" in gets
    checked = 0
    for route in gets:
        for bad in ("%FF", "a%00b%ED%A0%80"):
            path = route.replace("{id}", bad).replace("{kind}", bad)
            queries = ["?after=%FF", "?%FF=1", "?root=%FF&limit=%C3%28"]
            if path != route and not path.endswith(("/events", ".sse")):
                queries.append("")
            for query in queries:
                answer = client.get(path + query, headers={"last-event-id": b"\xff1"})
                assert 400 <= answer.status_code < 500, (path + query, answer.text)
                assert answer.headers["content-type"].startswith("application/json")
                assert msgspec.json.decode(answer.content)["error"]
                checked += 1
    assert checked > 60
    assert client.get("/health").json()["status"] == "ok"


def test_mcp_refuses_bad_bodies_with_json_rpc_errors_before_the_sdk(client: TestClient) -> None:
    headers = {"content-type": "application/json", "accept": "application/json"}
    for body, status, code in (
        (b'{"jsonrpc": "2.0", "id": 1, "method": "\xff"}', 400, -32700),
        (DEEP, 400, -32700),
        (b"[" * 3000, 400, -32700),
        (b" " * (RUNS.max_body_bytes + 1), 413, -32600),
    ):
        answer = client.post("/mcp", content=body, headers=headers)
        assert answer.status_code == status, answer.text
        refusal = answer.json()
        assert refusal["jsonrpc"] == "2.0" and refusal["id"] is None
        assert refusal["error"]["code"] == code and refusal["field"].startswith("body")
    assert "UTF-8" in client.post("/mcp", content=b'"\xff"', headers=headers).text
    listed = client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={**headers, "mcp-protocol-version": "2025-06-18"},
    )
    assert listed.status_code == 200, listed.text
    assert "create_run" in listed.text
