"""Fixtures for the runs tests (helpers in `_support.py`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lightflow_actors.host import CONFIG_ENV, RunsHosting

from ._support import RunsEnv, ServerProcess, running_host


@pytest.fixture
def runs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunsEnv:
    env = RunsEnv(tmp_path)
    monkeypatch.setenv(CONFIG_ENV, str(env.config_path))
    return env


@pytest.fixture
def gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """While this file exists, `gated_chat` (`_providers.py`) refuses step 5 of `chain`:
    a run fails there; remove the file and a retry can succeed."""
    path = tmp_path / "gate"
    path.touch()
    monkeypatch.setenv("LIGHTFLOW_TEST_GATE", str(path))
    return path


@pytest.fixture
def host(runs_env: RunsEnv) -> Callable[..., contextlib.AbstractAsyncContextManager[RunsHosting]]:
    """`async with host() as hosting:` the runs subtree, started in a fresh system."""
    return lambda **options: running_host(runs_env, **options)


@pytest.fixture
def server_factory(runs_env: RunsEnv) -> Iterator[Callable[..., ServerProcess]]:
    """`server_factory()` starts tests/runs/_serve_runs.py on the test config."""
    started: list[ServerProcess] = []

    def start(**kwargs: object) -> ServerProcess:
        server = ServerProcess(runs_env, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
