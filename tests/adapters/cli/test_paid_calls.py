"""Paid calls are not repeated silently: a `kill -9` drill against a fake HTTP model
server on 127.0.0.1 that holds its answers, counts calls and records their
`Idempotency-Key`. An at-least-once step's call in flight at the kill is sent again after
the restart with the same key, and the trace says it may have been repeated; an
at-most-once step is not sent again: it fails `interrupted` without an automatic retry,
and `run retry` (a person) sends a new attempt under a new key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st

from ctx_substrate.providers import idempotency_key
from lightflow_actors.cortex import commit_request
from lightflow_actors.host import add_provider

from ._fake_model import FakeModelServer

ONCE_POLICY = """\
from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {"id": "once", "title": "Once", "kind": "policy",
            "description": "Never call twice", "stability": "stable"}
DEFINITION = Policy(retry=RetryPolicy(max_attempts=3), delivery="at_most_once")
"""
ONCE_WORKFLOW = """\
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {"id": "once-plan", "title": "Once", "kind": "workflow",
            "description": "One paid call, at most once", "stability": "stable"}


class Inputs(msgspec.Struct, frozen=True):
    topic: str


DEFINITION = Workflow(
    inputs=Inputs,
    policy="once",
    steps=[ApiStep(id="plan", format="openai.chat", model="gpt-4o-mini",
                   prompt=ChatPrompt(user="Plan: {inputs.topic}"))],
)
"""


class Server:
    """`lightflow serve` as a child process that the drill kills with SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        command = [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"]
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, log.read_text()[-3000:]
        self.url = json.loads(line)["url"].rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def kill(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._log.close()

    def settled(self, run_id: str) -> dict[str, object]:
        for _ in range(1200):
            view: dict[str, object] = self.http.get(f"/runs/{run_id}").json()
            if view["status"] in ("succeeded", "failed", "cancelled"):
                return view
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not settle")

    def trace(self, run_id: str) -> list[dict[str, object]]:
        lines = self.http.get(f"/runs/{run_id}/trace").content.splitlines()
        return [json.loads(line) for line in lines]


def _until(check: object, what: str) -> None:
    for _ in range(1200):
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_with_calls_in_flight(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "policies").mkdir(parents=True)
    (assets / "workflows").mkdir()
    (assets / "policies" / "once.py").write_text(ONCE_POLICY)
    (assets / "workflows" / "once_plan.py").write_text(ONCE_WORKFLOW)
    config = tmp_path / "runs.json"
    config.write_text(
        json.dumps({"state_dir": str(tmp_path / "state"), "ctx": {"root": str(tmp_path / "ctx")}})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
    env |= {"LIGHTFLOW_RUNS_CONFIG": str(config), "LIGHTFLOW_ASSETS": str(assets)}
    hold = threading.Event()
    with FakeModelServer(key=None, hold=hold) as fake:
        add_provider("openai-compatible", base_url=fake.base_url, key_env=None, environ=env)

        def calls(word: str) -> list[dict[str, str]]:
            return [h for _, h, body in fake.requests if word in json.dumps(body)]

        server = Server(env, tmp_path / "serve.log")
        try:
            for run_id, workflow, topic in (("a1", "text-plan", "tea"),
                                            ("b1", "once-plan", "coffee")):  # fmt: skip
                body = {"workflow": workflow, "id": run_id, "inputs": {"topic": topic}}
                assert server.http.post("/runs", json=body).status_code == 201
            _until(lambda: calls("tea") and calls("coffee"), "both calls to be in flight")
        except BaseException:
            server.kill()
            raise
        server.kill()  # kill -9 with both paid calls in flight
        hold.set()  # from now on the fake answers at once
        server = Server(env, tmp_path / "serve.log")
        try:
            # At least once (the default): sent again, under the same key.
            assert server.settled("a1")["status"] == "succeeded"
            tea = calls("tea")
            assert len(tea) == 2
            key = tea[0]["idempotency-key"]
            assert key.startswith("lf-") and tea[1]["idempotency-key"] == key
            observed = [r for r in server.trace("a1")
                        if r["record"] == "cortex.response.observed"]  # fmt: skip
            assert len(observed) == 1 and observed[0]["may_repeat"] is True
            route = observed[0]["route"]
            assert isinstance(route, dict)
            assert route["idempotency_key"] == key and route["resumed"] is True
            # At most once: not sent again; the step failed for a person to retry.
            view = server.settled("b1")
            assert view["status"] == "failed"
            (step,) = view["steps"]  # type: ignore[misc]
            assert step["status"] == "failed" and step["error"].startswith("interrupted:")
            assert step["attempts"] == 1  # no automatic retry, despite max_attempts=3
            assert len(calls("coffee")) == 1
            retried = server.http.post("/runs/b1/retry")
            assert retried.status_code == 200, retried.text
            assert server.settled("b1")["status"] == "succeeded"
            coffee = calls("coffee")
            assert len(coffee) == 2
            assert coffee[1]["idempotency-key"] != coffee[0]["idempotency-key"]  # new attempt
            # A call that was never cut by a restart says nothing of repeats.
            b1_observed = [r for r in server.trace("b1")
                           if r["record"] == "cortex.response.observed"]  # fmt: skip
            assert [r.get("may_repeat") for r in b1_observed] == [None]
        finally:
            server.stop()


@given(
    st.sampled_from(["api", "tool", "thread"]),
    st.text(max_size=20),
    st.none() | st.text(max_size=8),
    st.text(min_size=1, max_size=40),
    st.binary(max_size=200),
)
def test_the_idempotency_key_is_a_function_of_the_request(
    kind: str, target: str, uid: str | None, request_id: str, raw: bytes
) -> None:
    key = idempotency_key(kind, target, uid, request_id, raw)
    assert key == idempotency_key(kind, target, uid, request_id, raw)  # same after a restart
    assert key.startswith("lf-") and len(key) == 43 and key.isascii()
    assert key != idempotency_key(kind, target, uid, request_id, raw + b" ")  # other bytes
    assert key != idempotency_key(kind, target, uid, request_id + "x", raw)  # other id


def test_an_at_most_once_commit_leaves_its_mark_first(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    commit_request(inbox, "r1", b"{}", at_most_once=True)
    commit_request(inbox, "r2", b"{}")
    assert sorted(p.name for p in inbox.iterdir()) == ["r1.once", "r1.req.json", "r2.req.json"]
