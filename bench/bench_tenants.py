"""Tenant isolation benchmark (issue 19, ADR 0104): a noisy tenant floods, a quiet one
should not notice.

One process, one actor system, one `TenantLedger` shared by a live hub (real transport
and session actors over the test DSL's in-memory socket) and a runs host (embedded
directory substrate; a paced async provider with one slot, so run steps of both tenants
queue for it). The quiet tenant, alone and under the flood (same run, same code), in `ROUNDS` rounds
that alternate alone and flooded for each level (the machine is shared: a neighbour's
burst then falls on both sides instead of on one phase), `EVENTS` and `RUNS` in all, the
same number on each side (a p99 of fewer than about a hundred samples is their maximum:
with 18 runs a side, as before, one disturbed run decided the ratio), after one round
that is not counted (warm-up) and with the flood at its steady state (0.5 s) first:
- clicks a counter, a few ms apart: event -> patch latency (p50, p99);
- runs a one-step workflow, one after another: create -> settled (p50, p99).
The flood, the noisy tenant at once: `NOISY_SESSIONS` sessions each clicking at a rate
(its budgets: 5 events/s per session, 50 per tenant) and 10-step runs created
`NOISY_RUN_RATE` times a second without waiting for each other (budget: 2 runs in
flight, 600 provider calls a minute, `NOISY_STEPS_PER_S` run steps a second: nine of
its ten steps come from the output cache, so runs in flight alone bounded little work,
ADR 0134). Five levels (`LEVELS`): 10 events a second per
session (200/s, four times its tenant budget) and 50 (1 000/s offered, which saturated
the loop before reads were paused), each with the noisy runs (with its step budget, then
"uncapped" without it), and 50 without them
("events only": the runs' work is then out of the figure, which shows what the events
flood alone costs the quiet tenant; the substrate's file I/O is off the loop, ADR 0119).
The quiet tenant has no budget set. Printed per level: each quiet figure beside its
figure without the flood (target: within 2x), a quiet run's p99 split into its create
ask and its drive to settled, the quiet tenant's refusals (target: none), and what the
noisy tenant offered, got read and was refused, and its steps a second (held for their
turn, and dispatched).

A noisy session refused for its budget is not read until the budget has a token again
(the transport pauses reading, specs/tenants.md §3): its client's next click waits, as a
browser's frames would wait in its socket. So the noisy clients offer their rate but
the server reads what the budgets let through plus one refused event per pause; both are
printed.

The noisy clients run in this process, on the server's loop: their own work (encoding
events, decoding the answers) is load a remote client would not put on the server, so
these figures are an upper bound of the interference.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from bench._report import percentile, row
from bench.bench_runs import write_chain_assets
from ctx_substrate import ProviderRequest
from lightflow_actors.flow import (
    RequestCommitted,
    ResponseObserved,
    RunCreated,
    RunEvent,
    StepSubmitted,
    TraceRecord,
)
from lightflow_actors.host import RunsConfig, RunsHosting, decode_runs_config, echo_reply
from lightflow_actors.kernel import ActorSystem
from lightflow_actors.live import LiveHub, LiveView, Params, Rendered, SessionInfo, Template
from lightflow_actors.runs import AwaitSettled, CreateRun
from lightflow_actors.tenants import Budgets, OverBudget, TenantLedger, TenantsConfig
from lightflow_actors.testing.live import LiveTest, LiveViewHandle

EVENTS = 600  # per side (alone, flooded) and level, over all rounds
ROUNDS = 3
EVENT_GAP_S = 0.003
RUNS = 120  # per side and level: a p99 needs about a hundred samples (of 18 it is the max)
NOISY_SESSIONS = 20
LEVELS = (
    (10.0, True, True),
    (10.0, True, False),
    (50.0, True, True),
    (50.0, True, False),
    (50.0, False, True),
)
"""(events a second per noisy session (its budget: 5), whether the noisy runs flood too,
whether its `steps_per_s` budget is set): each level with noisy runs is measured with its
step budget and, right after, without it ("uncapped": the code before ADR 0134 had none),
so the two are compared in the same minutes of a shared machine."""
NOISY_RUN_RATE = 20.0  # 10-step runs a second (its budget: 2 in flight)
PROVIDER_S = 0.002  # the provider's latency per call (one slot)
SECRET = b"bench-tenants-secret-0123456789ab"
NOISY_STEPS_PER_S = 20.0
"""The noisy tenant's step budget (ADR 0134): its ten-step runs are served nine steps
from the output cache, so `runs_in_flight` alone let about 170 steps a second through."""

UNCAPPED = Budgets(
    live_sessions=NOISY_SESSIONS,
    session_events_per_s=5,
    tenant_events_per_s=50,
    runs_in_flight=2,
    provider_calls_per_min=600,
    provider_calls_burst=5,
)
BUDGETS = TenantsConfig(
    tenants={
        "noisy": msgspec.structs.replace(
            UNCAPPED,
            steps_per_s=NOISY_STEPS_PER_S,
            steps_burst=10,  # one of its runs' worth
        )
    }
)


async def paced(request: ProviderRequest) -> object:
    """The benchmark's provider: a model call that takes `PROVIDER_S`."""
    await asyncio.sleep(PROVIDER_S)
    return echo_reply(request, "ok", "paced")


