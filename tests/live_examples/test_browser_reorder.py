"""Real browser: a re-ordered keyed list moves the fewest elements (section 2d of the client).

The painter harness of test_browser_paint feeds `DiffState` patches to the client on a
detached root. A row that went k places down used to cost k moves (every element the
walk met out of place was moved); now the elements on a longest increasing run of their
old positions stay and only the others move: n - LIS moves. Checked by counting the
moved elements with a `MutationObserver`, on single moves, a reversal, and generated
sequences of moves mixed with inserts, deletes and changes, after each of which the page
must still equal a full render.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.async_api import Page

from lightflow_actors.live._diff import _longest_increasing

from ..live.live_shapes import Item, Shape
from .test_browser import pytestmark  # noqa: F401
from .test_browser_paint import _patches, harness_page

COUNT_MOVES = """() => {
  paint.root.querySelectorAll("li").forEach((li) => { li.__old = true; });
  window.moved = new Set();
  window.moves = new MutationObserver((records) => {
    for (const r of records) for (const n of r.addedNodes) if (n.__old) moved.add(n.id);
  });
  moves.observe(paint.root, {subtree: true, childList: true});
}"""

TAKE_MOVES = """() => {
  for (const r of moves.takeRecords()) for (const n of r.addedNodes) if (n.__old) moved.add(n.id);
  moves.disconnect();
  return [...moved];
}"""


def _shape(keys: list[str], text_of: dict[str, str] | None = None) -> Shape:
    texts = text_of or {}
    return Shape(title="t", items=[Item(key=k, text=texts.get(k, k)) for k in keys])


def _fewest_moves(before: list[str], after: list[str]) -> int:
    """n - LIS over the surviving keys' old positions: what no keyed morph can beat."""
    where = {key: i for i, key in enumerate(before)}
    surviving = [where[key] for key in after if key in where]
    return len(surviving) - len(_longest_increasing(surviving))


async def _apply(page: Page, patch: object) -> dict[str, object]:
    result: dict[str, object] = await page.evaluate("(p) => paint.apply(p)", patch)
    assert result["got"] == result["want"], patch
    return result


async def _moved_by(page: Page, before: list[str], after: list[str]) -> list[str]:
    """Paint `before`, then the patch to `after`; the ids of the elements it moved."""
    await page.evaluate("paint.reset()")
    first, second = _patches([_shape(before), _shape(after)])
    await _apply(page, first)
    await page.evaluate(COUNT_MOVES)
    result = await _apply(page, second)
    assert result["partial"], "a re-order is painted in part"
    moved: list[str] = await page.evaluate(TAKE_MOVES)
    return moved


async def test_single_moves_and_a_reversal_move_the_fewest_elements() -> None:
    async with harness_page("reorder") as page:
        keys = [f"k{i}" for i in range(300)]
        # The first row to the end: one move (the walk used to move the other 299).
        assert await _moved_by(page, keys, keys[1:] + keys[:1]) == ["i-k0"]
        # One row 200 places down, one 150 places up.
        down = keys[:10] + keys[11:211] + [keys[10]] + keys[211:]
        assert await _moved_by(page, keys, down) == ["i-k10"]
        up = [*keys[:50], keys[200], *keys[50:200], *keys[201:]]
        assert await _moved_by(page, keys, up) == ["i-k200"]
        # Two adjacent rows swapped: one move.
        swapped = [*keys[:5], keys[6], keys[5], *keys[7:]]
        assert len(await _moved_by(page, keys, swapped)) == 1
        # A reversal cannot do better than n - 1.
        assert len(await _moved_by(page, keys, keys[::-1])) == 299
        # A shuffle: exactly n - LIS.
        shuffled = list(keys)
        random.Random(5).shuffle(shuffled)
        moved = await _moved_by(page, keys, shuffled)
        assert len(moved) == _fewest_moves(keys, shuffled)


@st.composite
def reorders(draw: st.DrawFn) -> list[tuple[list[str], dict[str, str]]]:
    """A list of keyed rows through moves, inserts, deletes and text changes."""
    fresh = iter(f"n{i}" for i in range(1000))
    keys = [f"k{i}" for i in range(draw(st.integers(0, 30)))]
    texts: dict[str, str] = {}
    history = [(list(keys), dict(texts))]
    for _ in range(draw(st.integers(1, 5))):
        for _ in range(draw(st.integers(1, 5))):
            op = draw(st.sampled_from(["move", "move", "insert", "delete", "text", "shuffle"]))
            if op == "insert" or not keys:
                keys.insert(draw(st.integers(0, len(keys))), next(fresh))
            elif op == "delete":
                del keys[draw(st.integers(0, len(keys) - 1))]
            elif op == "move":
                moved = keys.pop(draw(st.integers(0, len(keys) - 1)))
                keys.insert(draw(st.integers(0, len(keys))), moved)
            elif op == "text":
                texts[keys[draw(st.integers(0, len(keys) - 1))]] = draw(st.text(max_size=3))
            else:
                keys = draw(st.permutations(keys))
        history.append((list(keys), dict(texts)))
    return history


async def test_generated_reorders_paint_the_full_render_with_the_fewest_moves() -> None:
    async with harness_page("reorder-gen") as page:
        histories: list[list[tuple[list[str], dict[str, str]]]] = []

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
            database=None,
        )
        @given(reorders())
        def collect(history: list[tuple[list[str], dict[str, str]]]) -> None:
            histories.append(history)

        collect()
        counted = 0
        for history in histories:
            await page.evaluate("paint.reset()")
            patches = _patches([_shape(keys, texts) for keys, texts in history])
            await _apply(page, patches[0])
            for (before, old_texts), (after, texts), patch in zip(
                history[:-1], history[1:], patches[1:], strict=True
            ):
                await page.evaluate(COUNT_MOVES)
                await _apply(page, patch)
                moved: list[str] = await page.evaluate(TAKE_MOVES)
                if set(before) == set(after) and texts == old_texts:
                    # Only a re-order: exactly the fewest moves.
                    assert len(moved) == _fewest_moves(before, after), (before, after)
                    counted += 1
        assert counted > 0


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_clients_longest_increasing_run_is_as_long_as_pythons(seed: int) -> None:
    async with harness_page("reorder-lis") as page:
        rng = random.Random(seed)
        for size in (0, 1, 2, 7, 100):
            values = rng.sample(range(1000), size)
            run: list[int] = await page.evaluate(
                "(v) => LightflowLive.longestIncreasing(v)", values
            )
            picked = [values[i] for i in run]
            assert run == sorted(run) and picked == sorted(picked)
            assert len(set(picked)) == len(picked)
            assert len(run) == len(_longest_increasing(values))
