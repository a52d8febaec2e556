"""The pieces of the runs-on-any-node drills (tests and `bench cluster --runs`): a counting,
idempotent fake model server on 127.0.0.1, a chain workflow whose prompts name their run
and step, and `lightflow serve --cluster` nodes that can be killed with SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

from ..cli._fake_model import LocalModelServer

CHAIN_WORKFLOW = """\
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {"id": "chain", "title": "Chain", "kind": "workflow",
            "description": "Three paid calls, one after another", "stability": "stable"}


class Inputs(msgspec.Struct, frozen=True):
    tag: str


DEFINITION = Workflow(
    inputs=Inputs,
    steps=[
        ApiStep(id="one", format="openai.chat", model="gpt-4o-mini",
                prompt=ChatPrompt(user="step one of {inputs.tag}")),
        ApiStep(id="two", format="openai.chat", model="gpt-4o-mini",
                prompt=ChatPrompt(user="step two of {inputs.tag}"), depends_on=["one"]),
        ApiStep(id="three", format="openai.chat", model="gpt-4o-mini",
                prompt=ChatPrompt(user="step three of {inputs.tag}"), depends_on=["two"]),
    ],
)
"""
STEPS = ("one", "two", "three")


class CountingModel(LocalModelServer):
    """An OpenAI-compatible chat server that takes `delay_s` per answer, counts requests
    per `Idempotency-Key` and, like a paid API honouring the key, answers a repeated key
    with the answer it gave first (computed once)."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.requests: Counter[str] = Counter()  # key -> requests
        self.computed: Counter[str] = Counter()  # key -> answers computed
        self.prompts: dict[str, str] = {}  # key -> the user prompt
        self.answers: dict[str, str] = {}
        self.times: dict[str, list[float]] = {}  # key -> when each request came (monotonic)
        self.failing: set[str] = set()  # a prompt holding one of these: HTTP 500, counted
        self.failed: Counter[str] = Counter()  # prompt -> answers 500
        self.holding: set[str] = set()  # a prompt holding one of these: answered once let go
        self.let_go = threading.Event()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                del format, args

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                key = self.headers.get("Idempotency-Key") or "?"
                prompt = str(body["messages"][-1]["content"])
                with server.lock:
                    fail = any(part in prompt for part in server.failing)
                    if fail:
                        server.failed[prompt] += 1
                if fail:
                    self.send_response(500)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                with server.lock:
                    server.times.setdefault(key, []).append(time.monotonic())
                    server.requests[key] += 1
                    server.prompts[key] = prompt
                    first = key not in server.answers
                    if first:
                        server.computed[key] += 1
                        server.answers[key] = f"done: {prompt}"
                    answer = server.answers[key]
                    held = any(part in prompt for part in server.holding)
                if held:  # counted and computed, its answer not sent before `let_go`
                    server.let_go.wait(120)  # the bound stops a hang
                time.sleep(server.delay_s)
                data = json.dumps(
                    {
                        "id": "c1",
                        "object": "chat.completion",
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": answer},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # its caller was killed meanwhile
                    self.close_connection = True

        super().__init__(Handler, daemon_threads=True)

    def key_of(self, run_id: str, step: str) -> list[str]:
        """The keys of the requests of `step` of `run_id` (one per attempt)."""
        with self.lock:
            return [k for k, p in self.prompts.items() if p == f"step {step} of {run_id}"]


def placed_on(nodes: list[str], run_id: str) -> str:
    """Where the cluster places `run_id` among `nodes` (rendezvous hashing, ADR 0098)."""
    return max(nodes, key=lambda n: hashlib.sha256(f"{n}\x00{run_id}".encode()).digest())


class ClusterNode:
    """`lightflow serve --cluster URL --node NAME` as a child process, its own state and
    tree, the shared assets and the fake model as its provider."""

    def __init__(self, home: Path, name: str, nats_url: str, assets: Path, model: str) -> None:
        from lightflow_actors.host import add_provider

        self.name = name
        root = home / name
        config = root / "runs.json"
        root.mkdir(parents=True, exist_ok=True)
        config.write_text(
            json.dumps({"state_dir": str(root / "state"), "ctx": {"root": str(root / "ctx")}})
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
        env |= {
            "LIGHTFLOW_RUNS_CONFIG": str(config),
            "LIGHTFLOW_ASSETS": str(assets),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
        }
        add_provider("openai-compatible", base_url=model, key_env=None, environ=env)
        self.state = root / "state"
        self.log_path = root / "serve.log"
        self._log = self.log_path.open("ab")
        command = [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"]
        command += ["--cluster", nats_url, "--node", name]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, (root / "serve.log").read_text()[-3000:]
        self.url = json.loads(line)["url"].rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=60, trust_env=False)

    def kill(self) -> None:
        """`kill -9`."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.close()

    def pause(self) -> None:
        """`kill -STOP`: the process stands still, its sockets open (a partition, a
        long pause): its peers hear nothing from it."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """`kill -CONT`: it wakes up where it stood, unaware of the time that passed."""
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.close()

    def close(self) -> None:
        self.http.close()
        self._log.close()

    def runs_info(self) -> dict[str, object]:
        info: dict[str, object] = self.http.get("/cluster").json()["runs"]
        return info


def until(check: object, what: str, timeout_s: float = 120.0) -> None:
    """Poll `check` every 50 ms (the bound only stops a hang; it measures nothing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
