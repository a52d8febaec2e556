"""Runs page benchmark (issue 18): a 50-step workflow (ten lanes of five steps) whose steps
finish at about 20 a second, followed live on the run page.

The run's detail is read as the feed reads it (a ``RunFollower`` every 0.25 s, the
feed's default tick) while the run goes on; each detail is then rendered as the run page
(no step open, then one step open) and diffed against the previous one, as a session
does. Figures, each beside a baseline measured in the same run:
- bytes of each patch (a publication is drawn in one or a few, as the view paces it)
  against the first render's patch (what a full re-render would send each time);
- server time to render, diff and encode each patch against rendering the page to HTML.
And the list of 3 000 finished runs: reading it the first time and from the cache,
against ``list_runs`` (the JSON route's read); the patch when one run changes against
the first render. The browser's work per patch: ``bench_runs_page_browser``.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import msgspec

from bench._report import median, percentile, row, timed
from ctx_substrate import ProviderRequest
from lightflow_actors import ActorSystem
from lightflow_actors.host import RunsHosting, decode_runs_config, echo_reply
from lightflow_actors.live import (
    Command,
    DiffState,
    Rendered,
    Stream,
    StreamDelete,
    StreamInsert,
    encode_patch,
    to_html,
)
from lightflow_actors.live._rendered import StreamOp
from lightflow_actors.live._streams import add_ops, pending_ops
from lightflow_actors.observer.runs import RunDetail, RunsListing
from lightflow_actors.observer.runs._listed import sync_list
from lightflow_actors.observer.runs._pacing import next_shown
from lightflow_actors.observer.runs._reading import ListCache, RunFollower, list_rows
from lightflow_actors.observer.runs._render import render
from lightflow_actors.observer.runs._state import RunsState
from lightflow_actors.runs import AwaitSettled, CreateRun, RunsOperations

LANES, DEPTH = 10, 5
STEPS = LANES * DEPTH
STEP_S = 0.4  # ten lanes at once: about 20 steps a second
TICK_S = 0.25  # the feed's default interval

MODEL = """
from lightflow_actors.flow import Model
METADATA = {"id": "paced", "title": "Paced", "kind": "model", "description": "bench",
            "stability": "stable"}
DEFINITION = Model(provider="paced", name="paced", formats=("openai.chat",))
"""
CHAIN = f"""
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow
METADATA = {{"id": "lanes", "title": "Ten lanes of five", "kind": "workflow",
            "description": "bench", "stability": "stable"}}
class Inputs(msgspec.Struct, frozen=True):
    seed: str = "x"
def step(lane, n):
    return ApiStep(id=f"l{{lane}}s{{n}}", format="openai.chat", model="paced",
                   prompt=ChatPrompt(user=f"lane {{lane}} step {{n}} of {{{{inputs.seed}}}}"),
                   depends_on=[] if n == 1 else [f"l{{lane}}s{{n - 1}}"])