class Inc(msgspec.Struct, frozen=True, tag="inc"):
    pass


PAGE = Template('<p>n: <b id="n">{n}</b></p><button lf-click="inc">+</button>')


class Counter(LiveView[int, Inc]):
    def mount(self, params: Params, session: SessionInfo) -> int:
        return 0

    def handle_event(self, event: Inc, state: int) -> int:
        return state + 1

    def render(self, state: int) -> Rendered:
        return PAGE(n=state)


def _config(root: Path) -> RunsConfig:
    assets = root / "assets"
    write_chain_assets(assets, "paced")
    provider = {
        "kind": "python",
        "name": "paced",
        "target": f"{Path(__file__).resolve()}:paced",
        "concurrency": 1,
    }
    document = {"state_dir": str(root / "state"), "assets": str(assets), "providers": [provider]}
    return decode_runs_config(msgspec.json.encode(document))


def _seed(run_id: str) -> bytes:
    """Inputs of their own, so no step is answered from the output cache."""
    return msgspec.json.encode({"seed": run_id})


def _browser(system: ActorSystem, hub: LiveHub, tenant: str) -> LiveTest:
    browser = LiveTest(system, hub)
    browser.put_session({"tenant": tenant})  # the signed cookie session names the tenant
    return browser


class Quiet:
    """The quiet tenant's figures of one side (alone or flooded), and its refusals."""

    def __init__(self) -> None:
        self.events: list[float] = []
        self.runs: list[float] = []
        # A run's latency split: its create ask (resolving, writing, starting its actor)
        # and the rest (driving its step to settled), to see which part the flood slows.
        self.creates: list[float] = []
        self.drives: list[float] = []
        self.ids: list[str] = []  # its runs, whose files `_phases` reads afterwards
        self.refused = 0


