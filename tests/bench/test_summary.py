"""``bench --runs N``'s summary keeps each figure of a run apart, and the runs page's
Chromium bench gives each of its passes its own labels."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from bench.__main__ import _ROW, summarize
from bench.bench_runs_page_browser import Frame, _report


def _frames(count: int, cpu: float) -> list[Frame]:
    """Patches alternating with and without templates, their times growing with the index."""
    return [
        (400 + k, 1.0 + k / 10, 2.0 + k / 10, k, "r+t" if k % 3 == 0 else "r", cpu + k / 100, {})
        for k in range(count)
    ]


def _printed(*passes: tuple[str, str, bool]) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        for title, tag, with_full in passes:
            frames = _frames(20, 3.0)
            full = _frames(20, 8.0) if with_full else None
            _report(title, tag, frames, _frames(2, 20.0), full)
    return out.getvalue()


def test_the_two_passes_of_the_runs_page_bench_have_their_own_labels() -> None:
    text = _printed(("no step open", "plain: ", True), ("step open", "open: ", False))
    figures = [line for line in text.splitlines() if "(us)" in line or "bytes" in line]
    assert len(figures) > 20
    labels = []
    for line in figures:
        match = _ROW.match(line)
        assert match is not None, f"the summary cannot read {line!r}"  # label within 44
        labels.append(match["label"].rstrip())
    assert len(set(labels)) == len(labels), labels
    assert {label.split(":")[0] for label in labels} == {"plain", "open"}
    summary = summarize([text, text, text])
    assert len(summary) == len(labels)
    assert not any(" #2" in line for line in summary)


def test_a_label_printed_twice_in_one_run_is_two_figures_in_the_summary() -> None:
    run = (
        f"{'p95 (us)':<44} {5000:>14,.0f} us   | base: 10,000 us   ratio 0.50x\n"
        f"{'p95 (us)':<44} {7000:>14,.0f} us   | base: 10,000 us   ratio 0.70x\n"
    )
    other = run.replace("5,000 us", "5,200 us").replace("0.50x", "0.52x")
    summary = summarize([run, other])
    assert len(summary) == 2
    first, second = summary
    assert first.startswith("p95 (us) ") and "5,100 us" in first and "ratio 0.51x" in first
    assert second.startswith("p95 (us) #2") and "7,000 us" in second and "ratio 0.70x" in second
