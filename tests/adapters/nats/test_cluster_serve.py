"""Two `lightflow serve --cluster` processes on one NATS server: a chat message sent on
node a appears in a chat session on node b, each chat lists the people on both nodes,
and each node shows its link."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lightflow_actors.live import WebSocketView

from ...serve_process import lightflow_serve
from ._servers import NatsServer

pytestmark = pytest.mark.anyio


@dataclass
class Node:
    url: str


def node_env(home: Path, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
    env["XDG_STATE_HOME"] = str(home / name / "state")
    env["XDG_CONFIG_HOME"] = str(home / name / "config")
    return env


@pytest.fixture
def two_nodes(tmp_path: Path, nats_server: NatsServer) -> Iterator[tuple[Node, Node]]:
    """Nodes a and b of one cluster; each must stop gracefully (exit 0)."""
    with contextlib.ExitStack() as nodes:
        a, b = (
            Node(
                nodes.enter_context(
                    lightflow_serve(
                        "--port", "0", "--cluster", nats_server.url, "--node", name,
                        env=node_env(tmp_path, name),
                        log=tmp_path / f"{name}.log",
                        check_exit=True,
                    )
                )
            )
            for name in ("a", "b")
        )  # fmt: skip
        yield a, b


async def test_a_chat_message_crosses_nodes(
    two_nodes: tuple[Node, Node], nats_server: NatsServer
) -> None:
    a, b = two_nodes
    names = {c["name"] for c in nats_server.monitor("/connz")["connections"]}  # type: ignore[index]
    assert {"lightflow:a", "lightflow:b"} <= names
    ada = await WebSocketView.open(f"{a.url}/live", "chat", {"name": "ada"})
    bob = await WebSocketView.open(f"{b.url}/live", "chat", {"name": "bob"})
    try:
        # both nodes hold one subscription for the room, whatever their session count
        assert "lf.pubsub.chat:lobby" in nats_server.subscriptions("lightflow:b")
        await ada.push("send", {"text": "hello from node a"})
        await asyncio.wait_for(
            bob.until(lambda: "hello from node a" in bob.html(), "the message on node b"), 20
        )
        await asyncio.wait_for(
            ada.until(lambda: "hello from node a" in ada.html(), "the message on node a"), 20
        )
        await bob.push("send", {"text": "and back from b"})
        await asyncio.wait_for(
            ada.until(lambda: "and back from b" in ada.html(), "the reply on node a"), 20
        )
        await asyncio.wait_for(
            bob.until(lambda: "and back from b" in bob.html(), "the reply on node b"), 20
        )
        # presence is replicated: each chat lists the person on the other node
        for view in (ada, bob):
            await asyncio.wait_for(
                view.until(
                    lambda v=view: 'id="person-ada"' in v.html() and 'id="person-bob"' in v.html(),
                    "both people in the list",
                ),
                30,
            )
        # GET /cluster on each node: itself, the other node up, its link and its store
        async with httpx.AsyncClient() as http:
            for here, there in ((a, "b"), (b, "a")):
                view = (await http.get(f"{here.url}/cluster")).json()
                assert view["clustered"] is True
                status = {n["node"]: n["status"] for n in view["nodes"]}
                assert status == {view["node"]: "self", there: "up"}
                assert view["link"]["connected"] is True
                assert view["sessions"]["bucket"] == "lf_sessions"
                assert view["presence"]["entries"] >= 2
            refused = await http.get(f"{a.url}/cluster?x=1")
            assert refused.status_code == 400 and "no query" in refused.json()["error"]
        # each node delivered each message once: no echo through NATS
        for view in (ada, bob):
            assert view.html().count("hello from node a") == 1
            assert view.html().count("and back from b") == 1
    finally:
        await ada.ws.close()
        await bob.ws.close()


async def test_any_node_serves_the_tree_of_any_node(two_nodes: tuple[Node, Node]) -> None:
    a, b = two_nodes
    async with httpx.AsyncClient(timeout=20) as http:
        own = (await http.get(f"{a.url}/system/tree")).json()
        names = {n["name"] for n in own["nodes"] if n["name"]}
        assert "lightflow.cluster.registry" in names  # the registry runs on every node
        # and the tenants sync, which makes the count budgets cluster-wide
        assert "ClusterTenants" in {n["actor_class"] for n in own["nodes"]}
        for here in (a, b):
            # node b's tree asked of node a crosses NATS; asked of b itself, it is local
            page = (await http.get(f"{here.url}/system/tree", params={"node": "b"})).json()
            names = {n["name"] for n in page["nodes"] if n["name"]}
            assert {"lightflow.cluster.registry", "lightflow.tree@b"} <= names
            assert "lightflow.tree@a" not in names  # b's own tree, not the asker's
        page = (await http.get(f"{b.url}/system/tree", params={"node": "a", "limit": 500})).json()
        assert "lightflow.tree@a" in {n["name"] for n in page["nodes"]}
        missing = await http.get(f"{a.url}/system/tree", params={"node": "zed"})
        assert missing.status_code == 404 and "zed" in missing.json()["error"]
        bad = await http.get(f"{a.url}/system/tree", params={"node": "a b"})
        assert bad.status_code == 400 and "node" in bad.text
        # the observer page lists the nodes: itself and the peer its registry hears
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while 'id="node-b"' not in (html := (await http.get(f"{a.url}/observer")).text):
            assert loop.time() < deadline, "node b never appeared on node a's observer"
            await asyncio.sleep(0.2)
        assert 'id="node-a" class="cluster-node self selected"' in html
        assert 'id="node-b" class="cluster-node up"' in html
        # the node selector: node b's tree on node a's observer, read over NATS
        deadline = loop.time() + 20
        while 'data-label="lightflow.tree@b"' not in (
            html := (await http.get(f"{a.url}/observer", params={"node": "b"})).text
        ):
            assert loop.time() < deadline, "node b's tree never appeared on node a's observer"
            await asyncio.sleep(0.2)
        assert "Supervision tree of node b" in html
        assert 'data-label="lightflow.tree@a"' not in html  # b's tree, not a's


def test_serve_refuses_a_bad_cluster_url_and_node_name(tmp_path: Path) -> None:
    for args, needle in (
        (["--cluster", "http://x"], "invalid NATS URL"),
        (["--cluster", "nats://127.0.0.1:4222", "--node", "a b"], "invalid node name"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "lightflow_actors.cli", "serve", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert needle in done.stderr


def test_serve_says_when_the_cluster_is_unreachable(tmp_path: Path) -> None:
    from ._servers import free_port

    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0",
         "--cluster", f"nats://127.0.0.1:{free_port()}", "--node", "a"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot reach the cluster's NATS server" in done.stderr
    assert "Traceback" not in done.stderr


async def _until_ready(
    http: httpx.AsyncClient, url: str, ready: bool, what: str
) -> dict[str, object]:
    """Poll ``GET /ready`` until it says `ready` (bounded against a hang only)."""
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        answer = await http.get(f"{url}/ready")
        body: dict[str, object] = answer.json()
        if (answer.status_code == 200) is ready:
            return body
        assert asyncio.get_running_loop().time() < deadline, f"{what}: {body}"
        await asyncio.sleep(0.2)


OUTAGE_LINE = re.compile(
    r"cluster: node 'a' cannot reach NATS \((?P<why>[^)]*)\); attempt (?P<n>\d+) failed, "
    r"next in (?P<next>\d+\.\d) s$"
)


async def _outage_lines(log: Path, count: int) -> list[re.Match[str]]:
    """The log's outage lines once there are `count` of them (bounded against a hang)."""
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        text = await asyncio.to_thread(log.read_text)
        lines = [m for m in map(OUTAGE_LINE.search, text.splitlines()) if m]
        if len(lines) >= count:
            return lines
        assert asyncio.get_running_loop().time() < deadline, text[-3000:]
        await asyncio.sleep(0.2)


