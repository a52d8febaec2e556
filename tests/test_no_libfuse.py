"""Without libfuse everything but a FUSE mount works: imports, the CLI, `lightflow serve`.

Each check runs in a fresh interpreter with `FUSE_LIBRARY_NAME=no-such-fuse`, which makes
`mfusepy` fail to find libfuse exactly as on a machine where it is not installed. A FUSE
mount requested there fails with `FuseUnavailable` naming libfuse.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

NO_LIBFUSE = "no-such-fuse"


def no_libfuse_env(tmp_path: Path) -> dict[str, str]:
    """The current environment with libfuse unfindable and the state in `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTFLOW_")}
    env.pop("FUSE_LIBRARY_PATH", None)  # would bypass FUSE_LIBRARY_NAME
    env["FUSE_LIBRARY_NAME"] = NO_LIBFUSE
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return env


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_packages_import(tmp_path: Path) -> None:
    done = python(
        "import sys, lightflow_actors, ctx_substrate, lightflow_actors.cli\n"
        "assert 'mfusepy' not in sys.modules, 'mfusepy is imported by the packages'\n"
        "try:\n"
        "    import mfusepy\n"  # and the environment does reproduce a missing libfuse
        "except OSError as exc:\n"
        "    print('no libfuse:', exc)\n",
        no_libfuse_env(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no libfuse:"), done.stdout


def test_cli_help(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lightflow_actors.cli", "--help"],
        env=no_libfuse_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_serve_answers_health_and_tree(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightflow_actors.cli", "serve", "--port", "0"],
        env=no_libfuse_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")  # end of output: the server exited

    threading.Thread(target=read, daemon=True).start()
    try:
        try:
            first = lines.get(timeout=60)  # the server prints its URL once it accepts
        except queue.Empty:
            first = ""
        assert first, f"serve did not start: exit {proc.poll()}"
        url = json.loads(first)["url"].rstrip("/")
        answers: dict[str, httpx.Response] = {}
        deadline = time.monotonic() + 20  # bounds a hang; asserts nothing about speed
        with httpx.Client(base_url=url, timeout=5) as client:
            for path in ("/health", "/system/tree"):
                while True:
                    try:
                        answers[path] = client.get(path)
                        if answers[path].status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert proc.poll() is None, "serve exited"
                    assert time.monotonic() < deadline, f"{path}: no 200 ({answers.get(path)})"
                    time.sleep(0.1)
        for path, response in answers.items():
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("application/json"), path
            assert isinstance(response.json(), dict), path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, stderr


MOUNT_A_SUBSTRATE = """
import asyncio, sys
from pathlib import Path
from ctx_substrate import Routes, Substrate, SubstrateConfig, callable_provider
from ctx_substrate._fuse_probe import FuseUnavailable, fuse_available
from lightflow_actors import ActorSystem, StartFailed

base = Path(sys.argv[1])


async def main() -> None:
    config = SubstrateConfig(
        root=str(base / "ctx"), mount=str(base / "mnt"), uids=("1000",),
        routes=Routes(api={"*": "echo"}),
    )
    system = ActorSystem()
    await system.start()
    try:
        await system.start_actor(
            lambda: Substrate(config, [callable_provider("echo", lambda r: r.body)])
        )
    except StartFailed as exc:
        assert isinstance(exc.reason, FuseUnavailable), repr(exc.reason)
        print("REFUSED:", exc.reason)
    else:
        print("MOUNTED")
    finally:
        await system.shutdown()
    print("PROBE:", fuse_available())


asyncio.run(main())
"""


def test_a_fuse_mount_fails_naming_libfuse(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MOUNT_A_SUBSTRATE, str(tmp_path)],
        env=no_libfuse_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    refused, probe = done.stdout.splitlines()[-2:]
    assert refused.startswith("REFUSED: cannot mount"), done.stdout
    assert "libfuse is not installed" in refused, refused
    assert probe.startswith("PROBE: ") and "libfuse is not installed" in probe, probe
