"""specs/openapi.yaml is the contract of the runs routes (its runs part): schemathesis
drives a real server process with it (a bounded number of generated requests per operation, every
response checked: documented status, content type, schema, no 5xx); the document lists
exactly the served routes, and its schemas are the msgspec types' own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from starlette.routing import Route

from lightflow_actors.adapters.http import runs_routes
from lightflow_actors.cortex import AbiRecord, DeadLetters
from lightflow_actors.flow import (
    AssetListing,
    ResolvedWorkflow,
    RunRequest,
    RunStatusView,
    RunSummary,
    RunView,
)
from lightflow_actors.flow.streams import StreamsInfo
from lightflow_actors.host import RunsConfig, RunsHosting

from ...runs._support import ServerProcess

SPEC = Path(__file__).resolve().parents[3] / "specs" / "openapi.yaml"
EXAMPLES = 15
SKIPPED = {"POST /mcp"}  # JSON-RPC, not REST: tests/runs/test_server.py drives it with the SDK


def test_every_operation_conforms(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    with server.client() as http:  # a run to find, so some generated ids hit a real one
        http.post("/runs", json={"workflow": "greet", "inputs": {"name": "x"}, "id": "0"})
    schema = schemathesis.openapi.from_path(SPEC)
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED or label not in SERVED:
            continue  # the operator routes: tests/adapters/http/test_openapi.py drives them
        tested.append(label)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url, timeout=30)

        check()
    assert len(tested) == 23, tested
    with server.client() as http:
        assert http.get("/runs/0/status").status_code == 200  # still serving after all that


SERVED = {
    f"{method} {route.path}"
    for route in runs_routes(RunsHosting(RunsConfig(), environ={}))
    if isinstance(route, Route)
    for method in (route.methods or ()) - {"HEAD"}
}


def test_the_document_lists_every_runs_route() -> None:
    """The whole document against every served route: tests/adapters/http/test_openapi.py."""
    document = yaml.safe_load(SPEC.read_text())
    documented = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    assert documented >= SERVED


def test_the_schemas_are_the_msgspec_types() -> None:
    document = yaml.safe_load(SPEC.read_text())
    _, components = msgspec.json.schema_components(
        [
            AssetListing,
            AbiRecord,
            DeadLetters,
            RunSummary,
            RunView,
            RunStatusView,
            RunRequest,
            ResolvedWorkflow,
            StreamsInfo,
        ],
        ref_template="#/components/schemas/{name}",
    )
    schemas = document["components"]["schemas"]
    for name, schema in components.items():
        assert schemas[name] == msgspec.json.decode(msgspec.json.encode(schema)), name
