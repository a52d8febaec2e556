"""Forwarded changes between real processes: two `lightflow serve --cluster` nodes, a
run driven by node a, and its changes asked of node b, which forwards them to a
(specs/cluster.md §Runs, Forwarding): a step waiting out its retry backoff is submitted
now, and a failed run is retried; both nodes then read the same finished run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._runs_drill import ClusterNode, CountingModel, placed_on, until
from ._servers import NatsServer
from .test_runs_cluster import cluster

PATIENT = """\
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Policy, RetryPolicy, Workflow

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
    # a second attempt only after 10 minutes: a submit is the only way on
    slow = "max_attempts=2, initial_backoff_s=600.0, max_backoff_s=600.0, jitter=0.0"
    for name, retry in (("slow-retry", slow), ("one-attempt", "max_attempts=1")):
        (folder / "policies" / f"{name}.py").write_text(POLICY % {"id": name, "retry": retry})
    for name, policy in (("patient-one", "slow-retry"), ("single", "one-attempt")):
        text = PATIENT % {"id": name, "policy": policy}
        (folder / "workflows" / f"{name}.py").write_text(text)
    return folder


def _run_on(node: str, prefix: str) -> str:
    """A run id placed on `node` (rendezvous hashing among a and b)."""
    return next(f"{prefix}{i}" for i in range(100) if placed_on(["a", "b"], f"{prefix}{i}") == node)


def _step(node: ClusterNode, run_id: str) -> dict[str, object]:
    steps: list[dict[str, object]] = node.http.get(f"/runs/{run_id}").json().get("steps", [])
    return steps[0] if steps else {}


@pytest.mark.timeout(300)  # two servers on a shared machine; the bound stops a hang
def test_submit_and_retry_asked_of_another_node_are_forwarded_to_the_owner(
    tmp_path: Path, nats_server: NatsServer, assets: Path
) -> None:
    with (
        CountingModel(delay_s=0.05) as model,
        cluster(tmp_path, nats_server, assets, model, ["a", "b"]) as nodes,
    ):
        a, b = nodes["a"], nodes["b"]
        waiting, failing = _run_on("a", "w"), _run_on("a", "f")
        model.failing |= {waiting, failing}
        for run_id, workflow in ((waiting, "patient-one"), (failing, "single")):
            body = {"workflow": workflow, "id": run_id, "inputs": {"tag": run_id}}
            created = b.http.post("/runs", json=body)  # forwarded to a, where it is placed
            assert created.status_code == 201, created.text
        # the first attempt failed: the step waits 10 minutes for its second
        until(
            lambda: (
                _step(b, waiting).get("status") == "planned"
                and _step(b, waiting).get("attempts") == 1
            ),
            "the step to wait out its backoff, seen on node b",
        )
        until(lambda: b.http.get(f"/runs/{failing}").json().get("status") == "failed", "a fail")
        model.failing.clear()
        forwarded_before = int(b.runs_info()["forwarded"])  # type: ignore[call-overload]
        # submit now, asked of b: forwarded to a, which drives the run
        submitted = b.http.post(f"/runs/{waiting}/steps/one/submit", json={})
        assert submitted.status_code == 200, submitted.text
        # retry, asked of b: forwarded to a
        retried = b.http.post(f"/runs/{failing}/retry", json={})
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
        # the runs stayed on a: b drove nothing, and wrote no record
        info = a.runs_info()
        assert set(info["runs"]) == {"a"}, info  # type: ignore[arg-type]
        assert model.failed[f"step one of {waiting}"] == 1
        assert model.failed[f"step one of {failing}"] == 1
        # a change to a settled run is refused alike on both nodes (409 from the owner)
        for node in (a, b):
            again = node.http.post(f"/runs/{failing}/retry", json={})
            assert again.status_code == 409, again.text
