"""examples/embed: a host Starlette service mounting the operator app under /ops."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from starlette.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "embed" / "service.py"
AUTH = {"Authorization": "Bearer embed-token"}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embed_service", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_host_routes_actors_and_mounted_operator_app_share_one_system() -> None:
    service = load_example()
    app = service.build_app("embed-token")
    with TestClient(app) as client:
        assert client.post("/orders", json={"item": "tea", "qty": 2}).json() == {"order": 1}
        assert client.post("/orders", json={"item": ""}).status_code == 400
        assert client.get("/orders").json() == [{"item": "tea", "qty": 2}]

        health = client.get("/ops/health").json()
        assert health["system"] == "shop"
        nodes = client.get("/ops/system/tree").json()["nodes"]
        by_label = {n["name"] or n["child_id"]: n for n in nodes}
        assert by_label["orders"]["actor_class"] == "Orders"
        assert by_label["orders"]["parent"] == by_label["shop"]["id"]
        assert by_label["gateway"]["actor_class"] == "Gateway"

        # Links on the mounted pages carry the mount path.
        root = client.get("/ops/").text
        assert 'href="/ops/observer"' in root and 'href="/ops/openapi.yaml"' in root
        assert 'data-lf-socket="/ops/observer/socket"' in client.get("/ops/observer").text

        # Restarting the host's own actor through the operator API: a new Orders, empty.
        orders = by_label["orders"]["id"]
        assert client.post(f"/ops/actors/{orders}/restart").status_code == 401
        restarted = client.post(f"/ops/actors/{orders}/restart", headers=AUTH).json()
        assert restarted["new_id"] != orders
        assert client.get("/orders").json() == []


def test_the_mounted_app_does_not_own_the_host_system() -> None:
    service = load_example()
    app = service.build_app()
    mounted = next(r for r in app.routes if getattr(r, "path", "") == "/ops").app
    assert mounted.owns_system is False
    with TestClient(app) as client:
        assert client.get("/ops/health").status_code == 200
        system = mounted.system
        assert system.running
    assert not system.running and system.actor_count() == 0
