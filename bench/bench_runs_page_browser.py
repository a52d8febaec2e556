"""Runs page in Chromium (issue 18): the 50-step workflow of ``bench_runs_page`` (ten lanes
of five steps, about 20 steps a second) followed on the run page of a real server, in
headless Debian Chromium.

Each WebSocket frame the page receives is timed on the page's main thread with the
Performance API (``performance.now()`` around the live client's message handler, which
decodes, merges and paints at once), then again with the layout it causes forced
(``offsetHeight``). A round follows three runs: with no step open; with no step open and
the client's partial paint turned off, so every patch is rendered and morphed in full
(the baseline: what every patch of the DAG cost before its SVG regions were painted in
place); with step l0s1 open (its request, answer and output arrive while the others
move: the biggest patches). ``ROUNDS`` rounds, figures pooled over them, each beside its
baseline from the same rounds, and beside the frame that first drew the run (its whole
graph). The first ``WARM`` patches after that frame are the page's warm-up (the painter's
code not yet optimised, the first shapes of new templates, the open step's panel arriving
with its request and answer): the figures over all patches are followed by the steady
state, from patch ``WARM`` on, and by the slowest patches with their index after the first
frame, their size and their diff's top-level keys (``t`` when it brings new templates).
Each run has its own inputs, so no step is a cache hit of an earlier run. Needs
/usr/bin/chromium and the playwright package (never ``playwright install``); says so and
stops otherwise.
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
        const drawn = document.querySelector("#dag") !== null;
        // What the patch carries: its diff's top-level keys ("t" new templates, "r" values).
        let kind = "";
        try {
          const ins = JSON.parse(event.data).instruction;
          const d = ins && ins.op === "patch" ? ins.diff.d : null;
          if (d) kind = Object.keys(d).sort().join("+");
        } catch (e) { /* not JSON */ }
        window.__frames.push([event.data.length, script, total, drawn, kind]);
      });
    },
  });
  return ws;
}
Timed.prototype = Native.prototype;
Object.assign(Timed, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
window.WebSocket = Timed;
"""


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


ROUNDS = 3
PASSES = (("plain", None, False), ("full", None, True), ("open", "l0s1", False))
"""(name, open step, every patch rendered in full) of the runs followed in each round."""

WARM = 4
"""Patches after the first frame counted as warm-up (steady-state figures exclude them)."""

Frame = tuple[int, float, float, int, str]
"""A frame's bytes, its handler's milliseconds, and with the layout it caused; its index
among the patches after the frame that first drew the run, and its diff's top-level keys."""


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
                    for n in range(ROUNDS):
                        for name, step, full in PASSES:
                            first, rest = _watch(browser, url, f"{name}-{n}", step, full)
                            firsts[name].append(first)
                            patches[name].extend(rest)
                finally:
                    browser.close()
        finally:
            server.terminate()
            server.wait(20)
    _report("the run page, no step open", patches["plain"], firsts["plain"], patches["full"])
    _report("the run page, step l0s1 open", patches["open"], firsts["open"], None)


def _report(title: str, frames: list[Frame], firsts: list[Frame], full: list[Frame] | None) -> None:
    print(f"-- {title}: {ROUNDS} runs")
    sizes = [f[0] for f in frames]
    script = [f[1] * 1000 for f in frames]
    total = [f[2] * 1000 for f in frames]
    first = median([f[1] * 1000 for f in firsts])
    over = sum(size > 1024 for size in sizes)
    print(f"{len(frames)} patches after the first frames while {STEPS} steps ran; {over} over 1 KB")
    row("patch bytes, median", median(sizes), "B", median([f[0] for f in firsts]), "first frame")
    row("patch bytes, max", max(sizes), "B", median([f[0] for f in firsts]), "first frame")
    if full:
        base = [f[1] * 1000 for f in full]
        base_total = [f[2] * 1000 for f in full]
        label = "rendered in full"
        row("main thread per patch, median (us)", median(script), "us", median(base), label)
        row(
            "main thread per patch, p95 (us)",
            percentile(script, 95),
            "us",
            percentile(base, 95),
            label,
        )
        row("main thread per patch, max (us)", max(script), "us", max(base), label)
        row("with its layout, median (us)", median(total), "us", median(base_total), label)
        row(
            "with its layout, p95 (us)",
            percentile(total, 95),
            "us",
            percentile(base_total, 95),
            label,
        )
    row("main thread per patch, median (us)", median(script), "us", first, "first frame")
    row("main thread per patch, p95 (us)", percentile(script, 95), "us", first, "first frame")
    row("with its layout, p95 (us)", percentile(total, 95), "us", first, "first frame")
    steady = [f for f in frames if f[3] >= WARM]
    warm = [f for f in frames if f[3] < WARM]
    if steady and warm:
        ss = [f[1] * 1000 for f in steady]
        ws = [f[1] * 1000 for f in warm]
        label = f"first {WARM} patches"
        print(f"steady state: {len(steady)} patches from patch {WARM} after the first frame")
        row("steady, main thread per patch, median (us)", median(ss), "us", median(ws), label)
        row("steady, main thread per patch, p95 (us)", percentile(ss, 95), "us", max(ws), label)
        row("steady, main thread per patch, max (us)", max(ss), "us", max(ws), label)
        row(
            "steady, with its layout, p95 (us)",
            percentile([f[2] * 1000 for f in steady], 95),
            "us",
            percentile([f[2] * 1000 for f in warm], 95),
            label,
        )
    slowest = sorted(frames, key=lambda f: -f[1])[:5]
    print(
        "slowest patches: "
        + ", ".join(f"#{f[3]} {f[0]} B {f[4] or '-'} {f[1]:.1f}/{f[2]:.1f} ms" for f in slowest)
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
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
            # Inputs of its own: no step is a cache hit of an earlier run's.
            body = {"workflow": "lanes", "id": run, "inputs": {"seed": run}}
            created = http.post("/runs", json=body)
            assert created.status_code == 201, created.text
        page.wait_for_function(
            f"document.querySelectorAll('#dag [data-status=succeeded]').length >= {STEPS}",
            timeout=120_000,
        )
        frames: list[list[Any]] = page.evaluate("window.__frames")
    finally:
        page.close()
    # The first frame with the DAG drew the whole run; frames of a few bytes after it are
    # acks and heartbeats, the patches are the rest.
    at = next(i for i, f in enumerate(frames) if f[3])
    first = (int(frames[at][0]), frames[at][1], frames[at][2], -1, str(frames[at][4]))
    later = [f for f in frames[at + 1 :] if f[0] > 64]
    rest = [(int(f[0]), f[1], f[2], k, str(f[4])) for k, f in enumerate(later)]
    return first, rest


if __name__ == "__main__":
    main()
