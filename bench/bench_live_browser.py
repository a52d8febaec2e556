"""Live client in Chromium: main-thread time of a patch, click → DOM, beside a bare page.

A 1 000-row keyed table (the live table's row template) served twice by one Hypercorn
subprocess on 127.0.0.1:

* **live**: a `LiveView` with four buttons: ``one`` changes one cell, ``five``
  changes five rows, ``sort`` reverses the order of all 1 000 rows; its rows go through
  `KeyedRows`, so a click renders only the rows it changed (ADR 0125); ``rotate``
  moves the first row shown to the end (one DOM move is the minimum: ADR 0125's
  fewest-moves reorder);
* **bare** (the baseline): the same table as a static page with a plain WebSocket;
  the server answers the same buttons with the minimum a hand-written page needs
  (the changed cells' new text, the 1 000 ids in their new order, or the id of the row
  to move last) and the page sets the cells' text, re-appends the rows in that order,
  or appends that one row.

Measured in the page with ``performance.now()``:

* **click → DOM**: from the button's click to the end of the task that changed the DOM
  (a `MutationObserver` callback, which then forces style and layout, so the figure
  includes them);
* **handler**: the time spent in the socket's message handler for the answer (parse,
  merge, morph or the bare page's DOM calls), the main-thread cost of a patch;
* **DOM task CPU**: beside, ``TRACED`` more clicks under a Chromium trace: the thread
  (CPU) time of the renderer task that changed the DOM (the handler, then the style and
  layout the measure forces in that task). Wall time on a shared 2-core machine counts
  every moment the renderer waited for a core; this does not (ADR 0120);
* **the re-sort's DOM task in parts**: ``TRACED`` re-sorts traced with DevTools'
  timeline: style (recalculation and the layout tree), layout, and the rest, "script"
  (the handler's JavaScript and DOM calls, the measure's observer, GC); means in ms;
* **re-sort, table CSS**: the re-sort again with both pages styled by the example
  table's `TABLE_CSS` (rows as grid boxes with ``content-visibility: auto``, ADR 0131),
  its figures and its parts;
* **idle table tick**: the example 1 000-row table (`lightflow_actors.live_examples`)
  left open while its ticker changes 5 rows and the version every 0.25 s: handler time
  per tick, beside the bare page's 5-row handler time;
* **hops** (``HOPS`` more clicks, with DevTools' network events on): where click → DOM
  goes. In the page's clock: click → ``send`` (the event leaves the page), ``send`` →
  the answer's ``message`` event, ``message`` → DOM change, DOM change → style and
  layout done. ``send`` → ``message`` is split on the monotonic clock DevTools stamps
  frames with (its stamps are taken on the page's main thread) and the server reads:
  **to the server** (DevTools' frame sent → the frame reaches the app), **server** (the
  frame reaches the app → the app hands the answer to Hypercorn: the runtime's own
  time), **back to the page's task** (→ DevTools' frame received: writing, the network,
  and the page not yet running the task that reads it; ADR 0130: a frame it painted
  first).

p50 and p90 over ``SAMPLES`` clicks each, one after the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

from bench._live_server import free_port
from bench._report import percentile, row
from lightflow_actors.testing.chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[1]
ROWS = 1_000
SAMPLES = 40
TICK = 0.25  # seconds between the example table's ticks (5 rows and the version each)
TICKS = 30


# -- the server (a subprocess) ---------------------------------------------------------------


def serve(port: int) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from lightflow_actors import ActorSystem
    from lightflow_actors.adapters.ws import live_routes
    from lightflow_actors.live import (
        KeyedRows,
        LiveView,
        Params,
        Rendered,
        SessionInfo,
        Template,
    )
    from lightflow_actors.live_examples import start_examples
    from lightflow_actors.live_examples.table import (
        ROW,
        TABLE_CSS,
        Row,
        initial_rows,
        render_row,
    )

    class One(msgspec.Struct, frozen=True, tag="one"):
        pass

    class Five(msgspec.Struct, frozen=True, tag="five"):
        pass

    class Sort(msgspec.Struct, frozen=True, tag="sort"):
        pass

    class Rotate(msgspec.Struct, frozen=True, tag="rotate"):
        pass

    class Grid(msgspec.Struct, frozen=True):
        rows: tuple[Row, ...]
        step: int = 0
        reverse: bool = False

    def changed(rows: tuple[Row, ...], step: int, count: int) -> tuple[Row, ...]:
        out = list(rows)
        for k in range(count):
            i = (step * 7919 + k * 211) % len(out)
            old = out[i]
            delta = 0.25 if (step + k) % 2 == 0 else -0.25
            out[i] = Row(old.id, old.symbol, round(old.price + delta, 2), delta, old.volume + 1)
        return tuple(out)

    page = Template(
        '<section class="table"><button id="one" lf-click="one">one</button>'
        '<button id="five" lf-click="five">five</button>'
        '<button id="sort" lf-click="sort">sort</button>'
        '<button id="rotate" lf-click="rotate">rotate</button>'
        '<table><tbody id="rows">{rows}</tbody></table></section>'
    )

    # Rows are rendered once per row object: a click re-renders only the rows it changed.
    grid_rows: KeyedRows[Row] = KeyedRows(ROW, render=render_row, key=lambda r: r.id)

    class GridView(LiveView[Grid, One | Five | Sort | Rotate]):
        def mount(self, params: Params, session: SessionInfo) -> Grid:
            return Grid(initial_rows(ROWS))

        def handle_event(self, event: One | Five | Sort | Rotate, state: Grid) -> Grid:
            if isinstance(event, Sort):
                return msgspec.structs.replace(state, reverse=not state.reverse)
            if isinstance(event, Rotate):  # the first row shown goes last
                rows = (
                    state.rows[1:] + state.rows[:1]
                    if not state.reverse
                    else (state.rows[-1:] + state.rows[:-1])
                )
                return msgspec.structs.replace(state, rows=rows)
            count = 1 if isinstance(event, One) else 5
            rows = changed(state.rows, state.step, count)
            return msgspec.structs.replace(state, rows=rows, step=state.step + 1)

        def render(self, state: Grid) -> Rendered:
            rows = reversed(state.rows) if state.reverse else state.rows
            return page(rows=grid_rows(rows))

    class StyledGridView(GridView):
        """The same view, its table styled by `TABLE_CSS` (the bare page's ``?css=table``)."""

        head = f"<style>{TABLE_CSS}</style>"

    def bare_page(styled: bool) -> str:
        from lightflow_actors.live import to_html

        rows = "".join(to_html(render_row(r)) for r in initial_rows(ROWS))
        style = f"<style>{TABLE_CSS}</style>" if styled else ""
        return (
            f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>"
            '<section class="table">'
            '<button id="one">one</button><button id="five">five</button>'
            '<button id="sort">sort</button><button id="rotate">rotate</button>'
            f'<table><tbody id="rows">{rows}</tbody></table></section><script>{BARE_SCRIPT}'
            "</script></body></html>"
        )

    async def bare(request: Request) -> HTMLResponse:
        return HTMLResponse(bare_page(request.query_params.get("css") == "table"))

    async def bare_socket(ws: WebSocket) -> None:
        await ws.accept()
        rows, step, reverse = initial_rows(ROWS), 0, False
        try:
            while True:
                what = await ws.receive_text()
                if what == "sort":
                    reverse = not reverse
                    order = [r.id for r in (reversed(rows) if reverse else rows)]
                    await ws.send_text(json.dumps({"order": order}))
                    continue
                if what == "rotate":
                    first = rows[-1] if reverse else rows[0]
                    rows = rows[:-1] if reverse else rows[1:]
                    rows = (first, *rows) if reverse else (*rows, first)
                    await ws.send_text(json.dumps({"last": first.id}))
                    continue
                before = rows
                rows = changed(rows, step, 1 if what == "one" else 5)
                step += 1
                cells = [
                    [r.id, f"{r.price:.2f}", f"{r.change:+.2f}", str(r.volume)]
                    for r, b in zip(rows, before, strict=True)
                    if r is not b
                ]
                await ws.send_text(json.dumps({"cells": cells}))
        except WebSocketDisconnect:
            return

    # The server's side of the hop breakdown: when a WebSocket frame reaches the app (read,
    # unmasked, inflated by Hypercorn) and when the app hands one to Hypercorn to write,
    # on the monotonic clock DevTools stamps frames with. `GET /hops` answers and clears.
    stamps: list[tuple[str, float, str]] = []

    def stamped(app: Any) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "websocket":
                return await app(scope, receive, send)

            async def stamped_receive() -> Any:
                message = await receive()
                if message["type"] == "websocket.receive" and len(stamps) < 100_000:
                    text = message.get("text") or ""
                    stamps.append(("in", time.monotonic() * 1000, text[:160]))
                return message

            async def stamped_send(message: Any) -> None:
                if message["type"] == "websocket.send" and len(stamps) < 100_000:
                    text = message.get("text") or ""
                    stamps.append(("out", time.monotonic() * 1000, text[:160]))
                await send(message)

            return await app(scope, stamped_receive, stamped_send)

        return asgi

    async def hops(request: object) -> JSONResponse:
        taken = list(stamps)
        stamps.clear()
        return JSONResponse(taken)

    async def main() -> None:
        async with ActorSystem("bench-browser", seed=1) as system:
            views = {"grid": GridView(), "grid-styled": StyledGridView()}
            examples = await start_examples(system, tick_interval=TICK, hub_name="examples")
            app = Starlette(
                routes=[
                    Mount("/examples", routes=examples.routes),
                    Route("/hops", hops),
                    Route("/bare", bare),
                    WebSocketRoute("/bare-socket", bare_socket),
                    Mount("/live", routes=live_routes(system, views, secret=b"b" * 32)),
                ]
            )
            config = Config()
            config.bind = [f"127.0.0.1:{port}"]
            config.accesslog = None
            config.errorlog = None
            print("ready", flush=True)
            await hypercorn_serve(stamped(app), config)  # type: ignore[arg-type]

    asyncio.run(main())


BARE_SCRIPT = """
const ws = new WebSocket("ws://" + location.host + "/bare-socket");
const tbody = document.getElementById("rows");
window.handled = [];
ws.onmessage = (e) => {
  const t0 = performance.now();
  const m = JSON.parse(e.data);
  if (m.last !== undefined) {
    tbody.appendChild(document.getElementById("row-" + m.last));
  } else if (m.order) {
    const frag = document.createDocumentFragment();
    for (const id of m.order) frag.appendChild(document.getElementById("row-" + id));
    tbody.appendChild(frag);
  } else {
    for (const [id, price, change, volume] of m.cells) {
      const tds = document.getElementById("row-" + id).children;
      tds[2].textContent = price;
      tds[3].textContent = change;
      tds[3].className = "num " + (change[0] === "+" ? "up" : "down");
      tds[4].textContent = volume;
    }
  }
  window.handled.push(performance.now() - t0);
};
for (const id of ["one", "five", "sort", "rotate"]) {
  document.getElementById(id).addEventListener("click", () => ws.send(id));
}
window.ready = new Promise((r) => ws.addEventListener("open", r));
"""

# In the page: click a button, wait for the DOM change, force style and layout.
MEASURE = """async ([button, samples]) => {
  const target = document.querySelector("tbody");
  const clicks = [];
  for (let i = 0; i < samples; i++) {
    await new Promise((r) => setTimeout(r, 30));
    const done = new Promise((resolve) => {
      const mo = new MutationObserver(() => {
        mo.disconnect();
        const at = performance.now();
        document.body.offsetHeight;  // style and layout, in the same task
        // Names the task that changed the DOM in a trace (see task_cpu).
        performance.measure("lf-dom-" + i, {start: at, end: performance.now()});
        resolve(performance.now());
      });
      mo.observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
    });
    const t0 = performance.now();
    document.getElementById(button).click();
    clicks.push((await done) - t0);
  }
  await new Promise((r) => setTimeout(r, 30));
  return clicks;
}"""

# Stamps for the hop breakdown (installed before the page's scripts run): when a frame
# leaves through `send`, when a `message` handler starts.
STAMPS = """(() => {
  window.lfSent = []; window.lfMessages = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.lfSent.push([performance.now(), String(data).slice(0, 160)]);
    return send.call(this, data);
  };
  const handler = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage");
  Object.defineProperty(WebSocket.prototype, "onmessage", {
    configurable: true,
    get() { return handler.get.call(this); },
    set(fn) {
      handler.set.call(this, typeof fn !== "function" ? fn : function (e) {
        window.lfMessages.push([performance.now(), String(e.data).slice(0, 160)]);
        return fn.call(this, e);
      });
    },
  });
})();"""

# HOPS clicks: per click, when it was clicked, the DOM changed, style and layout were done.
MEASURE_HOPS = """async ([button, samples]) => {
  window.lfSent = []; window.lfMessages = [];
  const target = document.querySelector("tbody");
  const out = [];
  for (let i = 0; i < samples; i++) {
    await new Promise((r) => setTimeout(r, 30));
    const done = new Promise((resolve) => {
      const mo = new MutationObserver(() => {
        mo.disconnect();
        const at = performance.now();
        document.body.offsetHeight;
        resolve([at, performance.now()]);
      });
      mo.observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
    });
    const t0 = performance.now();
    document.getElementById(button).click();
    const [changed, laid] = await done;
    out.push([t0, changed, laid]);
  }
  await new Promise((r) => setTimeout(r, 30));
  return {clicks: out, sent: window.lfSent, messages: window.lfMessages};
}"""

WRAP_LIVE = """() => {
  const socket = window.lightflowLive.socket, receive = socket.receive;
  window.handled = [];
  socket.receive = function (text) {
    const t0 = performance.now();
    receive.call(this, text);
    if (text.indexOf('"op":"patch"') >= 0) window.handled.push(performance.now() - t0);
  };
}"""


async def run(port: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            live = await open_live(browser, f"http://127.0.0.1:{port}/live/grid")
            bare = await open_bare(browser, f"http://127.0.0.1:{port}/bare")
            print(f"{'':<34}{'live p50':>10}{'p90':>9}{'bare p50':>11}{'p90':>9}{'ratio':>8}")
            five_bare: list[float] = []
            summary: list[tuple[str, float, float]] = []
            breakdown: list[tuple[str, dict[str, list[float]], dict[str, list[float]]]] = []
            for button, what in (
                ("one", "one-cell change"),
                ("five", "5-row change"),
                ("sort", "1 000-row re-sort"),
                ("rotate", "first row moved last"),
            ):
                live_figures = await clicked(browser, live, button)
                bare_figures = await clicked(browser, bare, button)
                breakdown.append(
                    (
                        what,
                        await hop_breakdown(live, button, live=True),
                        await hop_breakdown(bare, button, live=False),
                    )
                )
                if button == "five":
                    five_bare = bare_figures[1]
                report(what, live_figures, bare_figures, summary)
            print(f"hops of click -> DOM, p50 over {HOPS} clicks each (ms):", flush=True)
            for what, live_hops, bare_hops in breakdown:
                for hop, label in HOP_LABELS:
                    a, b = live_hops[hop], bare_hops[hop]
                    p50, p50b = percentile(a, 50), percentile(b, 50)
                    ratio = f"{p50 / p50b:>7.1f}x" if p50b >= 0.05 else f"{'-':>8}"
                    print(
                        f"{what + ': ' + label:<34}{p50:>10.2f}{percentile(a, 90):>9.2f}"
                        f"{p50b:>11.2f}{percentile(b, 90):>9.2f}{ratio}",
                        flush=True,
                    )
                    if hop in ("answer", "server", "back"):
                        summary.append((f"{what}: {label} p50", p50, p50b))
            # Where the re-sort's DOM task goes, then the re-sort with both tables styled
            # by TABLE_CSS (the same CSS on both pages).
            await split(browser, live, bare, "1 000-row re-sort")
            live = await open_live(browser, f"http://127.0.0.1:{port}/live/grid-styled")
            bare = await open_bare(browser, f"http://127.0.0.1:{port}/bare?css=table")
            what = "re-sort, table CSS"
            report(
                what,
                await clicked(browser, live, "sort"),
                await clicked(browser, bare, "sort"),
                summary,
            )
            await split(browser, live, bare, what)
            for label, p50, p50b in summary:  # in µs, the lines `--runs N` summarises
                row(label, p50 * 1000, "µs", p50b * 1000, "bare page")
            print(f"load average {_load()}", flush=True)
            await idle_table(browser, port, five_bare)
        finally:
            await browser.close()


async def open_live(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.add_init_script(STAMPS)
    await page.goto(url)
    await page.wait_for_selector("[data-lf-status=connected]")
    await page.evaluate(WRAP_LIVE)
    return page


async def open_bare(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.add_init_script(STAMPS)
    await page.goto(url)
    await page.evaluate("window.ready")
    return page


Figures = tuple[list[float], list[float], list[float]]
"""Per click, in ms: click -> DOM, handler, DOM task CPU."""


async def clicked(browser: Browser, page: Page, button: str) -> Figures:
    """`SAMPLES` clicks of `button` (after 5 to warm up), then `TRACED` traced ones."""
    await page.evaluate(MEASURE, [button, 5])
    await page.evaluate("window.handled = []")
    clicks = await page.evaluate(MEASURE, [button, SAMPLES])
    handled = await page.evaluate("window.handled")
    return clicks, handled, await task_cpu(browser, page, button)


def report(
    what: str, live: Figures, bare: Figures, summary: list[tuple[str, float, float]]
) -> None:
    for label, a, b in (
        (f"{what}: click -> DOM (ms)", live[0], bare[0]),
        (f"{what}: handler (ms)", live[1], bare[1]),
        (f"{what}: DOM task CPU (ms)", live[2], bare[2]),
    ):
        p50, p50b = percentile(a, 50), percentile(b, 50)
        print(
            f"{label:<34}{p50:>10.2f}{percentile(a, 90):>9.2f}"
            f"{p50b:>11.2f}{percentile(b, 90):>9.2f}{p50 / max(p50b, 1e-6):>7.1f}x",
            flush=True,
        )
        summary.append((f"{label.replace(' (ms)', '')} p50", p50, p50b))


async def split(browser: Browser, live: Page, bare: Page, what: str) -> None:
    """The sort's DOM task CPU in parts (means over `TRACED` clicks, live then bare)."""
    parts = [await task_parts(browser, page, "sort") for page in (live, bare)]
    for part in PARTS:
        a, b = parts[0][part], parts[1][part]
        print(f"{what} DOM task, {part:<9} {a:>10.2f}{b:>20.2f}{a / max(b, 1e-6):>15.1f}x")


TASK = "ThreadControllerImpl::RunTask"
"""The trace's top-level task on a thread: ``tdur`` is its thread (CPU) time."""
TRACED = 15
STYLE, LAYOUT = "UpdateLayoutTree", "Layout"
"""DevTools' names (``devtools.timeline``) for style recalculation with the layout tree's
rebuild, and for layout (text shaping included)."""
PARTS = ("script", "style", "layout")
"""A DOM task's thread time: style (`STYLE`), layout (`LAYOUT`), and the rest, "script":
the handler's JavaScript and DOM calls, the measure's observer, garbage collection."""


async def traced_tasks(
    browser: Browser, page: Page, button: str, categories: list[str]
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """`TRACED` clicks of `button` under a trace of `categories`: per click, the task
    that changed the DOM and the complete events of its thread."""
    await browser.start_tracing(page=page, categories=categories)
    try:
        await page.evaluate(MEASURE, [button, TRACED])
    finally:
        trace = json.loads(await browser.stop_tracing())
    events: list[dict[str, Any]] = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in events:
        if e.get("ph") == "X" and "tdur" in e:
            threads.setdefault((e["pid"], e["tid"]), []).append(e)
    found = []
    for e in events:
        if e.get("ph") != "b" or not str(e.get("name", "")).startswith("lf-dom-"):
            continue
        thread, ts = threads.get((e["pid"], e["tid"]), []), e["ts"]
        around = [t for t in thread if t["name"] == TASK and t["ts"] <= ts <= t["ts"] + t["dur"]]
        if around:
            found.append((max(around, key=lambda t: t["dur"]), thread))
    return found


async def task_cpu(browser: Browser, page: Page, button: str) -> list[float]:
    """`TRACED` clicks of `button` under a Chromium trace: per click, the thread (CPU)
    time in ms of the renderer task that changed the DOM (the patch's handler, then the
    style and layout forced in the same task), which the load of a shared machine does
    not inflate as it does wall time (ADR 0120)."""
    found = await traced_tasks(browser, page, button, ["toplevel", "blink.user_timing"])
    return [task["tdur"] / 1000 for task, _ in found] or [float("nan")]


async def task_parts(browser: Browser, page: Page, button: str) -> dict[str, float]:
    """Mean thread time in ms of each of `PARTS` in the task that changed the DOM, over
    `TRACED` clicks traced with DevTools' timeline (which costs some time of its own:
    compare the parts with each other and with the bare page's, not with `task_cpu`)."""
    categories = ["toplevel", "blink.user_timing", "devtools.timeline"]
    found = await traced_tasks(browser, page, button, categories)
    sums = dict.fromkeys(PARTS, 0.0)
    for task, thread in found:
        end = task["ts"] + task["dur"]
        inside = [
            e
            for e in thread
            if e["name"] in (STYLE, LAYOUT) and task["ts"] <= e["ts"] and e["ts"] + e["dur"] <= end
        ]
        counted_until = 0  # a style or layout event inside another one is counted there
        for e in sorted(inside, key=lambda e: (e["ts"], -e["dur"])):
            if e["ts"] < counted_until:
                continue
            sums["style" if e["name"] == STYLE else "layout"] += e["tdur"] / 1000
            counted_until = e["ts"] + e["dur"]
        sums["script"] += task["tdur"] / 1000
    sums["script"] -= sums["style"] + sums["layout"]
    return {part: total / max(len(found), 1) for part, total in sums.items()}


HOPS = 15
HOP_LABELS: tuple[tuple[str, str], ...] = (
    ("send", "click -> send"),
    ("answer", "send -> message"),
    ("to_server", "  to the server"),
    ("server", "  server"),
    ("back", "  back to the page's task"),
    ("handler", "message -> DOM"),
    ("layout", "DOM -> style+layout"),
)
"""The hops `hop_breakdown` measures, with their printed labels."""


async def hop_breakdown(page: Page, button: str, *, live: bool) -> dict[str, list[float]]:
    """`HOPS` clicks of `button` with DevTools' network events on: per click, in ms, the
    hops of `HOP_LABELS` (see the module docstring). The event is the first frame sent
    after the click (the live page's Submit), the answer the first frame received after
    it (the live page's Patch)."""
    cdp = await page.context.new_cdp_session(page)
    sent: list[float] = []
    received: list[float] = []
    event = '"op":"submit"' if live else ""
    answer = '"op":"patch"' if live else ""

    def on_sent(e: dict[str, Any]) -> None:
        if event in e["response"].get("payloadData", ""):
            sent.append(e["timestamp"] * 1000)

    def on_received(e: dict[str, Any]) -> None:
        if answer in e["response"].get("payloadData", ""):
            received.append(e["timestamp"] * 1000)

    cdp.on("Network.webSocketFrameSent", on_sent)
    cdp.on("Network.webSocketFrameReceived", on_received)
    await cdp.send("Network.enable")
    try:
        await page.evaluate("fetch('/hops')")  # the server's stamps start now
        measured = await page.evaluate(MEASURE_HOPS, [button, HOPS])
        server: list[list[Any]] = await page.evaluate("fetch('/hops').then((r) => r.json())")
    finally:
        await cdp.send("Network.disable")
        await cdp.detach()
    ins = [t for what, t, text in server if what == "in" and event in text]
    outs = [t for what, t, text in server if what == "out" and answer in text]
    out: dict[str, list[float]] = {hop: [] for hop, _ in HOP_LABELS}
    for i, (clicked, changed, laid) in enumerate(measured["clicks"]):
        send = next((t for t, text in measured["sent"] if t >= clicked and event in text), None)
        if send is None:
            continue
        message = next(
            (t for t, text in measured["messages"] if t >= send and answer in text), None
        )
        if message is None or i >= min(len(sent), len(received)):
            continue
        out["send"].append(send - clicked)
        out["answer"].append(message - send)
        # One frame each way per click, in order; the server's first after DevTools' sent.
        arrived = next((t for t in ins if t >= sent[i]), None)
        answered = next((t for t in outs if arrived is not None and t >= arrived), None)
        if arrived is not None and answered is not None and answered <= received[i]:
            out["to_server"].append(arrived - sent[i])
            out["server"].append(answered - arrived)
            out["back"].append(received[i] - answered)
        out["handler"].append(changed - message)
        out["layout"].append(laid - changed)
    return {hop: values or [float("nan")] for hop, values in out.items()}


async def idle_table(browser: Browser, port: int, five_bare: list[float]) -> None:
    """The example table left open: each tick (5 rows and the version) costs the page
    this much handler time; baseline: the bare page setting 5 rows' cells."""
    page = await (await browser.new_context()).new_page()
    await page.goto(f"http://127.0.0.1:{port}/examples/table")
    await page.wait_for_selector("[data-lf-status=connected]")
    await page.evaluate(WRAP_LIVE)
    await page.wait_for_function(f"window.handled.length >= {TICKS}", timeout=120_000)
    ticks = await page.evaluate("window.handled")
    p50, p50b = percentile(ticks, 50), percentile(five_bare, 50)
    print(
        f"{'idle table tick: handler (ms)':<34}{p50:>10.2f}{percentile(ticks, 90):>9.2f}"
        f"{p50b:>11.2f}{percentile(five_bare, 90):>9.2f}{p50 / max(p50b, 1e-6):>7.1f}x",
        flush=True,
    )


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is not installed; skipped", flush=True)
        return
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("playwright is not installed; skipped", flush=True)
        return
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_live_browser", "--serve", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError("the bench server did not start")

        async def go() -> None:
            for _ in range(500):
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.01)
                    continue
                writer.close()
                break
            await run(port)

        asyncio.run(go())
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
