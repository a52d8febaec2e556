"""The node's one tenant ledger (`node_tenants`): made once per system from the tenants
file and shared by every part of `serve`; `GET /system/tenants` shows what it knows."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.http import ServeOptions, ServerPart, create_app
from lightflow_actors.host import PARTS, node_tenants, tenants_part
from lightflow_actors.tenants import (
    TENANTS_CONFIG_ENV,
    Budgets,
    OverBudget,
    TenantsConfig,
    TenantsConfigError,
)


def test_one_ledger_per_system_from_the_tenants_file(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text('{"tenants": {"acme": {"live_sessions": 1, "weight": 2}}}')
    environ = {TENANTS_CONFIG_ENV: str(path)}
    first, second = ActorSystem(), ActorSystem()
    ledger = node_tenants(first, environ)
    assert node_tenants(first) is ledger  # the same for every part of the node
    assert node_tenants(second, {}) is not ledger
    assert ledger.weight("acme") == 2 and ledger.budgets("acme").live_sessions == 1
    assert node_tenants(second).config.tenants == {}  # no file: no budgets


def test_a_bad_tenants_file_says_which_field(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    path.write_text('{"tenants": {"acme": {"runs_in_flight": -1}}}')
    with pytest.raises(TenantsConfigError, match=r"\$\.tenants\[\.\.\.\]\.runs_in_flight"):
        node_tenants(ActorSystem(), {TENANTS_CONFIG_ENV: str(path)})


def test_serve_has_the_tenants_route_before_the_parts_that_count() -> None:
    names = [make.__name__ for make in PARTS]
    assert names.index("tenants_part") < names.index("runs_api")
    assert names.index("tenants_part") < names.index("live_examples")


def test_get_system_tenants_lists_use_and_events() -> None:
    system = ActorSystem()
    build = tenants_part(ServeOptions())
    assert callable(build)
    part = build(system)
    assert isinstance(part, ServerPart)
    app = create_app(system, routes=part.routes, owns_system=True)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        ledger = node_tenants(system)
        ledger.reconfigure(TenantsConfig(tenants={"acme": Budgets(live_sessions=0)}))
        with pytest.raises(OverBudget):
            ledger.open_session("acme", "s1")
        ledger.open_session("beta")
        page = client.get("/system/tenants").json()
        usage = {u["tenant"]: u for u in page["tenants"]}
        assert usage["acme"]["refused"] == {"live_sessions": 1}
        assert usage["beta"]["live_sessions"] == 1
        [event] = page["events"]
        assert (event["kind"], event["tenant"], event["subject"]) == ("refused", "acme", "s1")
        assert client.get("/system/tenants?after=1").json()["events"] == []
        for bad in ("after=x", "after=-1", "after=%F0%9F%98%80", "after=" + "9" * 40, "other=1"):
            response = client.get(f"/system/tenants?{bad}")
            assert response.status_code == 400, (bad, response.text)
            assert response.json()["field"] in ("query", "query.after")
