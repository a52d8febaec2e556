"""A restarted child's last crash: kept by its supervisor (reason and traceback), shown
in ``system_tree`` and ``which_children``, bounded, and holding nothing of the dead actor."""

from __future__ import annotations

import gc
import logging
import traceback
import weakref
from typing import cast

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightflow_actors import SHUTDOWN, Actor, ActorRef, ActorSystem, handler
from lightflow_actors.supervision import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    start_child,
    system_tree,
    which_children,
)
from lightflow_actors.supervision._crash import MAX_FRAMES, MAX_TEXT, CrashNote, _bounded

from ..conftest import Runtime
from ._actors import Crash, child_ref, crash_and_settle, exited, settle


class Ballast:
    """Something big a crashed actor held (the test checks it is not kept alive)."""


class Chained(Actor[Crash]):
    """Crashes with a ``ValueError`` raised from a ``KeyError``, holding a `Ballast`."""

    instances: weakref.WeakSet[Ballast] = weakref.WeakSet()

    def __init__(self) -> None:
        self.ballast = Ballast()
        Chained.instances.add(self.ballast)

    @handler
    def crash(self, msg: Crash) -> None:
        try:
            {}[msg.text]
        except KeyError as exc:
            raise ValueError(f"no {msg.text}") from exc


def _tree_crash(system: object, child_id: str) -> object:
    tree = system_tree(system)  # type: ignore[arg-type]
    stack = list(tree.roots)
    while stack:
        node = stack.pop()
        if node.child_id == child_id:
            return node.crash
        stack.extend(node.children)
    raise AssertionError(f"no child {child_id!r} in the tree")


async def test_a_restarted_child_shows_its_last_crash_and_traceback(runtime: Runtime) -> None:
    async with runtime.system() as system:
        top = await system.start_actor(lambda: Supervisor([ChildSpec(id="c", start=Chained)]))
        first = await child_ref(top, "c")
        assert _tree_crash(system, "c") is None  # never crashed
        await crash_and_settle(system, top, first)

        crash = _tree_crash(system, "c")
        assert crash is not None
        assert crash.reason == "ValueError: no boom"  # type: ignore[attr-defined]
        text = crash.traceback  # type: ignore[attr-defined]
        assert text.startswith("Traceback (most recent call last):")
        assert "KeyError: 'boom'" in text  # the cause, then the error
        assert "direct cause of the following exception" in text
        assert 'raise ValueError(f"no {msg.text}") from exc' in text  # the source line
        assert text.rstrip().endswith("ValueError: no boom")
        assert crash.restarts == 0  # type: ignore[attr-defined]

        rows = await which_children(top)
        assert rows[0].crash == crash  # which_children carries it too
        # the JSON operators get
        assert msgspec.json.decode(msgspec.json.encode(crash))["reason"] == "ValueError: no boom"
        await system.terminate(top, SHUTDOWN, None)


@pytest.mark.anyio
async def test_the_crash_keeps_nothing_of_the_dead_actor() -> None:
    # A memory claim, not a schedule: the real loop (the deterministic one records its
    # trace). pytest's log capture would keep each crash's record, traceback and all.
    Chained.instances.clear()
    logging.disable(logging.CRITICAL)
    try:
        await _crash_three_times()
    finally:
        logging.disable(logging.NOTSET)


async def _crash_three_times() -> None:
    async with ActorSystem() as system:
        top = await system.start_actor(
            lambda: Supervisor([ChildSpec(id="c", start=Chained)], intensity=10)
        )
        for _ in range(3):
            await crash_and_settle(system, top, await child_ref(top, "c"))
        gc.collect()
        # only the running incarnation's ballast is alive: no traceback holds the others
        assert len(Chained.instances) == 1
        await system.terminate(top, SHUTDOWN, None)


async def test_an_orderly_exit_keeps_the_last_crash(runtime: Runtime) -> None:
    async with runtime.system() as system:
        top = await system.start_actor(
            lambda: Supervisor([ChildSpec(id="c", start=Chained)], intensity=10)
        )
        await crash_and_settle(system, top, await child_ref(top, "c"))
        before = _tree_crash(system, "c")
        ref = await child_ref(top, "c")
        system.exit(ref, "kill")  # killed, not a crash: restarted, the crash stays
        await exited(system, ref)
        await settle(system, top)
        await child_ref(top, "c")
        assert _tree_crash(system, "c") == before
        await system.terminate(top, SHUTDOWN, None)


