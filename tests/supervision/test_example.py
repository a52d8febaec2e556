"""The README's supervision example, run as written (keep the two in step)."""

from __future__ import annotations

import logging

import msgspec
import pytest

from lightflow_actors import Actor, ActorSystem, Ask, handler
from lightflow_actors.supervision import (
    ChildSpec,
    Supervisor,
    system_tree,
    which_children,
)

# Real loop only: the README's code builds its own ActorSystem, run here as written; the
# strategies it shows run on both loops in test_strategies.py.
pytestmark = pytest.mark.anyio


class Crash(msgspec.Struct, frozen=True):
    pass


class Hits(Ask[int], frozen=True):
    pass


class Cache(Actor[Crash | Hits]):
    def __init__(self) -> None:
        self.hits = 0

    @handler
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("corrupt entry")

    @handler
    def get_hits(self, msg: Hits) -> int:
        self.hits += 1
        return self.hits


async def readme_example() -> list[tuple[str, str, int]]:
    async with ActorSystem(root=False) as system:
        sup = await system.start_actor(
            lambda: Supervisor(
                [ChildSpec(id="cache", start=Cache, name="cache")],
                strategy="one_for_one",
                intensity=3,
                period=5.0,
            )
        )
        cache = system.lookup("cache", Cache)
        cache.tell(Crash())  # crashes; the supervisor starts a fresh Cache
        await system.wait_exit(cache)
        rows = await which_children(sup)
        assert await system.lookup("cache", Cache).ask(Hits()) == 1
        print(msgspec.json.encode(system_tree(system)).decode())
        return [(r.id, r.status, r.restarts) for r in rows]


async def test_readme_example(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.CRITICAL):
        assert await readme_example() == [("cache", "running", 1)]
