"""Real browser: the client paints only what a patch changed, and the page it paints is
the page a full render gives.

The painter (section 2c of lightflow-live.js) runs in Chromium on a detached root fed
the patches Python's `DiffState` produces: after every patch the DOM, with the
painter's ``data-lf-id`` attributes taken out, serialises exactly as the reference
client's HTML (`toHtml`, which tests/live/test_js_merge.py holds to Python's
`client_html`). Then what "only what changed" means, checked with a
`MutationObserver`: a one-item change mutates nothing outside that item, a reversal of
a keyed list moves the very same elements and rewrites no text, and a field being
typed in keeps its focus, value and caret while patches land around it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.async_api import Page

from lightflow_actors import ActorSystem
from lightflow_actors.adapters.ws import live_routes
from lightflow_actors.live import (
    DiffState,
    LiveView,
    Params,
    Rendered,
    SendAfter,
    SessionInfo,
    Template,
    Update,
    encode_patch,
    keyed,
    safe,
)

from ..live.live_server import serving
from ..live.live_shapes import Item, Shape, render_shape, shapes
from .test_browser import (  # noqa: F401
    ARGS,
    CHROMIUM,
    async_playwright,
    open_page,
    pytestmark,
    text_is,
)

HARNESS = """() => {
  const L = window.LightflowLive;
  const root = document.createElement("div");
  document.body.appendChild(root);
  let state = L.merge.emptyState(), painter = new L.Painter(), first = true;
  const strip = (html) => {
    const t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("[data-lf-id]").forEach((e) => e.removeAttribute("data-lf-id"));
    return t.innerHTML;
  };
  window.paint = {
    root,
    reset() {
      state = L.merge.emptyState(); painter = new L.Painter(); first = true; root.innerHTML = "";
    },
    apply(patch) {
      const before = state;
      state = L.merge.applyPatch(state, patch);
      let partial = false;
      if (!first) {
        try { partial = painter.paint(root, before, state, {added: [], updated: []}); }
        catch (e) { if (!(e instanceof L.PaintMiss)) throw e; }
      }
      if (!partial) {
        L.morph(root, painter.fullHtml(state), {added: [], updated: []});
        painter.rescan(root);
      }
      first = false;
      return {partial, got: strip(root.innerHTML), want: strip(L.merge.toHtml(state))};
    },
  };
}"""


class Nothing(msgspec.Struct, frozen=True, tag="nothing"):
    pass


class Blank(LiveView[int, Nothing]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Nothing, state: int) -> int:
        return state

    def render(self, state: int) -> Rendered:
        return Template("<p>{n}</p>")(n=state)


async def _harness(page: Page) -> None:
    await page.evaluate(HARNESS)


@asynccontextmanager
async def harness_page(name: str) -> AsyncIterator[Page]:
    """A blank live page in its own Chromium, served by a system named `name`, with the
    painter's harness loaded (`paint.apply`, `paint.reset`)."""
    async with ActorSystem(name, seed=2) as system:
        routes = live_routes(system, {"blank": Blank()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/blank")
                await _harness(page)
                yield page
            finally:
                await browser.close()


def _patches(states: list[Shape]) -> list[object]:
    diff = DiffState()
    return [msgspec.json.decode(encode_patch(diff.diff(render_shape(s)))) for s in states]


async def test_partial_paints_equal_full_renders_on_generated_patch_sequences() -> None:
    async with harness_page("paint") as page:
        partials = 0
        sequences: list[list[Shape]] = []

        @settings(
            max_examples=120,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
            database=None,
        )
        @given(st.lists(shapes(), min_size=2, max_size=8))
        def collect(states: list[Shape]) -> None:
            sequences.append(states)

        collect()
        for states in sequences:
            await page.evaluate("paint.reset()")
            for patch in _patches(states):
                result = await page.evaluate("(p) => paint.apply(p)", patch)
                assert result["got"] == result["want"], (states, patch)
                partials += bool(result["partial"])
        assert partials > len(sequences)  # most later patches were painted in part


def _big(reverse: bool = False, text_of: dict[str, str] | None = None) -> Shape:
    keys = [f"k{i}" for i in range(300)]
    if reverse:
        keys.reverse()
    texts = text_of or {}
    return Shape(
        title="big",
        items=[Item(key=k, text=texts.get(k, k), tags=["t"]) for k in keys],
        notes=["n1"],
    )


RECORD = """() => {
  window.mutated = [];
  window.observer = new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      const li = el.closest("li");
      window.mutated.push(li ? li.id : el.tagName);
    }
  });
  observer.observe(paint.root,
    {subtree: true, childList: true, characterData: true, attributes: true});
  paint.root.querySelectorAll("li").forEach((li) => { li.__mark = li.id; });
}"""


async def test_a_change_touches_only_its_element_and_a_reversal_moves_the_same_ones() -> None:
    async with harness_page("paint-only") as page:
        changed = {"k7": "changed"}
        first, one, reversed_ = _patches(
            [_big(), _big(text_of=changed), _big(reverse=True, text_of=changed)]
        )
        await page.evaluate("(p) => paint.apply(p)", first)
        await page.evaluate(RECORD)
        result = await page.evaluate("(p) => paint.apply(p)", one)
        assert result["partial"] and result["got"] == result["want"]
        mutated = await page.evaluate("observer.takeRecords(); window.mutated")
        assert mutated and set(mutated) == {"i-k7"}, mutated
        await page.evaluate(RECORD)
        result = await page.evaluate("(p) => paint.apply(p)", reversed_)
        assert result["partial"] and result["got"] == result["want"]
        same = await page.evaluate(
            "[...paint.root.querySelectorAll('li')].every((li) => li.__mark === li.id)"
        )
        assert same  # every row is the element it was, moved
        kinds = await page.evaluate(
            """(() => { const seen = new Set();
                for (const r of observer.takeRecords()) seen.add(r.type);
                return [...seen]; })()"""
        )
        assert "characterData" not in kinds and "attributes" not in kinds


class Tick(msgspec.Struct, frozen=True):
    pass


class Ticking(LiveView[int, Nothing]):
    """Patches every 20 ms: a counter and a keyed list around a text field."""

    def mount(self, params: Params, session: SessionInfo) -> int | Update[int]:
        return Update(0, (SendAfter(0.02, Tick()),)) if session.connected else 0

    def handle_event(self, event: Nothing, state: int) -> int:
        return state

    def handle_info(self, message: object, state: int) -> Update[int]:
        return Update(state + 1, (SendAfter(0.02, Tick()),))

    def render(self, state: int) -> Rendered:
        rows = [(k, ROW(k=k, v=state if k == state % 10 else 0)) for k in range(10)]
        return TICKING(n=state, rows=keyed(ROW, rows))


ROW = Template('<li id="r-{k}">{v}</li>')
TICKING = Template(
    '<div><p id="n">{n}</p><input id="field" name="field" value=""><ul>{rows}</ul></div>'
)


async def test_a_field_keeps_focus_value_and_caret_while_patches_land() -> None:
    async with ActorSystem("paint-focus", seed=2) as system:
        routes = live_routes(system, {"ticking": Ticking()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/ticking")
                await page.focus("#field")
                await page.keyboard.type("hello world")
                await page.evaluate(
                    "document.querySelector('#field').setSelectionRange(3, 7, 'forward')"
                )
                start = int(await page.text_content("#n") or "0")
                await page.wait_for_function(
                    "n => Number(document.querySelector('#n').textContent) > n + 10", arg=start
                )
                state = await page.evaluate(
                    """() => { const f = document.querySelector('#field');
                        return [document.activeElement === f, f.value, f.selectionStart,
                                f.selectionEnd]; }"""
                )
                assert state == [True, "hello world", 3, 7]
            finally:
                await browser.close()


NODE = Template(
    '<g id="node-{k}" class="node" data-status="{status}"><rect width="20" height="10"></rect>'
    "<text>{k}: {status}</text><title>{k}</title></g>"
)
DAG = Template(
    '<div><p id="head">{head}</p><svg id="dag" xmlns="http://www.w3.org/2000/svg">'
    '<g class="nodes">{nodes}</g></svg><math>{formula}</math></div>'
)
FORMULA = Template('<mi id="m" data-x="{x}">{x}</mi>')


def _dag(statuses: dict[str, str], head: str = "run") -> object:
    nodes = keyed(NODE, [(k, NODE(k=k, status=s)) for k, s in statuses.items()])
    return DAG(head=head, nodes=nodes, formula=FORMULA(x=head))


async def test_a_changed_svg_node_is_painted_in_place_as_an_svg_element() -> None:
    """A DAG's node drawn in inline SVG: its change is painted in its own ``<g>``, parsed
    as SVG (parsed at the top of a template it was an HTML ``G`` that never matched the
    page's ``g``, and every such patch fell back to a full render)."""
    async with harness_page("paint-svg") as page:
        keys = [f"s{i}" for i in range(20)]
        steps = [dict.fromkeys(keys, "pending")]
        for i in range(0, 20, 4):
            steps.append({**steps[-1], **dict.fromkeys(keys[i : i + 4], "succeeded")})
        diff = DiffState()
        patches = [msgspec.json.decode(encode_patch(diff.diff(_dag(s)))) for s in steps]
        await page.evaluate("(p) => paint.apply(p)", patches[0])
        for n, patch in enumerate(patches[1:]):
            await page.evaluate(RECORD.replace('closest("li")', 'closest("g.node")'))
            await page.evaluate(
                "paint.root.querySelectorAll('g.node').forEach((g) => { g.__mark = g.id; })"
            )
            result = await page.evaluate("(p) => paint.apply(p)", patch)
            assert result["partial"] and result["got"] == result["want"], n
            mutated = await page.evaluate("observer.takeRecords(); window.mutated")
            assert set(mutated) == {f"node-{k}" for k in keys[n * 4 : n * 4 + 4]}
            kept = await page.evaluate(
                """[...paint.root.querySelectorAll('g.node')].every((g) =>
                    g.__mark === g.id && g.namespaceURI === 'http://www.w3.org/2000/svg')"""
            )
            assert kept  # the very same SVG elements, changed in place
        # A MathML element's region is parsed as MathML too.
        last = steps[-1]
        more = msgspec.json.decode(encode_patch(diff.diff(_dag(last, head="done"))))
        result = await page.evaluate("(p) => paint.apply(p)", more)
        assert result["partial"] and result["got"] == result["want"]
        await page.evaluate("paint.root.querySelector('#m').__mark = 'm'")
        more = msgspec.json.decode(encode_patch(diff.diff(_dag(last, head="again"))))
        result = await page.evaluate("(p) => paint.apply(p)", more)
        assert result["partial"] and result["got"] == result["want"]
        mi = await page.evaluate(
            "(() => { const m = paint.root.querySelector('#m');"
            " return [m.__mark, m.namespaceURI, m.getAttribute('data-x')]; })()"
        )
        assert mi == ["m", "http://www.w3.org/1998/Math/MathML", "again"]


MORPH_ATTRIBUTES = """() => {
  const L = window.LightflowLive;
  const root = document.createElement("div");
  document.body.appendChild(root);
  const attrs = (el) => el.getAttributeNames().sort().map((n) => n + "=" + el.getAttribute(n));
  const out = [];
  root.innerHTML = '<p id="p" a="1" b="2" c="3" data-x="x">t</p>' +
    '<svg><g id="g" class="node" data-status="planned" transform="translate(1,2)"></g></svg>' +
    '<ul id="u" data-n="1"><li>kept</li></ul>';
  const p = root.querySelector("#p"), g = root.querySelector("#g"), u = root.querySelector("#u");
  // Removed (a, data-x), kept (b), changed (c), added (d), in one element.
  L.morph(root, '<p id="p" b="2" c="4" d="5">t</p>' +
    '<svg><g id="g" class="node selected" data-status="succeeded" ' +
    'transform="translate(1,2)"></g></svg>' +
    '<ul id="u" data-n="2" data-lf-keep><li>new</li></ul>', {added: [], updated: []});
  out.push(root.querySelector("#p") === p, attrs(p), root.querySelector("#g") === g, attrs(g));
  // data-lf-keep is never written on the page, and keeps the element's children.
  out.push(root.querySelector("#u") === u, attrs(u), u.textContent);
  // Every attribute gone, then all back.
  L.morph(root, '<p id="p">t</p>', {added: [], updated: []});
  out.push(attrs(root.querySelector("#p")));
  L.morph(root, '<p id="p" z="&amp;&quot;" a="">t</p>', {added: [], updated: []});
  out.push(attrs(root.querySelector("#p")));
  root.remove();
  return out;
}"""


async def test_the_morph_sets_removes_and_keeps_attributes_by_name() -> None:
    """The morph's attribute pass (read by name, never through ``attributes[i]``, whose
    Attr nodes the page's elements would keep): removed, changed, added and unchanged
    attributes, on HTML and SVG elements, ``data-lf-keep`` never written."""
    async with ActorSystem("paint-attrs", seed=2) as system:
        routes = live_routes(system, {"blank": Blank()}, secret=b"k" * 32)
        async with serving(routes) as base, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await open_page(browser, f"{base}/blank")
                got = await page.evaluate(MORPH_ATTRIBUTES)
            finally:
                await browser.close()
    assert got == [
        True,
        ["b=2", "c=4", "d=5", "id=p"],
        True,
        ["class=node selected", "data-status=succeeded", "id=g", "transform=translate(1,2)"],
        True,
        ["data-n=2", "id=u"],
        "kept",
        ["id=p"],
        ["a=", "id=p", 'z=&"'],
    ]


STEP = Template(
    '<g id="step-{k}" class="step{selected}" data-status="{status}" '
    'transform="translate({x},0)"><rect width="20" height="10"></rect>'
    '<text class="meta">{meta}</text><title>{tip}</title></g>'
)
STEPS = Template('<div><svg id="dag" xmlns="http://www.w3.org/2000/svg">{nodes}</svg></div>')
SPY = """() => {
  const setter = Object.getOwnPropertyDescriptor(Element.prototype, "innerHTML").set;
  window.parses = 0;
  Object.defineProperty(Element.prototype, "innerHTML", {
    set(v) { window.parses += 1; setter.call(this, v); }, configurable: true,
  });
}"""


def _steps(values: dict[str, tuple[str, str, str]]) -> object:
    nodes = [
        (k, STEP(k=k, selected=sel, status=status, x=len(k), meta=meta, tip=meta or k))
        for k, (status, meta, sel) in values.items()
    ]
    return STEPS(nodes=keyed(STEP, nodes))


# Values whose text the page must show as it is: escapes, entity-like text, quotes, and
# what only a parse can place (raw HTML's "<", a CR) or would change.
HOSTILE = st.sampled_from(
    ["", "412 ms", "a & b", "<b>not bold</b>", "&amp;lt;", "\"quoted\" 'single'", "x\r\ny", "é ✓"]
)


async def test_changed_values_are_set_in_place_and_the_page_equals_a_full_render() -> None:
    """A node whose changed values are attribute values or the only text of their element
    is painted by setting them (section 2e: no HTML parsed once the template is known);
    a value its parse would change falls back, and the page is always a full render's."""
    sequences: list[list[dict[str, tuple[str, str, str]]]] = []
    node = st.tuples(
        st.sampled_from(["planned", "running", "done"]), HOSTILE, st.sampled_from(["", " x"])
    )

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(st.lists(st.fixed_dictionaries(dict.fromkeys("abcd", node)), min_size=2, max_size=6))
    def collect(states: list[dict[str, tuple[str, str, str]]]) -> None:
        # The same keys in the same order: only values change.
        sequences.append([{k: state[k] for k in "abcd"} for state in states])

    collect()
    in_place = 0
    async with harness_page("paint-values") as page:
        await page.evaluate(SPY)
        for states in sequences:
            await page.evaluate("paint.reset()")
            diff = DiffState()
            await page.evaluate("(p) => paint.apply(p)", _patch(diff, states[0]))
            for n, state in enumerate(states[1:]):
                await page.evaluate(
                    "paint.root.querySelectorAll('g').forEach((g) => { g.__mark = g.id; })"
                    "; window.parses = 0"
                )
                result = await page.evaluate("(p) => paint.apply(p)", _patch(diff, state))
                assert result["partial"] and result["got"] == result["want"], (states, n)
                kept = await page.evaluate(
                    "[...paint.root.querySelectorAll('g')].every((g) => g.__mark === g.id)"
                )
                assert kept
                # Less the harness's own two (it parses what it compares).
                parses = await page.evaluate("window.parses") - 2
                plain = all("<" not in m and "\r" not in m for _, m, _ in state.values())
                if plain:
                    # Set in place: nothing parsed but, once per template, where
                    # its values sit.
                    assert parses <= 1, (states, n, parses)
                    in_place += parses == 0 and state != states[n]
    assert in_place > 0


def _patch(diff: DiffState, state: dict[str, tuple[str, str, str]]) -> object:
    return msgspec.json.decode(encode_patch(diff.diff(_steps(state))))


async def test_raw_html_in_a_value_is_painted_as_its_parse_gives_it() -> None:
    """Raw markup (``safe``) in an attribute value or an element's only text is what the
    HTML parser makes of it (a quote ending the attribute, an element): never set in
    place as text, always equal to a full render."""
    raw = [
        ("a", "plain"),
        (safe('b" data-y="c'), "plain"),
        ("d", safe("<tspan>bold</tspan>")),
        (safe("e' f"), safe("x &notit; y")),
        ("g", "back to text"),
    ]
    async with harness_page("paint-raw") as page:
        diff = DiffState()
        for n, (x, tip) in enumerate(raw):
            nodes = [("k", RAW_NODE(x=x, tip=tip))]
            patch = msgspec.json.decode(
                encode_patch(diff.diff(STEPS(nodes=keyed(RAW_NODE, nodes))))
            )
            result = await page.evaluate("(p) => paint.apply(p)", patch)
            assert result["got"] == result["want"], (n, result)


RAW_NODE = Template('<g class="raw" data-x="{x}"><title>{tip}</title></g>')
