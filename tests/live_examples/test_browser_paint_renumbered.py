"""Real browser: the painter after a full render whose templates are numbered anew.

A rejoin or a resync (ADR 0112) starts the server's `DiffState` over, so the template
ids of the new full render may name other statics than before. The painter kept each
template's shape (its root tag, where a ``data-lf-id`` goes) by id, so the next patch
wrote the new statics with the old shape: ``data-lf-id`` in the middle of a heading's
text, placeholders with the old template's tag (an ``<s>`` striking the page through).
Shapes are now kept by the statics themselves.
"""

from __future__ import annotations

import msgspec

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import DiffState, Template, encode_patch, keyed

from ..live.live_server import serving
from .test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    async_playwright,
    open_page,
    pytestmark,
)
from .test_browser_paint import Blank

# One painter through two sessions: full render, patch; full render anew, patch.
STEPS = """(steps) => {
  const L = window.LightflowLive;
  const root = document.createElement("div");
  document.body.appendChild(root);
  const painter = new L.Painter();
  const strip = (html) => {
    const t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("[data-lf-id]").forEach((e) => e.removeAttribute("data-lf-id"));
    return t.innerHTML;
  };
  let state = null;
  return steps.map(([kind, patch]) => {
    let partial = false;
    const before = state;
    state = L.merge.applyPatch(kind === "render" ? L.merge.emptyState() : state, patch);
    if (kind === "patch") {
      try { partial = painter.paint(root, before, state, {added: [], updated: []}); }
      catch (e) { if (!(e instanceof L.PaintMiss)) throw e; }
    }
    if (!partial) {
      L.morph(root, painter.fullHtml(state), {added: [], updated: []});
      painter.rescan(root);
    }
    return {partial, got: strip(root.innerHTML), want: strip(L.merge.toHtml(state))};
  });
}"""

FIRST = Template('<div><s id="struck">{x}</s>{rows}</div>')
FIRST_ROW = Template('<section id="r-{k}">{v}</section>')
SECOND = Template('<div><h3 id="title">Re-run {x}</h3>{rows}</div>')
SECOND_ROW = Template('<p id="p-{k}">{v}</p>')


def _tree(page: Template, row: Template, x: str, v: str) -> object:
    return page(x=x, rows=keyed(row, [(k, row(k=k, v=f"{v}{k}")) for k in "abc"]))


def _encoded(diff: DiffState, tree: object) -> object:
    return msgspec.json.decode(encode_patch(diff.diff(tree)))


async def test_a_full_render_with_renumbered_templates_then_patches_paint_the_new_ones() -> None:
    async with ActorSystem("paint-renumbered", seed=2) as system:
        routes = live_routes(system, {"blank": Blank()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/blank")
                first, second = DiffState(), DiffState()
                steps = [
                    ["render", _encoded(first, _tree(FIRST, FIRST_ROW, "1", "a"))],
                    ["patch", _encoded(first, _tree(FIRST, FIRST_ROW, "2", "b"))],
                    # A new session: its ids start over and name other statics.
                    ["render", _encoded(second, _tree(SECOND, SECOND_ROW, "3", "c"))],
                    ["patch", _encoded(second, _tree(SECOND, SECOND_ROW, "4", "d"))],
                    ["patch", _encoded(second, _tree(SECOND, SECOND_ROW, "4", "e"))],
                ]
                ids = [set(step[1].get("t", {})) for step in steps]  # type: ignore[attr-defined]
                assert ids[0] & ids[2]  # the same ids, other statics
                results = await page.evaluate(STEPS, steps)
                for n, result in enumerate(results):
                    assert result["got"] == result["want"], n
                assert results[3]["partial"] and results[4]["partial"]
                assert "<s" not in results[4]["got"]
                assert '<h3 id="title">Re-run 4</h3>' in results[4]["got"]
            finally:
                await browser.close()
