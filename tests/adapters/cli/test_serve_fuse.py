"""`lightflow serve --ctx-mount PATH --fuse`: the FUSE backend mounted by the server (the
backing tree under the state folder), runs and shell commits through the mount, unmounted
on SIGTERM, a stale mount left by kill -9 cleaned at the next start; without FUSE, a clear
one-line refusal. `--ctx-mount` alone moves the directory tree."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ctx_substrate._fuse_probe import clean_stale_mount, fuse_available

from ...serve_process import lightflow_serve

pytestmark = pytest.mark.fuse


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    config = tmp_path / "runs.json"
    config.write_text(json.dumps({"state_dir": str(tmp_path / "state")}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
    return {**env, "LIGHTFLOW_RUNS_CONFIG": str(config), **extra}


def _needs_fuse() -> None:
    reason = fuse_available()
    if reason is not None:
        pytest.skip(f"FUSE backend: {reason}")


def _stale(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def _run(url: str, run_id: str) -> dict[str, object]:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        created = http.post("/runs", json={"workflow": "word-count", "id": run_id,
                                           "inputs": {"text": "one two three"}})  # fmt: skip
        assert created.status_code == 201, created.text
        for _ in range(600):
            view: dict[str, object] = http.get(f"/runs/{run_id}").json()
            if view["status"] in ("succeeded", "failed", "cancelled"):
                return view
            time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not settle")


def test_serve_mounts_the_tree_with_fuse_and_unmounts_on_stop(tmp_path: Path) -> None:
    _needs_fuse()
    mnt, env = tmp_path / "mnt", _env(tmp_path)
    backing = tmp_path / "state" / "ctx"
    with lightflow_serve("--port", "0", "--ctx-mount", str(mnt), "--fuse", env=env,
                         log=tmp_path / "serve.log", check_exit=True) as url:  # fmt: skip
        assert os.path.ismount(mnt)
        assert _run(url, "w1")["status"] == "succeeded"
        with httpx.Client(base_url=url, trust_env=False) as http:
            assert http.get("/ctx/abi").json()["mount"] == str(backing)
        # One tree, two views: the run's files are in the backing folder and the mount.
        uid = str(os.getuid())
        answers = sorted(p.name for p in (backing / "tool").rglob("*.resp.json"))
        assert answers and answers == sorted(p.name for p in (mnt / "tool").rglob("*.resp.json"))
        # A shell commits through the mount (write, then mv) and gets its answer there.
        inbox = mnt / "tool" / "wordcount" / "invoke" / "inbox"
        outbox = inbox.parent / "outbox"
        subprocess.run(
            ["sh", "-c", f"printf '{{\"text\": \"a b\"}}' > {inbox}/s.tmp && "
                         f"mv {inbox}/s.tmp {inbox}/s.req.json"],
            check=True,
        )  # fmt: skip
        for _ in range(400):
            if (outbox / "s.resp.json").exists():
                break
            time.sleep(0.05)
        assert json.loads((outbox / "s.resp.json").read_text())
        assert list(mnt.rglob("*.req.json")) == []  # every request claimed
        assert (mnt / "home" / uid).is_dir()
    assert not os.path.ismount(mnt) and not _stale(mnt)


def test_a_stale_mount_from_a_killed_server_is_cleaned_at_start(tmp_path: Path) -> None:
    _needs_fuse()
    mnt, env = tmp_path / "mnt", _env(tmp_path)
    command = [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0",
               "--ctx-mount", str(mnt), "--fuse"]  # fmt: skip
    log = (tmp_path / "first.log").open("wb")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline(), "serve did not start"
        assert os.path.ismount(mnt)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
    try:
        assert _stale(mnt)  # what a crash leaves: ENOTCONN on every access
        with lightflow_serve("--port", "0", "--ctx-mount", str(mnt), "--fuse", env=env,
                             log=tmp_path / "second.log", check_exit=True) as url:  # fmt: skip
            assert os.path.ismount(mnt) and not _stale(mnt)
            assert _run(url, "w2")["status"] == "succeeded"
        assert "cleaned the stale FUSE mount" in (tmp_path / "second.log").read_text()
    finally:
        with contextlib.suppress(Exception):
            clean_stale_mount(mnt)


def test_without_libfuse_serve_fuse_is_a_one_line_refusal(tmp_path: Path) -> None:
    env = _env(tmp_path, FUSE_LIBRARY_NAME="no-such-fuse")
    done = subprocess.run(
        [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0",
         "--ctx-mount", str(tmp_path / "mnt"), "--fuse"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0 and done.stdout == ""
    assert "libfuse is not installed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not os.path.ismount(tmp_path / "mnt")


def test_ctx_mount_alone_moves_the_directory_tree(tmp_path: Path) -> None:
    tree, env = tmp_path / "tree", _env(tmp_path)
    with lightflow_serve("--port", "0", "--ctx-mount", str(tree), env=env,
                         log=tmp_path / "serve.log") as url:  # fmt: skip
        assert _run(url, "d1")["status"] == "succeeded"
        with httpx.Client(base_url=url, trust_env=False) as http:
            abi = http.get("/ctx/abi").json()
        assert abi["mount"] == str(tree) and abi["source"] == "config"
        assert list(tree.glob("tool/wordcount/invoke/outbox/*.resp.json"))
        assert not os.path.ismount(tree)


@pytest.mark.parametrize("argv", [["--ctx-mount", "relative/x"], ["--ctx-mount", ""]])
def test_serve_refuses_a_mount_path_that_is_not_absolute(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0", "--fuse", *argv],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "expected an absolute path" in done.stderr
