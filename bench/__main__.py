"""`just bench [--runs N] [name ...]`: run every bench module (or the named ones) in this folder.

``--runs N`` runs each named bench N times, each in a fresh process, prints every run, and
then a summary: for each figure the median over the runs and, beside a baseline, the
median ratio and its spread (lowest-highest ratio). The machines are shared and noisy: a
single run can be off by tens of percent.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import statistics
import subprocess
import sys
from pathlib import Path

# One line printed by ``_report.row``: label, value, unit, then maybe baseline and ratio.
_ROW = re.compile(
    r"^(?P<label>.{44}) +(?P<value>-?[\d,]+(?:\.\d+)?) (?P<unit>\S+)"
    r"(?:   \| (?P<base>.+?): (?P<bv>-?[\d,]+(?:\.\d+)?) \S+   ratio (?P<ratio>[\d.]+)x)?$"
)


def main(argv: list[str]) -> int:
    runs = 1
    if argv[:1] == ["--runs"]:
        if len(argv) < 2 or not argv[1].isdigit() or int(argv[1]) < 1:
            print("--runs takes a count >= 1", file=sys.stderr)
            return 2
        runs, argv = int(argv[1]), argv[2:]
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv]
    for name in wanted:
        if name not in names:
            print(f"unknown bench {name!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
    if runs == 1:
        for name in wanted or names:
            print(f"\n=== {name} ===", flush=True)
            importlib.import_module(f"bench.{name}").main()
        return 0
    for name in wanted or names:
        outputs = []
        for i in range(runs):
            print(f"\n=== {name} (run {i + 1}/{runs}) ===", flush=True)
            done = subprocess.run(
                [sys.executable, "-m", "bench", name], capture_output=True, text=True, check=True
            )
            print(done.stdout.strip(), flush=True)
            outputs.append(done.stdout)
        print(f"\n=== {name}: median of {runs} runs (ratio spread: lowest-highest) ===")
        for line in summarize(outputs):
            print(line)
    return 0


def summarize(outputs: list[str]) -> list[str]:
    """One line per figure: its median over ``outputs`` and, with a baseline, the median
    ratio and the spread of the ratios."""
    rows: dict[tuple[str, str], list[tuple[float, float | None]]] = {}
    units: dict[tuple[str, str], str] = {}
    for output in outputs:
        seen: dict[tuple[str, str], int] = {}
        for line in output.splitlines():
            match = _ROW.match(line)
            if match is None:
                continue
            key = (match["label"].rstrip(), match["base"] or "")
            # A label printed twice in one run is two figures (a bench's two passes):
            # numbered, never pooled into one median.
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = (f"{key[0]} #{seen[key]}", key[1])
            ratio = float(match["ratio"]) if match["ratio"] else None
            rows.setdefault(key, []).append((float(match["value"].replace(",", "")), ratio))
            units[key] = match["unit"]
    lines = []
    for (label, base), samples in rows.items():
        value = statistics.median(v for v, _ in samples)
        line = f"{label:<44} {value:>14,.0f} {units[(label, base)]}"
        ratios = [r for _, r in samples if r is not None]
        if ratios:
            line += (
                f"   | {base}: ratio {statistics.median(ratios):.2f}x"
                f" ({min(ratios):.2f}-{max(ratios):.2f}x, n={len(ratios)})"
            )
        lines.append(line)
    return lines


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
