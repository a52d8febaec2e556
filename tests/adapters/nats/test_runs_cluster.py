"""Runs on any node, with real processes: `lightflow serve --cluster` nodes on one NATS
server, a fake model on 127.0.0.1 that counts its calls per idempotency key.

- any node accepts a run; it is created on the node its id hashes to, and every node
  lists it, reads it, its events and its outputs; a change on another node is forwarded;
- a change asked of a node that does not drive the run (submit, retry) is forwarded to
  its owner;
- the pause drill: a node stopped with `kill -STOP` is fenced when it wakes.

The `kill -9` drill with runs in flight (together with live sessions and a NATS outage)
is `test_cluster_drill_real.py`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ._runs_drill import (
    CHAIN_WORKFLOW,
    STEPS,
    ClusterNode,
    CountingModel,
    placed_on,
    until,
)
from ._servers import NatsServer

NODES = ["a", "b", "c"]


ONE_CALL = """\
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow

METADATA = {"id": "%(id)s", "title": "One call", "kind": "workflow",
            "description": "One paid call with a policy of its own", "stability": "stable"}


class Inputs(msgspec.Struct, frozen=True):
    tag: str


DEFINITION = Workflow(
    inputs=Inputs,
    policy="%(policy)s",
    steps=[ApiStep(id="one", format="openai.chat", model="gpt-4o-mini",
                   prompt=ChatPrompt(user="step one of {inputs.tag}"))],
)
"""

POLICY = """\
from lightflow_actors.flow import Policy, RetryPolicy

METADATA = {"id": "%(id)s", "title": "Policy", "kind": "policy",
            "description": "For the forwarding drill", "stability": "stable"}

DEFINITION = Policy(retry=RetryPolicy(%(retry)s), cache=False)
"""


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "assets"
    (folder / "workflows").mkdir(parents=True)
    (folder / "policies").mkdir(parents=True)
    (folder / "workflows" / "chain.py").write_text(CHAIN_WORKFLOW)
    # a second attempt only after 10 minutes: a submit is the only way on
    slow = "max_attempts=2, initial_backoff_s=600.0, max_backoff_s=600.0, jitter=0.0"
    for name, retry in (("slow-retry", slow), ("one-attempt", "max_attempts=1")):
        (folder / "policies" / f"{name}.py").write_text(POLICY % {"id": name, "retry": retry})
    for name, policy in (("patient-one", "slow-retry"), ("single", "one-attempt")):
        text = ONE_CALL % {"id": name, "policy": policy}
        (folder / "workflows" / f"{name}.py").write_text(text)
    return folder


@contextlib.contextmanager
def cluster(
    home: Path, nats: NatsServer, assets: Path, model: CountingModel, names: list[str]
) -> Iterator[dict[str, ClusterNode]]:
    nodes: dict[str, ClusterNode] = {}
    try:
        for name in names:
            nodes[name] = ClusterNode(home, name, nats.url, assets, model.base_url)
        # every node hears every other before runs are placed
        for node in nodes.values():
            until(lambda n=node: n.runs_info()["nodes"] == sorted(names), "nodes to hear all")
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()


def events(node: ClusterNode, run_id: str) -> list[dict[str, object]]:
    lines = node.http.get(f"/runs/{run_id}/events").content.splitlines()
    return [json.loads(line) for line in lines]


def succeeded_once(node: ClusterNode, run_id: str) -> bool:
    """The run succeeded, and its journal (seq 1..n) holds one `step.succeeded` per step."""
    found = events(node, run_id)
    assert [e["seq"] for e in found] == list(range(1, len(found) + 1)), found
    done = [e["step"] for e in found if e["event"] == "step.succeeded"]
    assert sorted(done) == sorted(STEPS), found
    return True


def watch(node: ClusterNode, run_id: str) -> list[tuple[str, str]]:
    """Follow a run's SSE stream on `node` to its end: (id, event) of each message."""
    seen: list[tuple[str, str]] = []
    current: dict[str, str] = {}
    url = f"/runtime/streams/{run_id}/events.sse"
    with (
        httpx.Client(base_url=node.url, timeout=60, trust_env=False) as http,
        http.stream("GET", url) as response,
    ):
        assert response.status_code == 200, (node.name, run_id, response.read())
        for line in response.iter_lines():
            if line:
                field, _, value = line.partition(": ")
                current[field] = value
                continue
            seen.append((current.get("id", ""), current.get("event", "")))
            if current.get("event") == "end":
                assert '"succeeded"' in current.get("data", ""), current
                return seen
            current = {}
    return seen


