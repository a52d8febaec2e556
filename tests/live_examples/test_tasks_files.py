"""The tasks example's attachment route over real HTTP: a user's own files only (images
inline, anything else as a download, never sniffed), 403 without a signed-in session,
404 for another user's file, and hostile names (traversal, invalid UTF-8, oversized,
generated) never reach outside the user's folder nor get a 5xx."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import LiveRoutes
from lightflow_actors.kernel import ActorRef
from lightflow_actors.live import LiveHub
from lightflow_actors.live._cookie import CookieSession
from lightflow_actors.live_examples.auth import auth_views
from lightflow_actors.live_examples.tasks import (
    STORES,
    StoreFor,
    TaskStores,
    attachment_routes,
    task_views,
)

from ..live.live_server import serving

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def server(root: Path) -> AsyncIterator[tuple[str, LiveHub]]:
    async with ActorSystem("tasks-files", seed=2) as system:
        await system.start_actor(TaskStores, name=STORES)

        def stores() -> ActorRef[StoreFor]:
            return system.lookup(STORES, TaskStores)

        views = {**auth_views(), **task_views(stores, files_root=lambda: root)}
        hub = LiveHub(system, views, secret=b"f" * 32)
        await hub.start()
        routes = [*attachment_routes(hub, files_root=lambda: root), *LiveRoutes(hub).routes]
        async with serving(routes) as base:
            yield base, hub
        await hub.stop()


def signed_in(hub: LiveHub, user: str) -> dict[str, str]:
    """The Cookie header of a browser whose signed session names `user`."""
    session = CookieSession(sid=secrets.token_hex(16), at=hub.seal.now(), data={"user": user})
    return {"cookie": f"{hub.session_cookie.name}={hub.seal.cookie.sign(session)}"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "1-abc-cat.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "ada" / "1-abc-page.html").write_bytes(b"<script>alert(1)</script>")
    (tmp_path / "grace").mkdir()
    (tmp_path / "grace" / "2-def-secret.txt").write_bytes(b"grace's")
    (tmp_path / "top-secret").write_bytes(b"outside")
    return tmp_path


async def test_a_user_gets_her_files_and_nobody_else_does(root: Path) -> None:
    async with server(root) as (base, hub), httpx.AsyncClient() as http:
        url = f"{base}/tasks-files/1-abc-cat.png"
        assert (await http.get(url)).status_code == 403  # no session
        bad = {"cookie": signed_in(hub, "ada")["cookie"][:-3] + "xyz"}
        assert (await http.get(url, headers=bad)).status_code == 403  # tampered
        stranger = signed_in(hub, "mallory")  # signed, but not a user
        assert (await http.get(url, headers=stranger)).status_code == 403
        ada = signed_in(hub, "ada")
        image = await http.get(url, headers=ada)
        assert image.status_code == 200 and image.content == b"\x89PNG fake"
        assert image.headers["content-type"] == "image/png"
        assert image.headers["x-content-type-options"] == "nosniff"
        assert image.headers["content-security-policy"] == "sandbox"
        assert "no-store" in image.headers["cache-control"]
        page = await http.get(f"{base}/tasks-files/1-abc-page.html", headers=ada)
        assert page.status_code == 200
        assert page.headers["content-type"] == "application/octet-stream"
        assert page.headers["content-disposition"].startswith("attachment")
        grace = signed_in(hub, "grace")
        assert (await http.get(url, headers=grace)).status_code == 404
        own = await http.get(f"{base}/tasks-files/2-def-secret.txt", headers=grace)
        assert own.status_code == 200 and own.content == b"grace's"
        assert (
            await http.get(f"{base}/tasks-files/2-def-secret.txt", headers=ada)
        ).status_code == 404


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fgrace%2F2-def-secret.txt",
        "..%2F..%2Ftop-secret",
        "%2E%2E",
        ".",
        "%FF%FE",
        "%C3%28",
        "a%00b",
        "x" * 5000,
        "1-abc-cat.png%2F",
        "%5C..%5Ctop-secret",
    ],
)
async def test_hostile_names_never_leave_the_folder_nor_fail(root: Path, name: str) -> None:
    async with server(root) as (base, hub), httpx.AsyncClient() as http:
        response = await http.get(f"{base}/tasks-files/{name}", headers=signed_in(hub, "ada"))
        # (a trailing slash is Starlette's redirect to the name without it)
        assert response.status_code in (307, 404, 414), response.status_code
        assert b"outside" not in response.content and b"grace" not in response.content


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(min_size=1, max_size=300))
@example("/")
async def test_any_name_is_a_file_of_hers_or_a_404(root: Path, name: str) -> None:
    async with server(root) as (base, hub), httpx.AsyncClient() as http:
        path = quote(name, safe="")
        response = await http.get(f"{base}/tasks-files/{path}", headers=signed_in(hub, "ada"))
        # A name ending in a slash is Starlette's redirect to the name without it.
        allowed = (200, 404, 307) if name.endswith("/") else (200, 404)
        assert response.status_code in allowed, (name, response.status_code)
        assert b"grace" not in response.content
        if response.status_code == 200:
            assert (root / "ada" / name).is_file()
