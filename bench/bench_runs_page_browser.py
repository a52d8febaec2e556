"""Runs page in Chromium (issue 18): the 50-step workflow of ``bench_runs_page`` (ten lanes
of five steps, about 20 steps a second) followed on the run page of a real server, in
headless Debian Chromium.

Each WebSocket frame the page receives is timed on the page's main thread with the
Performance API (``performance.now()`` around the live client's message handler, which
decodes, merges and morphs at once), then again with the layout it causes forced
(``offsetHeight``). Figures: the frames' bytes and main-thread milliseconds during the
run, each beside a baseline measured in the same run: the frame that first showed the
run (its whole graph: what every frame would cost without diffs). Needs /usr/bin/chromium and the
playwright package (never ``playwright install``); says so and stops otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench._report import median, percentile, row
from bench.bench_runs_page import CHAIN, MODEL, STEPS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SERVER = """
import sys
from lightflow_actors.adapters.cli import print_json
from lightflow_actors.adapters.http import ServeOptions, run_server
from lightflow_actors.host import runs_part
run_server(ServeOptions(port=0, graceful_timeout=1.0), print_json, [runs_part()])
"""
PROBE = """
window.__frames = [];
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
        window.__frames.push([event.data.length, script, total]);
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


def main() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("skipped: the playwright package is not installed")
        return
    if not CHROMIUM.exists():
        print(f"skipped: {CHROMIUM} is not installed")
        return
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
            passes = [(step, _watch(sync_playwright, url, run, step)) for run, step in PASSES]
        finally:
            server.terminate()
            server.wait(20)
    for step, frames in passes:
        _report(frames, step)


PASSES = (("bench", None), ("bench-open", "l0s1"))
"""The run followed with no step open, then another with step l0s1 open (its request,
answer and output arrive while the others move: the biggest patches)."""


def _report(frames: list[list[float]], step: str | None) -> None:
    print(f"-- the run page, {'step ' + step if step else 'no step'} open")
    # frames[0]: the join's render (no such run yet); frames[1]: the run's whole graph.
    first, rest = frames[1], frames[2:]
    sizes = [f[0] for f in rest]
    script = [f[1] for f in rest]
    total = [f[2] for f in rest]
    over = sum(size > 1024 for size in sizes)
    print(f"{len(rest)} frames after the first while {STEPS} steps ran; {over} over 1 KB")
    row("frame bytes, median", median(sizes), "B", first[0], "first frame")
    row("frame bytes, max", max(sizes), "B", first[0], "first frame")
    row(
        "main thread per frame, median (us)",
        median(script) * 1000,
        "us",
        first[1] * 1000,
        "first frame",
    )
    row("main thread per frame, max (us)", max(script) * 1000, "us", first[1] * 1000, "first frame")
    row(
        "with its layout, p95 (us)",
        percentile(total, 95) * 1000,
        "us",
        first[2] * 1000,
        "first frame",
    )


def _watch(sync_playwright: object, url: str, run: str, step: str | None) -> list[list[float]]:
    with sync_playwright() as playwright:  # type: ignore[operator]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.add_init_script(PROBE)
            # The page follows the run before it exists, so it sees every step move.
            query = f"run={run}" + (f"&step={step}" if step else "")
            page.goto(f"{url}/runs?{query}", wait_until="domcontentloaded")
            page.wait_for_selector("[data-lf-root].lf-connected", timeout=30_000)
            with httpx.Client(base_url=url, trust_env=False, timeout=30) as http:
                created = http.post("/runs", json={"workflow": "lanes", "id": run})
                assert created.status_code == 201, created.text
            page.wait_for_function(
                f"document.querySelectorAll('#dag [data-status=succeeded]').length >= {STEPS}",
                timeout=120_000,
            )
            frames: list[list[float]] = page.evaluate("window.__frames")
        finally:
            browser.close()
    # Frames of a few bytes are acks and heartbeats; the patches are the rest.
    return [f for f in frames if f[0] > 64]


if __name__ == "__main__":
    main()
