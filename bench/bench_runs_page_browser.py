"""Runs page in Chromium (issue 18): the 50-step workflow of ``bench_runs_page`` (ten lanes
of five steps, about 20 steps a second) followed on the run page of a real server, in
headless Debian Chromium.

Each WebSocket frame the page receives is timed on the page's main thread with the
Performance API (``performance.now()`` around the live client's message handler, which
decodes, merges and paints at once), then again with the layout it causes forced
(``offsetHeight``), and in a Chromium trace (categories ``toplevel`` and
``blink.user_timing``) by the thread time (``tdur``) of the task that ran it: its CPU on
the main thread, microtasks and forced layout included, which a loaded machine does not
stretch as it stretches wall time. The page tells the bench when the run is drawn
finished by resolving a promise (checked in a task of its own after each frame), so
nothing polls the page while it is measured.

A round follows three runs: with no step open; with no step open and the client's
partial paint turned off, so every patch is rendered and morphed in full (the baseline:
what every patch of the DAG cost before its SVG regions were painted in place); with step
l0s1 open (its request, answer and output arrive while the others move: the biggest
patches). A run draws about ten patches, so rounds go on until both followed passes have
``MIN_PATCHES`` (100) steady-state patches: every p95 is over at least 100 samples.
Figures pooled over the rounds, each beside its baseline from the same rounds, or beside
the frame that first drew the run (its whole graph). The first ``WARM`` patches after that
frame are the page's warm-up (the painter's code not yet optimised, the first shapes of
new templates, the open step's panel arriving with its request and answer): the figures
over all patches are followed by the steady state, from patch ``WARM`` on, and by the
slowest patches with their index after the first frame, their size, their diff's
top-level keys (``t`` when it brings new templates) and their three times. Each run has
its own inputs, so no step is a cache hit of an earlier run. The load average is printed
with the figures. Needs /usr/bin/chromium and the playwright package (never ``playwright
install``); says so and stops otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench._report import median, percentile, row
from bench.bench_runs_page import CHAIN, MODEL, STEPS
from lightflow_actors.testing.chromium import CHROMIUM, CHROMIUM_ARGS

SERVER = """
import sys
from lightflow_actors.adapters.cli import print_json
from lightflow_actors.adapters.http import ServeOptions, run_server
from lightflow_actors.host import runs_part
run_server(ServeOptions(port=0, graceful_timeout=1.0), print_json, [runs_part()])
"""
PROBE = """
window.__frames = [];
// Resolved once the page shows the whole run finished: checked in a task of its own after
// each frame (never inside the timed handler, never on every animation frame).
window.__done = new Promise((resolve) => { window.__resolveDone = resolve; });
function finished() {
  if (!document.querySelector("#run[data-status=succeeded]")) return false;
  return document.querySelectorAll("#dag [data-status=succeeded]").length >= __STEPS__;
}
if (window.__fullRenders) {
  // The baseline: every patch rendered and morphed in full (the painter declines).
  document.addEventListener("DOMContentLoaded", () => {
    if (window.LightflowLive) window.LightflowLive.Painter.prototype.paint = () => false;
  });
}
const Native = window.WebSocket;
function Timed(url, protocols) {
  const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
  Object.defineProperty(ws, "onmessage", {
    set(handler) {
      ws.addEventListener("message", (event) => {
        const start = performance.now();
        handler.call(ws, event);
        const script = performance.now() - start;
        void document.body.offsetHeight;  // the layout this frame caused
        const total = performance.now() - start;
        const n = window.__frames.length;
        // Found in the trace: the task that ran this frame, and its thread time.
        performance.measure("lf-frame-" + n, {start: start, end: start + total});
        const drawn = document.querySelector("#dag") !== null;
        // What the patch carries: its diff's top-level keys ("t" new templates, "r" values).
        let kind = "";
        try {
          const ins = JSON.parse(event.data).instruction;
          const d = ins && ins.op === "patch" ? ins.diff.d : null;
          if (d) kind = Object.keys(d).sort().join("+");
        } catch (e) { /* not JSON */ }
        window.__frames.push([event.data.length, script, total, drawn, kind]);
        setTimeout(() => { if (finished()) window.__resolveDone(); }, 0);
      });
    },
  });
  return ws;
}
Timed.prototype = Native.prototype;
Object.assign(Timed, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
window.WebSocket = Timed;
""".replace("__STEPS__", str(STEPS))


def _config(root: Path) -> Path:
    assets = root / "assets"
    (assets / "models").mkdir(parents=True)
    (assets / "workflows").mkdir()
    (assets / "models" / "paced.py").write_text(MODEL)
    (assets / "workflows" / "lanes.py").write_text(CHAIN)
    target = Path(__file__).with_name("bench_runs_page.py").resolve()
    document = {
        "state_dir": str(root / "state"),
        "assets": str(assets),
        "providers": [
            {"kind": "python", "name": "paced", "blocking": True, "target": f"{target}:paced"}
        ],
    }
    path = root / "runs.json"
    path.write_text(json.dumps(document))
    return path


MIN_PATCHES = int(os.environ.get("RUNS_PAGE_PATCHES", "100"))
"""Rounds go on until each followed pass has this many steady-state patches (p95 over at
least 100 samples; a run draws about ten patches)."""

MAX_ROUNDS = 30

PASSES = (("plain", None, False), ("full", None, True), ("open", "l0s1", False))
"""(name, open step, every patch rendered in full) of the runs followed in each round."""

WARM = 4
"""Patches after the first frame counted as warm-up (steady-state figures exclude them)."""

TIMELINE = os.environ.get("RUNS_PAGE_TIMELINE") == "1"
"""With ``RUNS_PAGE_TIMELINE=1`` the trace also records ``devtools.timeline`` and the
slowest patches are broken down into style, layout, HTML parsing, GC and the rest
(script); it costs the page a little, so the figures are then not the issue's."""

CATEGORIES = ["toplevel", "blink.user_timing"] + (["devtools.timeline", "v8"] if TIMELINE else [])

PARTS = {
    "UpdateLayoutTree": "style",
    "Layout": "layout",
    "ParseHTML": "parse",
    "MinorGC": "gc",
    "MajorGC": "gc",
    "V8.GCScavenger": "gc",
    "V8.GC_MC_BACKGROUND_EVACUATE_COPY": "gc",
}
"""Trace events a patch's task is broken down into (``RUNS_PAGE_TIMELINE=1``)."""

TASK = "ThreadControllerImpl::RunTask"
"""The trace's top-level task on a thread: ``tdur`` is its thread (CPU) time."""

Frame = tuple[int, float, float, int, str, float, dict[str, float]]
"""A frame's bytes, its handler's milliseconds, and with the layout it caused (both wall
time, Performance API); its index among the patches after the frame that first drew the
run, its diff's top-level keys, and the thread time of the task that ran it (trace, ms;
-1 when the trace has no such task), and that task's time in each of ``PARTS`` (ms,
``RUNS_PAGE_TIMELINE=1``)."""


def main() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("skipped: the playwright package is not installed")
        return
    if not Path(CHROMIUM).exists():
        print(f"skipped: {CHROMIUM} is not installed")
        return
    firsts: dict[str, list[Frame]] = {name: [] for name, _, _ in PASSES}
    patches: dict[str, list[Frame]] = {name: [] for name, _, _ in PASSES}
    rounds = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        environ = {
            **os.environ,
            "LIGHTFLOW_RUNS_CONFIG": str(_config(root)),
            "XDG_STATE_HOME": str(root / "xdg-state"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, env=environ, text=True
        )
        try:
            assert server.stdout is not None
            url = json.loads(server.stdout.readline())["url"].rstrip("/")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    while (
                        rounds < MAX_ROUNDS
                        and min(_steady_count(patches["plain"]), _steady_count(patches["open"]))
                        < MIN_PATCHES
                    ):
                        for name, step, full in PASSES:
                            first, rest = _watch(browser, url, f"{name}-{rounds}", step, full)
                            firsts[name].append(first)
                            patches[name].extend(rest)
                        rounds += 1
                finally:
                    browser.close()
        finally:
            server.terminate()
            server.wait(20)
    print(f"{rounds} rounds of {len(PASSES)} runs; load average {_load()}")
    _report(
        "the run page, no step open", "plain: ", patches["plain"], firsts["plain"], patches["full"]
    )
    _report("the run page, step l0s1 open", "open: ", patches["open"], firsts["open"], None)


def _steady_count(frames: list[Frame]) -> int:
    return sum(f[3] >= WARM for f in frames)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _ms(frames: list[Frame], field: int) -> list[float]:
    """Field ``field`` of ``frames`` in microseconds (trace-less frames left out)."""
    return [f[field] * 1000 for f in frames if f[field] >= 0]


def _rows(label: str, frames: list[Frame], base: list[Frame], base_label: str) -> None:
    """Median, p95 and max of each measure of ``frames`` beside the same of ``base``
    (``label``: the pass's prefix and the group's)."""
    for field, what in ((1, "main thread"), (2, "with its layout"), (5, "task CPU (trace)")):
        values, baseline = _ms(frames, field), _ms(base, field)
        if not values or not baseline:
            continue
        for stat, fn in (("median", median), ("p95", _p95), ("max", max)):
            if stat == "max" and field != 1:
                continue
            row(f"{label}{what}, {stat} (us)", fn(values), "us", fn(baseline), base_label)


def _p95(values: list[float]) -> float:
    return percentile(values, 95)


def _report(
    title: str, tag: str, frames: list[Frame], firsts: list[Frame], full: list[Frame] | None
) -> None:
    """The figures of one pass, each label starting with ``tag`` (``plain: ``, ``open: ``),
    so that ``bench --runs N`` keeps the passes' figures apart."""
    sizes = [f[0] for f in frames]
    first_size = median([f[0] for f in firsts])
    over = sum(size > 1024 for size in sizes)
    print(f"-- {title}: {len(firsts)} runs of {STEPS} steps")
    print(f"{len(frames)} patches after the first frames; {over} over 1 KB")
    row(f"{tag}patch bytes, median", median(sizes), "B", first_size, "first frame")
    row(f"{tag}patch bytes, max", max(sizes), "B", first_size, "first frame")
    # The whole run's patches: drawing a run in more, smaller patches must not cost more.
    per_run = sum(_ms(frames, 5)) / len(firsts)
    print(f"{len(frames) / len(firsts):.1f} patches per run")
    if full:
        full_per_run = sum(_ms(full, 5)) / len(firsts)
        row(f"{tag}task CPU per run, patches (us)", per_run, "us", full_per_run, "rendered in full")
    else:
        row(f"{tag}task CPU per run, patches (us)", per_run, "us")
    if full:
        _rows(tag, frames, full, "rendered in full")
    else:
        _rows(tag, frames, firsts, "first frame")
    steady = [f for f in frames if f[3] >= WARM]
    warm = [f for f in frames if f[3] < WARM]
    if steady and warm:
        print(f"steady state: {len(steady)} patches from patch {WARM} after the first frame")
        _rows(f"{tag}steady, ", steady, warm, f"first {WARM} patches")
    news = [f for f in frames if "t" in f[4].split("+")]
    rest = [f for f in frames if "t" not in f[4].split("+")]
    if _ms(news, 5) and _ms(rest, 5):
        # The patches that bring templates (an open step's panel arriving): their CPU.
        label = "patches without templates"
        print(f"{len(news)} patches bring new templates")
        row(
            f"{tag}with templates, task CPU median (us)",
            median(_ms(news, 5)),
            "us",
            median(_ms(rest, 5)),
            label,
        )
        row(
            f"{tag}with templates, task CPU max (us)",
            max(_ms(news, 5)),
            "us",
            max(_ms(rest, 5)),
            label,
        )
    if TIMELINE:
        _breakdown(frames)
    slowest = sorted(frames, key=lambda f: -f[1])[:5]
    print(
        "slowest patches: "
        + ", ".join(
            f"#{f[3]} {f[0]} B {f[4] or '-'} {f[1]:.1f}/{f[2]:.1f}/{f[5]:.1f} ms" for f in slowest
        )
    )


def _breakdown(frames: list[Frame]) -> None:
    """Where the patches' task CPU goes: the slowest 5% (by task CPU) and the rest, each
    part's mean in ms (``RUNS_PAGE_TIMELINE=1``)."""
    traced = sorted((f for f in frames if f[5] >= 0), key=lambda f: -f[5])
    if not traced:
        return
    cut = max(1, len(traced) // 20)
    names = ("style", "layout", "parse", "gc")
    for label, group in (("slowest 5%", traced[:cut]), ("the rest", traced[cut:])):
        if not group:
            continue
        means = {n: sum(f[6].get(n, 0.0) for f in group) / len(group) for n in names}
        cpu = sum(f[5] for f in group) / len(group)
        print(
            f"{label} ({len(group)} patches): task CPU {cpu:.2f} ms; "
            + ", ".join(f"{n} {means[n]:.2f}" for n in names)
            + f" (wall); kinds {sorted({f[4] or '-' for f in group})}"
        )


def _watch(
    browser: Any, url: str, run: str, step: str | None, full: bool
) -> tuple[Frame, list[Frame]]:
    """The frame that first drew run ``run`` and the patches after it, followed on a new page."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        if full:
            page.add_init_script("window.__fullRenders = true;")
        page.add_init_script(PROBE)
        # The page follows the run before it exists, so it sees every step move.
        query = f"run={run}" + (f"&step={step}" if step else "")
        page.goto(f"{url}/runs?{query}", wait_until="domcontentloaded")
        page.wait_for_selector("[data-lf-root].lf-connected", timeout=30_000)
        browser.start_tracing(page=page, categories=CATEGORIES)
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
            # Inputs of its own: no step is a cache hit of an earlier run's.
            body = {"workflow": "lanes", "id": run, "inputs": {"seed": run}}
            created = http.post("/runs", json=body)
            assert created.status_code == 201, created.text
        # A promise the page resolves (no polling that would compete with the page).
        page.evaluate(
            "Promise.race([window.__done, new Promise((_, reject) => setTimeout("
            "() => reject(new Error('the run did not finish on the page')), 120000))])"
        )
        trace = json.loads(browser.stop_tracing())
        frames: list[list[Any]] = page.evaluate("window.__frames")
    finally:
        page.close()
    cpu = _task_times(trace.get("traceEvents", []), len(frames))
    # The first frame with the DAG drew the whole run; frames of a few bytes after it are
    # acks and heartbeats, the patches are the rest.
    at = next(i for i, f in enumerate(frames) if f[3])
    f = frames[at]
    first = (int(f[0]), f[1], f[2], -1, str(f[4]), cpu[at][0], cpu[at][1])
    later = [(f, cpu[i]) for i, f in enumerate(frames) if i > at and f[0] > 64]
    rest = [(int(f[0]), f[1], f[2], k, str(f[4]), c, p) for k, (f, (c, p)) in enumerate(later)]
    return first, rest


def _task_times(events: list[dict[str, Any]], count: int) -> list[tuple[float, dict[str, float]]]:
    """Per frame (by its ``lf-frame-N`` measure), the thread time in ms of the top-level
    task on the page's main thread that ran it (-1 where the trace has none), and with
    ``RUNS_PAGE_TIMELINE=1`` that task's time in each of ``PARTS`` (ms; wall time of the
    outermost such event, so nested ones count once)."""
    marks: dict[int, tuple[int, int, int]] = {}
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "b" and isinstance(name, str) and name.startswith("lf-frame-"):
            marks[int(name.removeprefix("lf-frame-"))] = (e["pid"], e["tid"], e["ts"])
    tasks: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    parts: dict[tuple[int, int], list[tuple[int, int, str]]] = {}
    for e in events:
        if e.get("ph") != "X":
            continue
        if e.get("name") == TASK and "tdur" in e:
            tasks.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["dur"], e["tdur"]))
        elif e.get("name") in PARTS and "dur" in e:
            part = PARTS[e["name"]]
            parts.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["dur"], part))
    out: list[tuple[float, dict[str, float]]] = [(-1.0, {})] * count
    for n, (pid, tid, ts) in marks.items():
        around = [t for t in tasks.get((pid, tid), []) if t[0] <= ts <= t[0] + t[1]]
        if around and n < count:
            start, dur, tdur = max(around, key=lambda t: t[1])
            spent: dict[str, float] = {}
            end_of = -1
            for at, length, part in sorted(parts.get((pid, tid), [])):
                if start <= at and at + length <= start + dur and at >= end_of:
                    spent[part] = spent.get(part, 0.0) + length / 1000
                    end_of = at + length
            out[n] = (tdur / 1000, spent)
    return out


if __name__ == "__main__":
    main()