async def test_nats_down_the_cluster_subsystem_restarts_with_a_new_client(
    two_nodes: tuple[Node, Node], nats_server: NatsServer, tmp_path: Path
) -> None:
    """NATS stops: `/ready` names the cluster subsystem (the link, registry and tree agent
    restart with backoff), and each failed attempt logs one line (why, attempt, when the
    next is) and no traceback; NATS starts again: each node connects a new client (one
    line says so), is ready, and the live chat crosses nodes again over the new
    connections."""
    a, b = two_nodes
    async with httpx.AsyncClient(timeout=20) as http:
        for node in (a, b):
            body = await _until_ready(http, node.url, True, "ready before the outage")
            assert "cluster" in {s["id"] for s in body["subsystems"]}  # type: ignore[union-attr]
        nats_server.stop()
        for node in (a, b):
            body = await _until_ready(http, node.url, False, "not ready while NATS is down")
            assert body["down"] == ["cluster"], body
        tree = (await http.get(f"{a.url}/system/tree")).json()  # the node itself answers
        assert any(n["name"] == "lightflow.root" for n in tree["nodes"]), tree
        lines = await _outage_lines(tmp_path / "a.log", 2)
        assert [int(m["n"]) for m in lines[:2]] == [1, 2]  # one line per attempt, counted
        assert all("Connect" in m["why"] or "Error" in m["why"] for m in lines), lines
        assert all(float(m["next"]) <= 30.0 * 1.2 for m in lines)  # the root's backoff
        nats_server.start()
        for node in (a, b):
            body = await _until_ready(http, node.url, True, "ready once NATS is back")
            cluster = next(s for s in body["subsystems"] if s["id"] == "cluster")  # type: ignore[union-attr]
            assert cluster["restarts"] >= 1
        for here, there in ((a, "b"), (b, "a")):
            deadline = asyncio.get_running_loop().time() + 60
            while True:  # presence of the other node converges again (heartbeats)
                view = (await http.get(f"{here.url}/cluster")).json()
                status = {n["node"]: n["status"] for n in view["nodes"]}
                if view["link"]["connected"] and status.get(there) == "up":
                    break
                assert asyncio.get_running_loop().time() < deadline, view
                await asyncio.sleep(0.2)
    log = (tmp_path / "a.log").read_text()
    assert "Traceback" not in log, log[-4000:]  # tracebacks of the outage: DEBUG only
    assert re.search(r"cluster: node 'a' reconnected to NATS at \S+ after \d+ failed", log)
    # one client per node, new ones: the old connections are gone from the server
    names = [c["name"] for c in nats_server.monitor("/connz")["connections"]]  # type: ignore[index]
    assert sorted(n for n in names if n in ("lightflow:a", "lightflow:b")) == [
        "lightflow:a",
        "lightflow:b",
    ]
    ada = await WebSocketView.open(f"{a.url}/live", "chat", {"name": "ada"})
    bob = await WebSocketView.open(f"{b.url}/live", "chat", {"name": "bob"})
    try:
        await ada.push("send", {"text": "after the outage"})
        await asyncio.wait_for(
            bob.until(lambda: "after the outage" in bob.html(), "the message on node b"), 30
        )
        assert bob.html().count("after the outage") == 1
    finally:
        await ada.ws.close()
        await bob.ws.close()
