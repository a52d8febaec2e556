"""Runs carry their tenant (ADR 0104): ``POST /runs`` takes it from the body's
``tenant`` or the ``X-Lightflow-Tenant`` header; it is written in ``request.json``, the
manifest, the ``run.created`` event and every ``cortex.request.committed`` trace record,
beside each committed request (``<id>.tenant``) and on the run actor in the operator tree.
Past its ``runs_in_flight`` a tenant's create is refused with 429 and ``Retry-After``,
recorded in the ledger; other tenants are not affected, and a run that ends frees its place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import create_app, runs_routes
from lightflow_actors.host import RunsHosting
from lightflow_actors.supervision import system_tree
from lightflow_actors.tenants import TENANT_PATTERN, Budgets, TenantLedger, TenantsConfig

from ._support import RunsEnv

CONFIG = TenantsConfig(tenants={"acme": Budgets(runs_in_flight=2)})


@pytest.fixture
def hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """While this file exists, the `fanout` runs' join step is held (runs stay in flight)."""
    path = tmp_path / "hold"
    path.touch()
    monkeypatch.setenv("LIGHTFLOW_TEST_HOLD", str(path))
    return path


@pytest.fixture
def served(tmp_path: Path, hold: Path) -> Iterator[tuple[TestClient, RunsHosting]]:
    env = RunsEnv(tmp_path, provider="held_chat", blocking=True)

    def ledger(system: ActorSystem) -> TenantLedger:
        return TenantLedger(CONFIG, clock=system.clock)

    hosting = RunsHosting(env.config, environ=env.environ, mcp=False, tenants=ledger)
    app = create_app(routes=runs_routes(hosting), on_startup=hosting.start)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, hosting


def create(client: TestClient, run_id: str, tenant: str | None, *, header: bool = False) -> Any:
    body: dict[str, object] = {"workflow": "fanout", "inputs": {"topic": "t"}, "id": run_id}
    headers = {}
    if tenant is not None and header:
        headers["X-Lightflow-Tenant"] = tenant
    elif tenant is not None:
        body["tenant"] = tenant
    return client.post("/runs", json=body, headers=headers)


def until(condition: Callable[[], bool], client: TestClient, limit_s: float = 60.0) -> None:
    """Wait for `condition` (the app's loop runs in the client's thread); `limit_s` only
    bounds a hang, it asserts nothing about speed."""
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, "gave up waiting"
        client.get("/health")
        time.sleep(0.01)


def settle(client: TestClient, run_id: str) -> None:
    response = client.get(f"/runtime/streams/{run_id}/events")
    assert response.status_code == 200, response.text


def test_runs_past_the_tenants_runs_in_flight_get_429_and_others_go_on(
    served: tuple[TestClient, RunsHosting], hold: Path
) -> None:
    client, hosting = served
    assert create(client, "a1", "acme").status_code == 201
    assert create(client, "a2", "acme", header=True).status_code == 201
    refused = create(client, "a3", "acme")
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    assert (
        "tenant 'acme' is over its runs_in_flight budget (2 runs in flight)"
        in (refused.json()["error"])
    )
    assert client.get("/runs/a3").status_code == 404  # nothing was written
    for n in range(3):  # another tenant, and the default one, are not limited
        assert create(client, f"b{n}", "beta").status_code == 201
    assert create(client, "anon", None).status_code == 201
    ledger = hosting.tenants
    assert ledger is not None
    [event] = ledger.events()
    assert (event.kind, event.tenant, event.budget, event.limit) == (
        "refused",
        "acme",
        "runs_in_flight",
        2,
    )
    usage = {u.tenant: u for u in ledger.usage()}
    assert usage["acme"].runs_in_flight == 2 and usage["acme"].refused == {"runs_in_flight": 1}
    hold.unlink()  # the runs finish: their places are free again
    for run_id in ("a1", "a2"):
        settle(client, run_id)
    until(lambda: {u.tenant: u.runs_in_flight for u in ledger.usage()}["acme"] == 0, client)
    assert create(client, "a3", "acme").status_code == 201
    settle(client, "a3")


