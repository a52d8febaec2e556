"""``bench --runs N``'s summary keeps each figure of a run apart, and the runs page's
Chromium bench gives each of its passes its own labels."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import msgspec

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


def test_every_row_of_the_tenants_bench_is_in_the_summary() -> None:
    """`quiet refused` was printed without a unit, so `--runs N` left it out."""
    from bench.bench_tenants import Flood, Quiet, _report

    alone, flooded = Quiet(), Quiet()
    for side, scale in ((alone, 1.0), (flooded, 1.5)):
        side.events = [0.001 * scale * k for k in range(1, 50)]
        side.runs = [0.01 * scale * k for k in range(1, 50)]
        side.creates = [0.004 * scale * k for k in range(1, 50)]
        side.drives = [0.006 * scale * k for k in range(1, 50)]
    flood = Flood([], None, 10.0, 0)  # type: ignore[arg-type]  # the report reads no host
    flood.events, flood.runs = 300, 40
    out = io.StringIO()
    with redirect_stdout(out):
        _report(alone, flooded, [flood], throttled=3, seconds=2.0, steps=(40, 10))
    printed = [line for line in out.getvalue().splitlines() if line.strip()]
    for line in printed:
        assert _ROW.match(line) is not None, f"the summary cannot read {line!r}"
    summary = summarize([out.getvalue()] * 3)
    assert len(summary) == len(printed)
    assert any(line.startswith("quiet refused (target 0)") for line in summary)


def test_the_tenants_bench_splits_a_quiet_run_by_the_stamps_of_its_files(tmp_path: Path) -> None:
    from bench.bench_tenants import PHASES, _phases
    from lightflow_actors.flow import (
        RequestCommitted,
        ResponseObserved,
        RunCreated,
        StepSubmitted,
        StepSucceeded,
    )

    folder = tmp_path / "q1"
    folder.mkdir()
    events = [
        RunCreated(1, 1000, "q1", "one", ("s1",)),
        StepSubmitted(2, 1004, "s1", 1, "f", "r1"),
        StepSucceeded(3, 1040, "s1", 1, "outputs/s1.json"),
    ]
    trace = [
        RequestCommitted(1, 1010, "s1", 1, "r1", "inbox/r1.req.json", "f"),
        ResponseObserved(2, 1031, "s1", "r1", "outbox/r1.resp.json"),
    ]
    (folder / "events.jsonl").write_bytes(b"\n".join(msgspec.json.encode(e) for e in events))
    (folder / "trace.jsonl").write_bytes(b"\n".join(msgspec.json.encode(r) for r in trace))
    phases = _phases(tmp_path, ["q1"])
    assert [phases[p] for p in PHASES] == [[0.004], [0.006], [0.021]]