DEFINITION = Workflow(
    inputs=Inputs,
    steps=[step(lane, n) for n in range(1, {DEPTH + 1}) for lane in range({LANES})],
)
"""


def paced(request: ProviderRequest) -> object:
    """Answers after ``STEP_S`` seconds (a blocking provider: on the substrate's threads)."""
    time.sleep(STEP_S)
    return echo_reply(request, "ok {user}", "paced")


def _hosting(root: Path) -> RunsHosting:
    assets = root / "assets"
    (assets / "models").mkdir(parents=True)
    (assets / "workflows").mkdir()
    (assets / "models" / "paced.py").write_text(MODEL)
    (assets / "workflows" / "lanes.py").write_text(CHAIN)
    document = (
        f'{{"state_dir": "{root / "state"}", "assets": "{assets}", "providers": '
        f'[{{"kind": "python", "name": "paced", "blocking": true, '
        f'"target": "{Path(__file__).resolve()}:paced"}}]}}'
    )
    return RunsHosting(decode_runs_config(document.encode()), environ={}, mcp=False)


async def _details(root: Path) -> tuple[list[RunDetail], float]:
    """The run's detail as the feed reads it at its default tick, while the run goes on."""
    hosting = _hosting(root)
    async with ActorSystem("bench-runs-page") as system:
        await hosting.start(system)
        try:
            await hosting.call(CreateRun("lanes", b"{}", "bench"))
            follower, details = RunFollower("bench"), []
            started = time.perf_counter()
            while True:
                detail = await hosting.read("bench", follower.read)
                if not details or detail != details[-1]:
                    details.append(detail)
                if detail.status not in ("running", "planned"):
                    break
                await asyncio.sleep(TICK_S)
            took = time.perf_counter() - started
            assert (await hosting.call(AwaitSettled("bench"))).status == "succeeded"
        finally:
            await hosting.stop()
    return details, took


def _measure(details: list[RunDetail], step: str | None) -> None:
    print(f"-- the run page, {'step ' + step if step else 'no step'} open")
    empty = RunsState(session="b", connected=True, needs_token=False, listing=RunsListing(0, ()))
    states = _paced(
        [msgspec.structs.replace(empty, run="bench", step=step, detail=d) for d in details]
    )
    diff = DiffState()
    whole = len(encode_patch(diff.diff(render(states[0]))))
    html = len(to_html(render(states[-1])).encode())
    sizes, renders, fulls = [], [], []
    print(f"({len(details)} publications drawn in {len(states)} renders, as the view paces them)")
    for state in states[1:]:
        start = time.perf_counter()
        sizes.append(len(encode_patch(diff.diff(render(state)))))
        renders.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        to_html(render(state))
        fulls.append((time.perf_counter() - start) * 1e6)
    row("patch bytes, median", median(sizes), "B", whole, "first render")
    row("patch bytes, max", max(sizes), "B", whole, "first render")
    print(f"(the whole page as HTML: {html:,} B)")
    row("render + diff + encode, median", median(renders), "us", median(fulls), "to HTML")
    row(
        "render + diff + encode, p95",
        percentile(renders, 95),
        "us",
        percentile(fulls, 95),
        "to HTML",
    )


def _paced(states: list[RunsState]) -> list[RunsState]:
    """The states the view renders for these publications: each new detail drawn a few
    steps per render (``_pacing.next_shown``), as ``RunsView`` does."""
    out = states[:1]
    for state in states[1:]:
        shown = out[-1].detail
        assert isinstance(state.detail, RunDetail) and isinstance(shown, RunDetail)
        while True:
            shown = next_shown(shown, state.detail, state.step)
            out.append(msgspec.structs.replace(state, detail=shown))
            if shown is state.detail:
                break
    return out


LISTED = 3000


def _listing(root: Path) -> None:
    """The list's read of ``LISTED`` finished runs: cold, then from the cache, beside the
    JSON route's ``list_runs`` (every manifest read, every time)."""
    hosting = _hosting(root)
    ops = RunsOperations(hosting.settings, WallClock(), random.Random(1))
    resolved = ops.preview("lanes", b"{}")
    for n in range(LISTED):
        ops.create_resolved(resolved, f"r{n:05d}")
    manifest = ops.store.manifest("r00000")
    done = msgspec.structs.replace(
        manifest,
        steps=tuple(msgspec.structs.replace(s, status="succeeded") for s in manifest.steps),
    )
    for n in range(LISTED):  # finished runs (their rows are cached)
        path = ops.store.run_dir(f"r{n:05d}") / "manifest.json"
        path.write_bytes(msgspec.json.encode(msgspec.structs.replace(done, run_id=f"r{n:05d}")))
    cache: ListCache = {}
    baseline = min(timed(ops.list_runs) for _ in range(3))
    cold = timed(lambda: list_rows(ops, cache))
    warm = min(timed(lambda: list_rows(ops, cache)) for _ in range(5))
    print(f"-- the list of {LISTED} finished runs")
    row("list read, first (ms)", cold * 1000, "ms", baseline * 1000, "list_runs")
    row("list read, cached (ms)", warm * 1000, "ms", baseline * 1000, "list_runs")
    rows = list_rows(ops, cache)
    state = RunsState(session="b", connected=True, needs_token=False, listing=RunsListing(1, rows))
    diff = DiffState()
    state, ops_first = sync_list(state)
    first = len(encode_patch(diff.diff(_streamed(state, ops_first))))
    changed = msgspec.structs.replace(rows[3], done=rows[3].done - 1, status="running")
    after = msgspec.structs.replace(state, listing=RunsListing(2, (*rows[:3], changed, *rows[4:])))
    start = time.perf_counter()
    after, ops_one = sync_list(after)
    one = len(encode_patch(diff.diff(_streamed(after, ops_one))))
    took = time.perf_counter() - start
    row("list patch, one run changed (B)", one, "B", first, "first render")
    held = after.listing.rows
    moved = msgspec.structs.replace(held[2000], done=held[2000].done - 1, status="running")
    far = (*held[:2000], moved, *held[2001:])  # a run 40 pages away
    start = time.perf_counter()
    elsewhere, ops_far = sync_list(msgspec.structs.replace(after, listing=RunsListing(3, far)))
    none = diff.diff(_streamed(elsewhere, ops_far))
    took_far = time.perf_counter() - start
    row(
        "list patch, a run on page 41 changed (B)",
        len(encode_patch(none)),
        "B",
        first,
        "first render",
    )
    row("list sync + render + diff, run on page (us)", took * 1e6, "us", took_far * 1e6, "page 41")
    ops.close()


def _streamed(state: RunsState, commands: list[Command]) -> Rendered:
    """``render(state)`` with the list's stream operations queued, as a session does."""
    pending: dict[str, list[StreamOp]] = {}
    for command in commands:
        assert isinstance(command, Stream | StreamInsert | StreamDelete)
        add_ops(pending, command)
    with pending_ops(pending):
        return render(state)


class WallClock:
    """Unix ms for the bench's direct ``RunsOperations`` (no actor system here)."""

    def wall_ms(self) -> int:
        return int(time.time() * 1000)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        details, took = asyncio.run(_details(Path(tmp)))
    print(
        f"{STEPS} steps in {took:.2f} s ({STEPS / took:.1f} steps/s); {len(details)} publications"
    )
    _measure(details, None)
    _measure(details, "l0s1")
    with tempfile.TemporaryDirectory() as tmp:
        _listing(Path(tmp))


if __name__ == "__main__":
    main()