def test_the_tenant_is_in_the_run_files_events_traces_and_tree(
    served: tuple[TestClient, RunsHosting], hold: Path
) -> None:
    client, hosting = served
    assert create(client, "t1", "acme", header=True).json()["tenant"] == "acme"
    assert "tenant" not in create(client, "t0", None).json()
    system = hosting._system
    assert system is not None
    stack, runs = list(system_tree(system).roots), {}
    while stack:
        node = stack.pop()
        if node.actor_class == "HostedRun":
            runs[node.child_id] = node.tenant
        stack.extend(node.children)
    assert runs == {"run:t1": "acme", "run:t0": "default"}
    hold.unlink()
    settle(client, "t1")
    assert client.get("/runs/t1/request").json()["tenant"] == "acme"
    assert client.get("/runs/t1").json()["tenant"] == "acme"
    events = [msgspec.json.decode(x) for x in client.get("/runs/t1/events").content.splitlines()]
    assert events[0]["event"] == "run.created" and events[0]["tenant"] == "acme"
    trace = [msgspec.json.decode(x) for x in client.get("/runs/t1/trace").content.splitlines()]
    committed = [r for r in trace if r["record"] == "cortex.request.committed"]
    assert committed and all(r["tenant"] == "acme" for r in committed)
    for record in committed:  # beside each request: whose it is, for the substrate
        request = Path(record["path"])
        tenant_file = request.with_name(request.name.replace(".req.json", ".tenant"))
        assert tenant_file.read_bytes() == b"acme"
    settle(client, "t0")
    plain = [msgspec.json.decode(x) for x in client.get("/runs/t0/trace").content.splitlines()]
    assert all("tenant" not in r for r in plain)


@pytest.mark.parametrize("where", ["body", "header"])
def test_a_bad_tenant_is_refused_with_400_naming_where_it_was(
    served: tuple[TestClient, RunsHosting], where: str
) -> None:
    client, _ = served
    response = create(client, "bad", "../etc", header=where == "header")
    assert response.status_code == 400, response.text
    named = "header X-Lightflow-Tenant" if where == "header" else "tenant"
    assert named in response.text
    assert client.get("/runs/bad").status_code == 404


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tenant=st.text(max_size=80))
def test_hostile_tenants_in_the_body_are_refused_or_taken_as_they_are(
    served: tuple[TestClient, RunsHosting], tenant: str
) -> None:
    import re

    client, _ = served
    body = {"workflow": "no-such-workflow", "tenant": tenant}
    response = client.post("/runs", json=body)
    if re.fullmatch(TENANT_PATTERN, tenant):
        assert response.status_code == 404, response.text  # past the tenant: the workflow
    else:
        assert response.status_code == 400, response.text
        assert "tenant" in response.json()["error"]


def test_a_step_submitted_by_hand_past_the_provider_calls_gets_429(
    tmp_path: Path, hold: Path
) -> None:
    env = RunsEnv(tmp_path, provider="held_chat", blocking=True)
    config = TenantsConfig(
        tenants={"meter": Budgets(provider_calls_per_min=0.6, provider_calls_burst=1)}
    )

    def ledger(system: ActorSystem) -> TenantLedger:
        return TenantLedger(config, clock=system.clock)

    hosting = RunsHosting(env.config, environ=env.environ, mcp=False, tenants=ledger)
    app = create_app(routes=runs_routes(hosting), on_startup=hosting.start)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert create(client, "m1", "meter").status_code == 201
        tenants = hosting.tenants
        assert tenants is not None
        # `plan` took the one call; `left` and `right` wait at the substrate for the next.
        until(lambda: any(e.kind == "throttled" for e in tenants.events()), client)
        [held] = tenants.events()
        assert (held.kind, held.tenant, held.budget) == ("throttled", "meter", "provider_calls")
        refused = client.post("/runs/m1/steps/left/submit")
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 100
        assert "provider_calls budget (0.6 provider calls a minute)" in refused.json()["error"]
        # Another tenant's run is served meanwhile, start to end.
        assert (
            client.post(
                "/runs", json={"workflow": "greet", "id": "q1", "inputs": {"name": "q", "times": 1}}
            ).status_code
            == 201
        )
        settle(client, "q1")
        assert client.get("/runs/q1/status").json()["status"] == "succeeded"
        assert client.get("/runs/m1/status").json()["steps"]["left"] == "submitted"
