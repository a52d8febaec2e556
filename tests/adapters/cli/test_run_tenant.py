"""`lightflow run create --tenant`: the run works for that tenant (recorded in its files and
trace, written beside each request); a bad tenant is a usage error, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_run_verbs import Cli


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    config = tmp_path / "runs.json"
    config.write_text(
        json.dumps({"state_dir": str(tmp_path / "state"), "ctx": {"root": str(tmp_path / "ctx")}})
    )
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(config))
    monkeypatch.delenv("LIGHTFLOW_CTX_MOUNT", raising=False)
    runner = Cli.__new__(Cli)  # the in-process runner, on the config above
    runner.root, runner.state, runner.config = tmp_path, tmp_path / "state", config
    return runner


def test_run_create_with_a_tenant_records_it(cli: Cli) -> None:
    argv = ("run", "create", "text-plan", "--id", "t1", "--tenant", "acme")
    code, out, err = cli(*argv, "--inputs", '{"topic": "tea"}')
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "succeeded" and run["tenant"] == "acme"
    request = json.loads((cli.state / "runs" / "t1" / "request.json").read_text())
    assert request["tenant"] == "acme"
    trace = [json.loads(line) for line in cli("run", "trace", "t1")[1].splitlines()]
    committed = [t for t in trace if t["record"] == "cortex.request.committed"]
    assert committed and {t["tenant"] for t in committed} == {"acme"}
    for record in committed:
        path = Path(record["path"])
        assert path.with_name(path.name.replace(".req.json", ".tenant")).read_text() == "acme"


@pytest.mark.parametrize("bad", ["a b", "../x", "", "\u0430cme", "x" * 65])
def test_a_bad_tenant_is_a_usage_error(cli: Cli, bad: str) -> None:
    code, out, err = cli("run", "create", "text-plan", "--tenant", bad, "--id", "bad")
    assert (code, out) == (2, "") and "--tenant" in err
    assert not (cli.state / "runs" / "bad").exists()
