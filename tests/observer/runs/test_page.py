"""The runs page over HTTP: `GET /runs` negotiates HTML for browsers and keeps its JSON for
everyone else; a run's URL sends a browser to the page; the page's own routes (client,
stylesheet, output images) and hostile queries, headers and paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from lightflow_actors.adapters.http import create_app, prefers_html
from lightflow_actors.host import runs_part

from ...adapters.http.test_runs_routes import settle
from ...runs._support import RunsEnv

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HTML = {"accept": BROWSER}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> RunsEnv:
    return RunsEnv(tmp_path_factory.mktemp("page"))


@pytest.fixture(scope="module")
def client(env: RunsEnv) -> Iterator[TestClient]:
    part = runs_part(env.config, environ=env.environ)
    app = create_app(
        routes=part.routes, links=part.links, on_startup=part.on_startup, pages=part.pages
    )
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.post("/runs", json={"workflow": "greet", "inputs": {"name": "A"}, "id": "g1"})
        settle(c, "g1")
        yield c


def test_a_browser_gets_the_page_and_json_clients_the_api(client: TestClient) -> None:
    page = client.get("/runs", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-lf-view="runs"' in page.text
    assert 'data-lf-socket="/runs/socket"' in page.text
    assert 'data-run="g1" data-status="succeeded"' in page.text
    assert "static snapshot" in page.text and 'id="run-actions"' not in page.text
    for accept in (None, "*/*", "application/json", "application/json, text/html;q=0.5"):
        headers = {"accept": accept} if accept is not None else {}
        answer = client.get("/runs", headers=headers)
        assert answer.headers["content-type"] == "application/json", accept
        assert [r["run_id"] for r in answer.json()] == ["g1"]
    # The JSON route still refuses a query; the page takes its own.
    assert client.get("/runs?status=failed").status_code == 400
    filtered = client.get("/runs?status=failed", headers=HTML)
    assert filtered.status_code == 200 and 'data-run="g1"' not in filtered.text


def test_a_run_url_sends_a_browser_to_the_page(client: TestClient) -> None:
    moved = client.get("/runs/g1", headers=HTML, follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == "../runs?run=g1"
    shown = client.get("/runs?run=g1", headers=HTML)
    assert 'id="run" data-run="g1" data-status="succeeded"' in shown.text
    assert '<svg id="dag"' in shown.text and 'data-step="hello"' in shown.text
    assert client.get("/runs/g1").json()["run_id"] == "g1"
    assert client.get("/runs/%2E%2E", headers=HTML).status_code == 400
    missing = client.get("/runs?run=nope", headers=HTML)
    assert missing.status_code == 200 and "no run &#39;nope&#39;" in missing.text


def test_the_root_page_links_the_runs_page(client: TestClient) -> None:
    root = client.get("/")
    assert '<a href="/runs">Workflow runs</a>' in root.text
    assert "live" in root.text


def test_the_page_serves_its_client_and_stylesheet(client: TestClient) -> None:
    script = client.get("/runs/static/lightflow-live.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    css = client.get("/runs/static/runs.css")
    assert css.status_code == 200 and "#dag" in css.text


def test_an_output_image_is_served_only_from_the_run_or_the_tree(
    client: TestClient, env: RunsEnv
) -> None:
    output = env.runs / "g1" / "outputs" / "hello.json"
    original = output.read_bytes()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    (env.runs / "g1" / "pic.png").write_bytes(png)
    try:
        output.write_bytes(msgspec.json.encode({"image": "pic.png"}))
        served = client.get("/runs/g1/steps/hello/image")
        assert served.status_code == 200, served.text
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.content == png
        for named, words in (
            ("/etc/hostname.png", "outside"),
            ("../../../../../etc/x.png", "outside"),
            ("missing.png", "cannot be read"),
        ):
            output.write_bytes(msgspec.json.encode(named))
            refused = client.get("/runs/g1/steps/hello/image")
            assert refused.status_code == 404 and words in refused.json()["error"], named
        os.symlink("/etc/hostname", env.runs / "g1" / "escape.png")
        output.write_bytes(msgspec.json.encode("escape.png"))
        assert client.get("/runs/g1/steps/hello/image").status_code == 404
        output.write_bytes(b'"just text"')
        assert "names no image" in client.get("/runs/g1/steps/hello/image").json()["error"]
    finally:
        output.write_bytes(original)
    assert client.get("/runs/g1/steps/..%2F..%2Fx/image").status_code == 404
    assert client.get("/runs/%00/steps/hello/image").status_code == 400
    assert client.get("/runs/g1/steps/hello/image?x=1").status_code == 400


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    params=st.lists(
        st.tuples(
            st.sampled_from(["run", "step", "compare", "status", "workflow", "page", "x"]),
            st.text(max_size=300),
        ),
        max_size=6,
    )
)
def test_hostile_page_queries_never_break_the_page(
    client: TestClient, params: list[tuple[str, str]]
) -> None:
    answer = client.get("/runs", params=params, headers=HTML)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        assert 'data-lf-view="runs"' in answer.text
        assert "<script>" not in answer.text.split("</head>", 1)[1]


@given(st.text(max_size=5000) | st.binary(max_size=2000).map(lambda b: b.decode("latin-1")))
def test_any_accept_header_is_read_without_error(accept: str) -> None:
    assert prefers_html(accept) in (True, False)


@pytest.mark.parametrize(
    "accept,html",
    [
        (BROWSER, True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html, application/json", True),
        ("text/html;q=0", False),
        ("text/html;q=abc", False),
        ("text/html;q=7", False),
    ],
)
def test_accept_negotiation(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_a_hostile_accept_header_on_the_json_route(client: TestClient) -> None:
    for accept in (b"text/html;q=" + b"9" * 5000, b"\xff\xfe", b",,,;;;" * 1000):
        answer = client.get("/runs", headers={"accept": accept})  # type: ignore[dict-item]
        assert answer.status_code == 200


def test_a_page_not_mounted_leaves_browsers_the_json(tmp_path: Path) -> None:
    env = RunsEnv(tmp_path)
    part = runs_part(env.config, environ=env.environ)
    app = create_app(routes=part.routes, links=part.links, on_startup=part.on_startup)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        answer = c.get("/runs", headers=HTML)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
