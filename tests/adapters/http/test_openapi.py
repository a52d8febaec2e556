"""specs/openapi.yaml is the contract: schemathesis drives a real `lightflow serve` with it.

The server runs as a process on 127.0.0.1 with the demo tree and a token; every operation
but the (endless) event stream gets a bounded number of generated requests, and every
response is checked against the document (status codes, content types, schemas, no 5xx).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from starlette.routing import Route

from lightflow_actors.adapters.http import Guard, create_app, runs_routes
from lightflow_actors.host import RunsConfig, RunsHosting
from lightflow_actors.observer import observer_page
from lightflow_actors.observer.runs import RunsPage

ROOT = Path(__file__).resolve().parents[3]
SPEC = ROOT / "specs" / "openapi.yaml"
TOKEN = "openapi-test-token"
# Endless streams: tests/adapters/http/test_events.py and tests/observer/test_fallback.py
# cover them.
SKIPPED = {"GET /system/events", "GET /observer/sse"}


def _labels(routes: object) -> set[str]:
    return {
        f"{method} {route.path}"
        for route in routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }


# The runs API shares the document; tests/adapters/http/test_runs_openapi.py drives its
# operations, tests/observer/runs/test_page.py the runs page's own routes.
_HOSTING = RunsHosting(RunsConfig(), environ={})
RUNS = _labels(runs_routes(_HOSTING)) | _labels(RunsPage(_HOSTING, Guard(None)).routes())
# GET /cluster is served by `lightflow serve` on every node (its cluster part), not by
# the operator app alone; tests/host/test_cluster_route.py and the cluster tests drive it.
# GET /system/tenants is the tenants part of `lightflow serve` (tests/host/test_tenants.py).
CLUSTER = {"GET /cluster", "GET /system/tenants"}
EXAMPLES = 25

# The live fallbacks take frames as NDJSON text (specs/live-wire.md §17): sent as is. A
# connection id schemathesis makes up never names an open connection: 410 Gone, as the
# spec says, though the request fits the schema.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
EXCLUDED = {path: [positive_data_acceptance] for path in ("/observer/sse", "/observer/poll")}


@pytest.fixture(scope="module")
def server_url(
    demo_process: Callable[[str], contextlib.AbstractContextManager[str]],
) -> Iterator[str]:
    with demo_process(TOKEN) as url:
        yield url


def load(url: str) -> OpenApiSchema:
    return schemathesis.openapi.from_url(f"{url}/openapi.yaml")


def test_every_operation_conforms(server_url: str) -> None:
    schema = load(server_url)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED or label in RUNS:
            continue
        tested.append(label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
                excluded_checks=EXCLUDED.get(case.operation.path, []),
            )

        check()
    # schemathesis leaves out the operation that serves the document it loaded.
    assert len(tested) == 19 and "GET /openapi.yaml" not in tested, tested
    with httpx.Client(base_url=server_url) as client:
        assert client.get("/health").status_code == 200  # still serving after all that


def test_the_document_lists_exactly_the_routes() -> None:
    document = yaml.safe_load(SPEC.read_text())
    documented = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    served = _labels(create_app(pages=[observer_page()]).starlette.routes) | RUNS
    assert documented == served | CLUSTER


def test_the_served_document_is_the_spec_file(server_url: str) -> None:
    with httpx.Client(base_url=server_url) as client:
        served = client.get("/openapi.yaml")
    assert served.status_code == 200
    assert served.text == SPEC.read_text()
    assert os.path.realpath(SPEC).endswith("lightflow_actors/adapters/http/static/openapi.yaml")
