"""Fixtures for the flow tests: the repository's assets, a run store in a temp folder,
a settable wall clock, and a helper that writes asset files."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    FlowService,
    RunStore,
    default_assets_root,
)

from ._evaluator import SHARED


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def wall_ms(self) -> int:
        return self.ms


@pytest.fixture(scope="session")
def catalog() -> AssetCatalog:
    return AssetCatalog.scan(default_assets_root())


@pytest.fixture(scope="session", autouse=True)
def evaluator() -> Iterator[AssetEvaluator]:
    """One evaluator for the session (`_evaluator.SHARED`): its cache spares a process per
    repeated preview. Closed when the session ends, whether or not a test asked for it."""
    yield SHARED
    SHARED.close()


@pytest.fixture
def own_evaluator() -> Iterator[AssetEvaluator]:
    """An evaluator of the test's own (its counters start at zero), closed after it."""
    mine = AssetEvaluator()
    yield mine
    mine.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "state")


@pytest.fixture
def service(
    catalog: AssetCatalog, store: RunStore, clock: FakeClock, evaluator: AssetEvaluator
) -> FlowService:
    return FlowService(catalog, store, clock, random.Random(7), evaluator)


WriteAsset = Callable[[str, str, str], Path]


@pytest.fixture
def write_asset(tmp_path: Path) -> WriteAsset:
    """write_asset("workflows", "x.py", source) -> path, under tmp_path/assets."""

    def write(folder: str, name: str, source: str) -> Path:
        directory = tmp_path / "assets" / folder
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_text(textwrap.dedent(source))
        return path

    return write
