"""Which `/ctx` tree the runs use by default (the seed's `/ctx/home/<uid>` when `/ctx` is a
writable folder, else the state folder's tree), how `lightflow ctx abi` says so, and a bad
`LIGHTFLOW_CTX_UID` that is a one-line error, not a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lightflow_actors.host import _config

from .test_run_verbs import Cli


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("LIGHTFLOW_RUNS_CONFIG", str(tmp_path / "runs.json"))
    monkeypatch.delenv("LIGHTFLOW_CTX_MOUNT", raising=False)
    monkeypatch.delenv("LIGHTFLOW_CTX_UID", raising=False)
    return Cli(tmp_path)


def test_a_writable_ctx_folder_is_the_default_tree(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = tmp_path / "ctx"
    seed.mkdir()
    monkeypatch.setattr(_config, "SEED_MOUNT", str(seed))
    abi = cli.json("ctx", "abi")
    uid = str(os.getuid())
    assert (abi["mount"], abi["source"], abi["home"]) == (str(seed), "ctx", f"{seed}/home/{uid}")  # type: ignore[index]
    # A run goes through it: the request lands in /ctx/home/<uid>/api/...
    view = cli.json("run", "create", "greet", "--id", "g1", "--inputs", '{"name": "A"}')
    assert view["status"] == "succeeded"  # type: ignore[index]
    assert list(seed.glob(f"home/{uid}/api/openai.chat/outbox/*.resp.json"))
    assert not (cli.state / "ctx").exists()


def test_without_a_ctx_folder_the_state_tree_is_used_and_said(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "SEED_MOUNT", str(tmp_path / "no-such-ctx"))
    abi = cli.json("ctx", "abi")
    assert (abi["mount"], abi["source"]) == (str(cli.state / "ctx"), "state")  # type: ignore[index]
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    monkeypatch.setattr(_config, "SEED_MOUNT", str(not_a_folder))
    assert cli.json("ctx", "abi")["source"] == "state"  # type: ignore[index]


def test_the_environment_and_the_config_are_said_too(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTFLOW_CTX_MOUNT", str(tmp_path / "mounted"))
    monkeypatch.setenv("LIGHTFLOW_CTX_UID", "alice")
    abi = cli.json("ctx", "abi")
    assert (abi["source"], abi["uid"]) == ("env", "alice")  # type: ignore[index]
    monkeypatch.delenv("LIGHTFLOW_CTX_MOUNT")
    document = json.loads(cli.config.read_text())
    cli.config.write_text(json.dumps({**document, "ctx": {"root": str(tmp_path / "cfg")}}))
    assert cli.json("ctx", "abi")["source"] == "config"  # type: ignore[index]


@pytest.mark.parametrize("uid", ["../x", "..", "a/b", "x\ny", "x" * 300])
@pytest.mark.parametrize(
    "argv",
    [
        ("ctx", "abi"),
        ("run", "list"),
        ("run", "create", "greet", "--inputs", '{"name": "A"}'),
    ],
)
def test_a_bad_ctx_uid_is_a_one_line_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uid: str, argv: tuple[str, ...]
) -> None:
    monkeypatch.setenv("LIGHTFLOW_CTX_MOUNT", str(tmp_path / "mounted"))
    monkeypatch.setenv("LIGHTFLOW_CTX_UID", uid)
    code, out, err = cli(*argv)
    assert (code, out) == (1, "")
    assert err.startswith("lightflow ") and "LIGHTFLOW_CTX_UID" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert cli.runs() == set()
