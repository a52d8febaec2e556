"""Shared pytest configuration.

- Async tests run on asyncio through anyio's plugin.
- Every test session gets its own XDG state and config folders (inherited by the server
  and CLI processes tests start), so no test reads or writes the user's real
  `~/.local/state/lightflow` or `~/.config/lightflow`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def _isolated_xdg_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.mktemp("xdg")
    saved = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME")}
    os.environ["XDG_STATE_HOME"] = str(base / "state")
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")
    for key in [k for k in os.environ if k.startswith("LIGHTFLOW_")]:
        saved.setdefault(key, os.environ.pop(key))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
