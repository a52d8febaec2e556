"""Real browser: a node whose template is not eligible for values painted in place (a
value between other content, a child node) still has its root element's attribute values
set in place (lightflow-live.js section 2e, ADR 0133): the run page's ``<section
id="run" data-status>`` when the run finishes. Its children painted in their own
elements are left to them; any other change of its own takes the region path. The page
always equals a full render.
"""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightflow_actors.live import DiffState, Rendered, Template, encode_patch, safe

from .test_browser import pytestmark  # noqa: F401
from .test_browser_paint import SPY, harness_page

SECTION = Template(
    '<section id="run" data-status="{status}" class="run {cls}">'
    "<h2>{title} <small>{n}</small></h2>{meta}<p>{a} and {b}</p></section>"
)
META = Template('<p class="meta" data-n="{n}"><span>{d}</span></p>')
PAGE = Template("<div>{section}</div>")
"""The page's root (a root is written whole, never a region of its own)."""

# Text the page must show as it is (escapes, entity-like text, quotes) and what only a
# parse can place (raw HTML's "<", a quote; a CR).
PLAIN = ["", "running", "a & b", "&amp;lt;", '"quoted"', "é ✓"]
HOSTILE = st.sampled_from([*PLAIN, "x\r\ny", "<b>raw</b>"])

State = tuple[str, str, str, str, str, str]
"""status, cls, title, meta's d, a, b."""


def _page(state: State) -> Rendered:
    status, cls, title, d, a, b = state
    raw = "<" in status
    return PAGE(
        section=SECTION(
            status=safe(status) if raw else status,
            cls=cls,
            title=title,
            n=len(title),
            meta=META(n=len(d), d=d),
            a=a,
            b=b,
        )
    )


def _patch(diff: DiffState, state: State) -> object:
    return msgspec.json.decode(encode_patch(diff.diff(_page(state))))


MARK = "paint.root.querySelectorAll('section, p').forEach((e) => { e.__mark = e.className; })"
KEPT = "[...paint.root.querySelectorAll('section, p')].every((e) => e.__mark !== undefined)"


async def test_root_attributes_of_an_ineligible_template_are_set_in_place() -> None:
    """A change of the section's own attributes (and of its child's values, painted in the
    child's element) parses no HTML once the templates are known and keeps every element;
    a change of a value between other content re-renders the section; the page equals a
    full render after every patch, hostile values included."""
    sequences: list[list[State]] = []
    field = st.sampled_from(PLAIN)
    state = st.tuples(HOSTILE, st.sampled_from(["", "x"]), field, HOSTILE, field, field)

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(st.lists(state, min_size=2, max_size=6))
    def collect(states: list[State]) -> None:
        sequences.append(states)

    collect()
    # Always: a sequence that only moves the root's attributes and the child's text (the
    # first move parses where the templates' values sit, once).
    sequences.append([("planned", "", "t", "1", "a", "b"), ("running", "x", "t", "2", "a", "b")])
    sequences[-1].append(("done", "x", "t", "3", "a", "b"))
    in_place = 0
    async with harness_page("paint-root") as page:
        await page.evaluate(SPY)
        for states in sequences:
            await page.evaluate("paint.reset()")
            diff = DiffState()
            await page.evaluate("(p) => paint.apply(p)", _patch(diff, states[0]))
            for n, new in enumerate(states[1:]):
                old = states[n]
                await page.evaluate(MARK + "; window.parses = 0")
                result = await page.evaluate("(p) => paint.apply(p)", _patch(diff, new))
                assert result["partial"] and result["got"] == result["want"], (states, n)
                # Less the harness's own two (it parses what it compares).
                parses = await page.evaluate("window.parses") - 2
                own = (old[2], old[4], old[5]) == (new[2], new[4], new[5])
                plain = not any("<" in v or "\r" in v for v in (new[0], old[0], new[3], old[3]))
                if own and plain:
                    # Set in place: nothing parsed but, once per template, where its
                    # values sit; the very same elements.
                    assert parses <= 2, (states, n, parses)
                    assert await page.evaluate(KEPT), (states, n)
                    in_place += parses == 0 and (new[0], new[1]) != (old[0], old[1])
                elif not own:
                    assert parses > 0, (states, n)  # the section's region path
    assert in_place > 0


PANEL = Template('<section class="panel"><h3>{title}</h3><p>{text}</p></section>')
DOT = Template('<g class="dot" data-status="{status}"><text>{label}</text></g>')
PREPARE = """async (patch) => {
  const L = window.LightflowLive, painter = new L.Painter();
  const state = L.merge.applyPatch(L.merge.emptyState(), patch);
  const root = document.createElement("div");
  document.body.appendChild(root);
  L.morph(root, painter.fullHtml(state), {added: [], updated: []});
  painter.rescan(root);
  const unused = [...state.templates.values()].filter((s) => !painter.shapes.has(s));
  const used = [...state.templates.values()].filter((s) => painter.shapes.has(s));
  painter.prepare(state.templates);
  const before = unused.map((s) => painter.shapes.has(s));
  const ready = () => unused.every((s) => painter.shapes.has(s)) &&
                      used.every((s) => painter.slotShapes.has(s));
  // Idle callbacks come when the page is idle: within a few seconds here, else not at all.
  let tries = 0;
  await new Promise((done) => {
    const check = () => ready() || ++tries > 500 ? done() : setTimeout(check, 10);
    check();
  });
  if (!ready()) return {unprepared: true};
  // Prepared: their first use parses nothing.
  window.parses = 0;
  const svg = "http://www.w3.org/2000/svg", html = "http://www.w3.org/1999/xhtml";
  const slots = unused.map((s) => painter.slotsOf(s, s[0].startsWith("<g") ? svg : html));
  unused.forEach((s) => painter.shapeOf(state.templates, [...state.templates.keys()].find(
    (k) => state.templates.get(k) === s)));
  root.remove();
  const found = slots.map((x) => x !== null);
  return {unused: unused.length, before, parses: window.parses, slots: found};
}"""


async def test_templates_that_come_before_their_use_are_prepared_while_idle() -> None:
    """Templates a render sends unused (a view's ``preload``) are parsed for their shape
    and value slots when the page is idle (section 2f), not by the patch that first uses
    them; an SVG element's template in the SVG namespace. The render's own templates get
    their value slots prepared too."""
    diff = DiffState()
    diff.preload([(PANEL.fingerprint, PANEL.statics), (DOT.fingerprint, DOT.statics)])
    patch = msgspec.json.decode(encode_patch(diff.diff(PAGE(section="nothing yet"))))
    assert len(patch["t"]) == 3
    async with harness_page("paint-prepare") as page:
        await page.evaluate(SPY)
        got = await page.evaluate(PREPARE, patch)
    assert got == {"unused": 2, "before": [False, False], "parses": 0, "slots": [True, True]}
