"""Two `lightflow serve --cluster` processes on one NATS server: a chat message sent on
node a appears in a chat session on node b, and each node shows its link."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightflow_actors.live import WebSocketView

from ._servers import NatsServer

pytestmark = pytest.mark.anyio


class Node:
    def __init__(self, home: Path, name: str, cluster: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
        env["XDG_STATE_HOME"] = str(home / name / "state")
        env["XDG_CONFIG_HOME"] = str(home / name / "config")
        self.log = home / f"{name}.log"
        argv = [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"]
        argv += ["--cluster", cluster, "--node", name]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"node {name} did not start: {self.log.read_text()}"
        self.url = json.loads(line)["url"].rstrip("/")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def two_nodes(tmp_path: Path, nats_server: NatsServer) -> Iterator[tuple[Node, Node]]:
    a = Node(tmp_path, "a", nats_server.url)
    try:
        b = Node(tmp_path, "b", nats_server.url)
    except BaseException:
        a.stop()
        raise
    try:
        yield a, b
    finally:
        codes = (a.stop(), b.stop())
    assert codes == (0, 0), (a.log.read_text()[-3000:], b.log.read_text()[-3000:])


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
        # each node delivered each message once: no echo through NATS
        for view in (ada, bob):
            assert view.html().count("hello from node a") == 1
            assert view.html().count("and back from b") == 1
    finally:
        await ada.ws.close()
        await bob.ws.close()


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
