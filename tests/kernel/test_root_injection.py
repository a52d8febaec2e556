"""The kernel's ``ActorSystem`` takes its root as an injected ``RootStarter``.

The kernel imports nothing above itself: supervision injects the root supervisor from its
own ``ActorSystem`` subclass (``tests/supervision/test_root.py`` covers that side).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Never

import pytest

from lightflow_actors import kernel
from lightflow_actors.kernel import Actor, ActorRef, RootStarter, handler

from ._actors import Counter, Get, Inc

# Real loop only: these check the wiring of the kernel's own ActorSystem class, which the
# runtime fixture does not build (it builds the supervised one); no concurrency claim.
pytestmark = pytest.mark.anyio

KERNEL = Path(kernel.__file__).parent


class Top(Actor[Inc]):
    @handler
    def inc(self, msg: Inc) -> None:
        pass


def test_the_kernel_imports_nothing_above_itself() -> None:
    upward: list[str] = []
    for path in sorted(KERNEL.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                # ".x" is a kernel module; "..x" or "lightflow_actors.x" leave the kernel.
                above = name.startswith("..") or (
                    name.startswith("lightflow_actors")
                    and not name.startswith("lightflow_actors.kernel")
                )
                if above:
                    upward.append(f"{path.name}:{node.lineno}: {name}")
    assert upward == []


async def test_the_bare_kernel_has_no_root() -> None:
    async with kernel.ActorSystem() as system:
        assert system.root is None
        ref = system.spawn(Counter)
        ref.tell(Inc())
        assert await ref.ask(Get()) == 1
        assert system.info(ref).parent is None
        assert [a.kind for a in system.actors()] == ["Counter"]


async def test_an_injected_root_parents_and_links_every_top_level_actor() -> None:
    started: list[kernel.ActorSystem] = []

    async def start_top(system: kernel.ActorSystem) -> ActorRef[Never]:
        started.append(system)
        ref: ActorRef[Never] = await system.start_actor(Top, name="top")
        return ref

    starter: RootStarter = start_top
    async with kernel.ActorSystem(root=starter) as system:
        assert started == [system]
        assert system.root is not None and system.root == system.whereis("top")
        ref = system.spawn(Counter)
        info = system.info(ref)
        assert (info.parent, info.links) == (system.root.id, [system.root.id])
    assert not system.root.alive  # shutdown stops the root with everything else


def test_a_bool_root_on_the_kernel_names_the_supervised_system() -> None:
    with pytest.raises(TypeError, match=r"use lightflow_actors\.ActorSystem"):
        kernel.ActorSystem(root=True)  # type: ignore[arg-type]