async def test_a_child_waiting_for_its_backoff_shows_the_crash(runtime: Runtime) -> None:
    async with runtime.system() as system:
        spec = ChildSpec(id="slow", start=Chained, backoff=Backoff(min_delay=3600, max_delay=3600))
        top = await system.start_actor(lambda: Supervisor([spec]))
        ref = await child_ref(top, "slow")
        cast(ActorRef[Crash], ref).tell(Crash("key"))
        await exited(system, ref)
        await settle(system, top)
        (pending,) = [
            p for root in system_tree(system).roots for n in _walk(root) for p in n.pending
        ]
        assert pending.status == "restarting" and pending.crash is not None
        assert pending.crash.reason == "ValueError: no key"
        assert "KeyError: 'key'" in pending.crash.traceback
        await system.terminate(top, SHUTDOWN, None)


async def test_a_dynamic_child_shows_its_last_crash(runtime: Runtime) -> None:
    async with runtime.system() as system:
        dyn = await system.start_actor(DynamicSupervisor)
        ref = await start_child(dyn, ChildSpec(id="d", start=Chained))
        await crash_and_settle(system, dyn, ref)
        crash = _tree_crash(system, "d")
        assert crash is not None and "ValueError: no boom" in crash.traceback  # type: ignore[attr-defined]
        await system.terminate(dyn, SHUTDOWN, None)


def _walk(node: object) -> list[object]:
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        out.append(item)
        stack.extend(item.children)  # type: ignore[attr-defined]
    return out  # type: ignore[return-value]


def _deep(depth: int) -> None:
    if depth:
        _deep(depth - 1)
    raise RuntimeError("x" * 5000)


def test_a_deep_traceback_is_bounded_and_says_what_was_left_out() -> None:
    try:
        _deep(200)
    except RuntimeError as exc:
        note = CrashNote(exc, at_ms=1, restarts=2)
    crash = note.crash()
    assert len(crash.traceback) <= MAX_TEXT
    assert "characters left out" in crash.traceback
    assert f"{201 + 1 - MAX_FRAMES} outer frames left out" in crash.traceback
    assert crash.traceback.rstrip().endswith("x")  # the error's own line is kept
    assert len(crash.reason) <= 1000
    assert note.crash() is crash  # formatted once


def test_an_exception_without_a_traceback_has_its_reason_only() -> None:
    crash = CrashNote(OSError("gone"), at_ms=0, restarts=0).crash()
    assert crash.reason == "OSError: gone"
    assert crash.traceback == "OSError: gone\n"


@given(st.text(max_size=10_000), st.integers(min_value=100, max_value=5000))
def test_bounded_text_fits_its_limit_and_keeps_both_ends(text: str, limit: int) -> None:
    out = _bounded(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        assert out.startswith(text[: (limit - 60) // 4 - 10])
        assert out.endswith(text[-10:])


def _chained(n: int) -> None:
    try:
        if n % 2:
            {}["missing"]
        else:
            raise ValueError(f"inner {n}")
    except (KeyError, ValueError) as exc:
        raise RuntimeError(f"outer {n}") from exc


@pytest.mark.parametrize("n", [0, 1])
def test_the_lines_are_the_ones_python_prints(n: int) -> None:
    """Lines are looked up from each frame's instruction offset only when the text is
    built; they are the lines ``traceback`` prints, source included."""
    try:
        _chained(n)
    except RuntimeError as exc:
        error = exc
    note = CrashNote(error, at_ms=1, restarts=0)
    expected = "".join(traceback.format_exception(error))
    text = note.crash().traceback
    python_lines = [line for line in expected.splitlines() if line.lstrip().startswith("File")]
    assert [line for line in text.splitlines() if line.lstrip().startswith("File")] == (
        python_lines
    )
    assert text.endswith(f"RuntimeError: outer {n}\n")