async def _quiet(view: LiveViewHandle, hosting: RunsHosting, phase: str, quiet: Quiet) -> None:
    """One round of the quiet tenant's clicks and runs, added to `quiet`."""
    before = len(view.over_budget)

    async def clicks() -> None:
        for _ in range(EVENTS // ROUNDS):
            start = time.perf_counter()
            await view.click("inc")
            quiet.events.append(time.perf_counter() - start)
            await asyncio.sleep(EVENT_GAP_S)

    async def runs() -> None:
        for n in range(RUNS // ROUNDS):
            start = time.perf_counter()
            run_id = f"quiet-{phase}-{n}"
            try:
                await hosting.call(CreateRun("one", _seed(run_id), run_id, tenant="quiet"))
            except OverBudget:
                quiet.refused += 1
                continue
            created = time.perf_counter()
            view = await hosting.call(AwaitSettled(run_id))
            assert view.status == "succeeded", view
            settled = time.perf_counter()
            quiet.runs.append(settled - start)
            quiet.creates.append(created - start)
            quiet.drives.append(settled - created)
            quiet.ids.append(run_id)

    await asyncio.gather(clicks(), runs())
    quiet.refused += len(view.over_budget) - before


class Flood:
    """The noisy tenant: sessions clicking too fast and a loop creating runs too fast."""

    def __init__(
        self,
        views: list[LiveViewHandle],
        hosting: RunsHosting,
        rate: float,
        round: int,
        with_runs: bool = True,
        capped: bool = True,
    ) -> None:
        self.views = views
        self.hosting = hosting
        self.rate = rate
        self.round = round
        self.with_runs = with_runs
        self.capped = capped
        self.refused_before = sum(len(v.over_budget) for v in views)
        self.events = 0
        self.runs = 0
        self.runs_refused = 0
        self.created: list[str] = []
        self._stop = asyncio.Event()

    async def _clicks(self, view: LiveViewHandle) -> None:
        gap = 1.0 / self.rate
        while not self._stop.is_set():
            await view.click("inc")
            self.events += 1
            await asyncio.sleep(gap)

    async def _create(self, run_id: str) -> None:
        try:
            await self.hosting.call(CreateRun("chain", _seed(run_id), run_id, tenant="noisy"))
        except OverBudget:
            self.runs_refused += 1
        else:
            self.created.append(run_id)

    async def _runs(self) -> None:
        gap, creates = 1.0 / NOISY_RUN_RATE, []
        while not self._stop.is_set():
            self.runs += 1
            cap = "capped" if self.capped else "uncapped"  # a run id holds no "/"
            run_id = f"noisy-{self.rate:g}-{cap}-{self.round}-{self.runs}"
            creates.append(asyncio.ensure_future(self._create(run_id)))
            await asyncio.sleep(gap)
        await asyncio.gather(*creates)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Flood]:
        tasks = [asyncio.ensure_future(self._clicks(v)) for v in self.views]
        if self.with_runs:
            tasks.append(asyncio.ensure_future(self._runs()))
        await asyncio.sleep(0.5)  # let it reach its steady state
        try:
            yield self
        finally:
            self._stop.set()
            # A create that failed for anything but its budget is the bench's bug (a bad
            # run id made the noisy tenant create nothing once): not swallowed.
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    raise result

    @property
    def level(self) -> str:
        # At most 18 characters: a row's label is 44 (bench/__main__ reads them back).
        if not self.with_runs:
            return f"no runs, {self.rate:g}/s/sess"
        return ("noisy " if self.capped else "uncapped ") + f"{self.rate:g}/s/sess"

    @property
    def events_refused(self) -> int:
        return sum(len(v.over_budget) for v in self.views) - self.refused_before


async def _bench(root: Path) -> None:
    async with ActorSystem("bench-tenants") as system:
        ledger = TenantLedger(BUDGETS, clock=system.clock)
        hosting = RunsHosting(_config(root), mcp=False, tenants=ledger)
        await hosting.start(system)
        hub = LiveHub(system, {"counter": Counter()}, secret=SECRET, tenants=ledger)
        await hub.start()
        try:
            quiet_view = await _browser(system, hub, "quiet").mount("counter")
            await _quiet(quiet_view, hosting, "warm-up", Quiet())  # not counted
            noisy = _browser(system, hub, "noisy")
            views = [await noisy.mount("counter") for _ in range(NOISY_SESSIONS)]
            for rate, with_runs, capped in LEVELS:
                noisy_budgets = BUDGETS.tenants["noisy"] if capped else UNCAPPED
                ledger.reconfigure(TenantsConfig(tenants={"noisy": noisy_budgets}))
                tag = f"{rate:g}{with_runs}{capped}"
                alone, flooded, floods = Quiet(), Quiet(), []
                before = _throttled(ledger)
                seconds = 0.0
                for n in range(ROUNDS):
                    await _quiet(quiet_view, hosting, f"alone{tag}-{n}", alone)
                    flood = Flood(views, hosting, rate, n, with_runs, capped)
                    started = time.perf_counter()
                    async with flood.running():
                        await _quiet(quiet_view, hosting, f"flood{tag}-{n}", flooded)
                    seconds += time.perf_counter() - started
                    floods.append(flood)
                    for run_id in flood.created:  # the next round starts from no noisy run
                        await hosting.call(AwaitSettled(run_id))
                after = _throttled(ledger)
                used = tuple(a - b for a, b in zip(after, before, strict=True))
                _report(alone, flooded, floods, used[0], seconds, steps=used[1:])
                runs = root / "state" / "runs"
                _report_phases(
                    floods[0].level, _phases(runs, flooded.ids), _phases(runs, alone.ids)
                )
        finally:
            await hub.stop()
            await hosting.stop()


PHASES = ("start", "commit", "answer")
"""A quiet run's time between the records its files stamp (ms, the system clock): its
actor's start to its step submitted (created -> step.submitted: the host's start_child,
the run's first look-up and turn), the commit (-> cortex.request.committed: the CortexFS
client), the answer (-> cortex.response.observed: the substrate's intake, the provider's
queue and call, the answer lane). (Its outcome, step.succeeded, is stamped in the same
millisecond as the answer.)"""


def _phases(runs: Path, ids: list[str]) -> dict[str, list[float]]:
    """Each phase of `PHASES` of each run of `ids` (seconds; a run missing a record is
    left out of that phase)."""
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    events = msgspec.json.Decoder(RunEvent)
    records = msgspec.json.Decoder(TraceRecord)
    for run_id in ids:
        stamps: dict[str, int] = {}
        folder = runs / run_id
        for line in (folder / "events.jsonl").read_bytes().splitlines():
            event = events.decode(line)
            if isinstance(event, RunCreated):
                stamps["created"] = event.ts_ms
            elif isinstance(event, StepSubmitted):
                stamps["submitted"] = event.ts_ms
        trace = folder / "trace.jsonl"
        for line in trace.read_bytes().splitlines() if trace.exists() else []:
            record = records.decode(line)
            if isinstance(record, RequestCommitted):
                stamps["committed"] = record.ts_ms
            elif isinstance(record, ResponseObserved):
                stamps["observed"] = record.ts_ms
        order = ("created", "submitted", "committed", "observed")
        for phase, (start, end) in zip(PHASES, itertools.pairwise(order), strict=True):
            if start in stamps and end in stamps:
                phases[phase].append((stamps[end] - stamps[start]) / 1e3)
    return phases


def _throttled(ledger: TenantLedger) -> tuple[int, int, int]:
    """The noisy tenant's held provider calls and step waits, its steps, and of those
    the steps held for their turn."""
    for usage in ledger.usage():
        if usage.tenant == "noisy":
            return usage.throttled, usage.steps, usage.steps_held
    return 0, 0, 0


def _report(
    alone: Quiet,
    flooded: Quiet,
    floods: list[Flood],
    throttled: int,
    seconds: float,
    steps: tuple[int, ...] = (0, 0),
) -> None:
    rate, sessions, level = floods[0].rate, len(floods[0].views), floods[0].level
    for p in (50, 99):
        row(
            f"quiet event->patch p{p}, {level}",
            percentile(flooded.events, p) * 1e6,
            "us",
            percentile(alone.events, p) * 1e6,
            "alone",
        )
    for p in (50, 99):
        row(
            f"quiet run latency p{p}, {level}",
            percentile(flooded.runs, p) * 1e3,
            "ms",
            percentile(alone.runs, p) * 1e3,
            "alone",
        )
    for part, flooded_part, alone_part in (
        ("create", flooded.creates, alone.creates),
        ("drive", flooded.drives, alone.drives),
    ):
        row(
            f"  {part} p99, {level}",
            percentile(flooded_part, 99) * 1e3,
            "ms",
            percentile(alone_part, 99) * 1e3,
            "alone",
        )
    events = sum(f.events for f in floods)
    runs = sum(f.runs for f in floods)
    # A unit of its own: a row without one is not read back by `--runs N`'s summary.
    row(f"quiet refused (target 0), {level}", alone.refused + flooded.refused, "refusals")
    offered = rate * sessions
    row(f"noisy events offered/s, {level}", offered, "/s")
    row(f"  read by the server/s, {level}", events / seconds, "/s", offered, "offered")
    refused = sum(f.events_refused for f in floods)
    row(f"  refused (over_budget), {level}", refused, "events", events, "read")
    row(f"noisy runs offered/s, {level}", runs / seconds, "/s")
    refused_runs = sum(f.runs_refused for f in floods)
    row(f"  refused (429), {level}", refused_runs, "runs", runs, "offered")
    row(f"noisy calls/steps held, {level}", throttled, "times")
    row(f"noisy steps/s, {level}", steps[0] / seconds, "/s", NOISY_STEPS_PER_S, "budget")
    row(f"  held for their turn, {level}", steps[1], "steps", steps[0], "dispatched")


def _report_phases(
    level: str, flooded: dict[str, list[float]], alone: dict[str, list[float]]
) -> None:
    for phase in PHASES:
        if flooded[phase] and alone[phase]:
            row(
                f"  {phase} p99, {level}",
                percentile(flooded[phase], 99) * 1e3,
                "ms",
                percentile(alone[phase], 99) * 1e3,
                "alone",
            )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tenants-") as folder:
        asyncio.run(_bench(Path(folder)))


if __name__ == "__main__":
    main()
