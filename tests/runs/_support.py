"""Shared helpers of the runs tests: a runs config in a temp folder (test assets, a Python
provider), an in-process runs host, and a real server process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.host import CONFIG_ENV, RunsConfig, RunsHosting, decode_runs_config

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
PROVIDERS = HERE / "_providers.py"
SERVER = HERE / "_serve_runs.py"


class RunsEnv:
    """A state folder, a config file naming it, and the environment that selects it."""

    def __init__(
        self,
        root: Path,
        provider: str = "chat",
        blocking: bool = False,
        assets: Path = ASSETS,
        token: str | None = None,
        evaluation: dict[str, object] | None = None,
    ) -> None:
        self.root = root
        self.token = token
        self.state = root / "state"
        self.config_path = root / "runs.json"
        document = {
            "state_dir": str(self.state),
            "assets": str(assets),
            "providers": [
                {
                    "kind": "python",
                    "name": "mock",
                    "target": f"{PROVIDERS}:{provider}",
                    "blocking": blocking,
                }
            ],
        }
        if evaluation is not None:
            document["evaluation"] = evaluation
        self.config_path.write_bytes(msgspec.json.encode(document))
        self.config: RunsConfig = decode_runs_config(self.config_path.read_bytes())
        self.environ = {**os.environ, CONFIG_ENV: str(self.config_path)}

    @property
    def runs(self) -> Path:
        return self.state / "runs"


def _metadata(asset_id: str) -> str:
    return (
        f'METADATA = {{"id": "{asset_id}", "title": "T", "kind": "workflow", '
        '"description": "a hostile asset", "stability": "draft"}\n'
    )


HOSTILE = {
    "syntax.py": '"""x"""\nMETADATA = {"id": \n',
    "loop.py": _metadata("loop") + "\nwhile True:\n    pass\n",
    "exits.py": "import os\n\n" + _metadata("exits") + "os._exit(0)\n",
    "boom.py": _metadata("boom") + "\n\nraise RuntimeError('boom')\n",
    "hog.py": _metadata("hog") + "blob = bytearray(8 << 30)\n",
}
"""Workflow files that break in each way the evaluator reports (file -> source); the
line of each failure: syntax 2, loop 4 (or 3), exits 4, boom 4, hog 2."""


def hostile_assets(root: Path) -> Path:
    """The test assets plus the `HOSTILE` workflow files, under `root/assets`."""
    assets = root / "assets"
    shutil.copytree(ASSETS, assets)
    for name, source in HOSTILE.items():
        (assets / "workflows" / name).write_text(source)
    return assets


@contextlib.asynccontextmanager
async def running_host(env: RunsEnv, **options: object) -> AsyncIterator[RunsHosting]:
    hosting = RunsHosting(env.config, environ=env.environ, **options)  # type: ignore[arg-type]
    async with ActorSystem() as system:
        await hosting.start(system)
        try:
            yield hosting
        finally:
            await hosting.stop()


class ServerProcess:
    """`tests/runs/_serve_runs.py` as a child process (kill -9 included)."""

    def __init__(self, env: RunsEnv, port: int = 0, token: str | None = None) -> None:
        self.env = env
        self.log = env.root / f"server-{len(list(env.root.glob('server-*.log')))}.log"
        argv = [sys.executable, str(SERVER), "--port", str(port)]
        if token is not None:
            argv += ["--token", token]
        with self.log.open("wb") as log:  # a file, not a pipe: a chatty server never blocks
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, env=env.environ, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise AssertionError(f"server did not start: {self.log.read_text()}")
        info = json.loads(line)
        self.url: str = info["url"].rstrip("/")
        self.port: int = info["port"]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()
        return self.proc.returncode