@pytest.mark.timeout(300)  # two servers on a shared machine; the bound stops a hang
def test_a_run_created_on_any_node_runs_on_its_node_and_reads_everywhere(
    tmp_path: Path, nats_server: NatsServer, assets: Path
) -> None:
    with (
        CountingModel(delay_s=0.3) as model,
        cluster(tmp_path, nats_server, assets, model, ["a", "b"]) as nodes,
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        a, b = nodes["a"], nodes["b"]
        ids = [f"r{i}" for i in range(6)]
        watches = []
        for run_id in ids:  # all through node a
            body = {"workflow": "chain", "id": run_id, "inputs": {"tag": run_id}}
            created = a.http.post("/runs", json=body)
            assert created.status_code == 201, created.text
            # read your writes: node a shows a run it forwarded to b at once
            assert a.http.get(f"/runs/{run_id}").status_code == 200
            # watched live on the node that does not drive it (for a run placed on a,
            # node b may not have its copy yet: the stream fetches it)
            elsewhere = b if placed_on(["a", "b"], run_id) == "a" else a
            watches.append(pool.submit(watch, elsewhere, run_id))
        assert {placed_on(["a", "b"], r) for r in ids} == {"a", "b"}  # both nodes got some
        for run_id, watched in zip(ids, watches, strict=True):
            seen = watched.result(timeout=120)
            numbered = [int(i) for i, _ in seen if i]
            assert numbered == list(range(1, len(numbered) + 1)), (run_id, seen)
            assert [e for _, e in seen].count("step.succeeded") == len(STEPS), (run_id, seen)
        for node in (a, b):
            until(
                lambda n=node: all(
                    n.http.get(f"/runs/{r}").json().get("status") == "succeeded" for r in ids
                ),
                f"every run to read as succeeded on node {node.name}",
            )
            listed = {r["run_id"] for r in node.http.get("/runs").json()}
            assert set(ids) <= listed
            for run_id in ids:
                assert succeeded_once(node, run_id)
        # each run ran on the node its id hashes to (its record says who wrote it)
        info = a.runs_info()
        ran = {n: sum(c.values()) for n, c in info["runs"].items()}  # type: ignore[union-attr]
        assert ran == {n: sum(placed_on(["a", "b"], r) == n for r in ids) for n in ("a", "b")}
        # one call per step: nothing repeated without a failure
        assert sorted(model.requests.values()) == [1] * (len(ids) * len(STEPS))
        # a run id taken in the cluster is a conflict from any node
        again = b.http.post("/runs", json={"workflow": "chain", "id": "r0", "inputs": {"tag": "x"}})
        assert again.status_code == 409, again.text
        # a change is forwarded: cancelling a settled run on either node is refused alike
        for node in (a, b):
            refused = node.http.post("/runs/r1/cancel", json={})
            assert refused.status_code == 409, refused.text
        forwarded_submit_and_retry(a, b, model)


def _run_on(node: str, prefix: str) -> str:
    """A run id placed on `node` (rendezvous hashing among a and b)."""
    return next(f"{prefix}{i}" for i in range(100) if placed_on(["a", "b"], f"{prefix}{i}") == node)


def _step(node: ClusterNode, run_id: str) -> dict[str, object]:
    steps: list[dict[str, object]] = node.http.get(f"/runs/{run_id}").json().get("steps", [])
    return steps[0] if steps else {}


def written_by(reader: ClusterNode, writer: str) -> int:
    """Runs whose record `writer` wrote last, as `reader` has seen the bucket."""
    runs: dict[str, dict[str, int]] = reader.runs_info()["runs"]  # type: ignore[assignment]
    return sum(runs.get(writer, {}).values())


def forwarded_submit_and_retry(a: ClusterNode, b: ClusterNode, model: CountingModel) -> None:
    """Changes asked of the node that does not drive the run are forwarded to its owner
    (between real processes): a step waiting out a 10-minute retry backoff is submitted
    now, and a failed run is retried; both nodes then read the same finished runs."""
    waiting, failing = _run_on("a", "w"), _run_on("a", "f")
    model.failing |= {waiting, failing}
    for run_id, workflow in ((waiting, "patient-one"), (failing, "single")):
        body = {"workflow": workflow, "id": run_id, "inputs": {"tag": run_id}}
        created = b.http.post("/runs", json=body)  # forwarded to a, where it is placed
        assert created.status_code == 201, created.text
    # the first attempt failed: the step waits 10 minutes for its second
    until(
        lambda: (
            _step(b, waiting).get("status") == "planned" and _step(b, waiting).get("attempts") == 1
        ),
        "the step to wait out its backoff, seen on node b",
    )
    until(lambda: b.http.get(f"/runs/{failing}").json().get("status") == "failed", "a fail")
    model.failing.clear()
    forwarded_before = int(b.runs_info()["forwarded"])  # type: ignore[call-overload]
    written_before, b_before = written_by(b, "a") - 2, written_by(b, "b")
    submitted = b.http.post(f"/runs/{waiting}/steps/one/submit", json={})  # to a
    assert submitted.status_code == 200, submitted.text
    retried = b.http.post(f"/runs/{failing}/retry", json={})  # to a
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "running"
    assert int(b.runs_info()["forwarded"]) >= forwarded_before + 2  # type: ignore[call-overload]
    for node in (a, b):
        until(
            lambda n=node: all(
                n.http.get(f"/runs/{r}").json().get("status") == "succeeded"
                for r in (waiting, failing)
            ),
            f"both runs to succeed, read on node {node.name}",
        )
        assert _step(node, waiting)["attempts"] == 2
        lines = node.http.get(f"/runs/{failing}/events").content.splitlines()
        kinds = [json.loads(line)["event"] for line in lines]
        assert kinds.count("run.retried") == 1 and kinds.count("step.succeeded") == 1
    # driven on a all along: their records are a's (two more than before), none is b's
    until(lambda: written_by(b, "a") == written_before + 2, "a's two records seen on b")
    assert written_by(b, "b") == b_before
    assert model.failed[f"step one of {waiting}"] == 1
    assert model.failed[f"step one of {failing}"] == 1
    # a change to a settled run is refused alike on both nodes (409 from the owner)
    for node in (a, b):
        again = node.http.post(f"/runs/{failing}/retry", json={})
        assert again.status_code == 409, again.text


@pytest.mark.timeout(300)  # three servers on a shared machine; the bound stops a hang
def test_a_node_that_wakes_after_its_runs_were_taken_over_is_fenced_and_shows_the_cluster_copy(
    tmp_path: Path, nats_server: NatsServer, assets: Path
) -> None:
    """`kill -STOP` a node with runs in flight (a partition: its sockets stay open); the
    others take its runs over and drive them on. `kill -CONT`: the woken node gets the
    answers of the calls it had in flight, but its writes are refused (fenced), it takes
    no run back from the live nodes, and its folder ends with the cluster's copy of every
    run. No step answered twice."""
    ids = [f"p{i:02d}" for i in range(12)]
    victim = "b"
    on_victim = [r for r in ids if placed_on(NODES, r) == victim]
    assert len(on_victim) >= 2, on_victim
    with (
        CountingModel(delay_s=1.0) as model,
        cluster(tmp_path, nats_server, assets, model, NODES) as nodes,
    ):
        a, b, c = nodes["a"], nodes["b"], nodes["c"]
        for run_id in ids:
            body = {"workflow": "chain", "id": run_id, "inputs": {"tag": run_id}}
            assert a.http.post("/runs", json=body).status_code == 201

        def asked(run_id: str) -> bool:
            return bool(model.key_of(run_id, "one"))

        until(lambda: all(asked(r) for r in on_victim), "b's runs to have a call in flight")
        b.pause()
        try:
            until(
                lambda: (
                    sum(int(n.runs_info()["taken_over"]) for n in (a, c))  # type: ignore[call-overload]
                    >= len(on_victim)
                ),
                "a and c to take b's runs over",
            )
        finally:
            b.resume()
        for node in (a, b, c):
            until(
                lambda n=node: all(
                    n.http.get(f"/runs/{r}").json().get("status") == "succeeded" for r in ids
                ),
                f"every run to read as succeeded on node {node.name}",
                timeout_s=120,
            )
            for run_id in ids:
                assert succeeded_once(node, run_id)
        info = b.runs_info()
        assert int(info["fenced"]) >= 1, info  # type: ignore[call-overload]
        assert int(info["taken_over"]) == 0, info  # type: ignore[call-overload]
        # b's folder holds the cluster's copy: the same journal as the nodes that drove it
        for run_id in on_victim:
            assert events(b, run_id) == events(a, run_id) == events(c, run_id)
        for run_id in ids:
            for step in STEPS:
                keys = model.key_of(run_id, step)
                assert len(keys) == 1, (run_id, step, keys)
                assert model.requests[keys[0]] <= 2, (run_id, step)
        assert set(model.computed.values()) == {1}
