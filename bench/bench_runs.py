"""Runs hosting benchmark (#8): creating runs, driving a 10-step DAG, the run actor's price.

Figures, each beside a baseline measured in the same run (temp folder, embedded directory
substrate, a no-op Python provider):
- runs created per second through the runs host (ask → worker thread → resolve + durable
  create) against `RunsOperations.create` called directly in a loop;
- runs driven to `succeeded` per second (100 one-step runs at once) against 100 concurrent
  request/answer exchanges through the CortexFS client without a run actor;
- end-to-end latency of a 10-step chain (create → succeeded), with the in-process
  shortcut (ADR 0100, the default), journaled exchanges (ADR 0122, the default) and
  pipelined commits (ADR 0117, the default), with the exchanges on files handed to the
  substrate ("files", ADR 0117's path), with
  the shortcut but each flush waiting for its group before the next request
  ("unpipelined"), and with every exchange on the file watches (`ctx.shortcut: false`),
  each against calling the provider function directly ten times in a loop and against
  the same chain in DBOS 3 on SQLite (`bench_durable._dbos`, run first in this
  process); and, for scale, ten request/answer exchanges committed one after another
  through the CortexFS client without a run actor;
- the evaluator's miss (new inputs, as every chain here has): a warm worker (ADR 0110)
  against a fresh forked child per resolution (`warm_workers: 0`), the same assets;
- fsyncs of one run creation through the host (journaled, ADR 0110) against a direct
  `RunsOperations.create` (the CLI's store);
- where a step of that chain spends its time, in both modes: inside fsync(2) (counted by
  what each makes durable: run journal, ctx request, ctx answer, audit, run creation,
  folders) and rename(2) (counted and timed by wrapping `os.fsync`/`os.fdatasync`/
  `os.rename`/`os.replace` in this process, whose threads do all the writing), the
  provider, and the rest (actor and thread hops, JSON, the store's Python and, watched,
  the watchers noticing files), each beside the step's total, and the step beside one
  DBOS step (its chain / 10) and one direct provider call; and what one actor hop (an ask
  round trip) costs, to size the rest.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from string import Template
from typing import Any, TypeVar

import msgspec

from bench._report import row
from ctx_substrate import ProviderRequest, Stats, Substrate
from lightflow_actors import ActorSystem
from lightflow_actors.adapters.cortex import CortexClient
from lightflow_actors.cortex import Call, CtxLayout, ResponseObserved, Suffix
from lightflow_actors.flow import (
    AssetCatalog,
    AssetEvaluator,
    EvaluationLimits,
    RunActor,
    _journal,
)
from lightflow_actors.host import (
    CONFIG_ENV,
    RunsConfig,
    RunsHosting,
    RunsSettings,
    decode_runs_config,
    echo_reply,
)
from lightflow_actors.kernel._actor import ActorClassInfo
from lightflow_actors.runs import AwaitSettled, CreateRun, RunsOperations

T = TypeVar("T")

SECONDS = 1.0
CHAIN_RUNS = 8

_MODEL = Template("""
from lightflow_actors.flow import Model
METADATA = {"id": "$model", "title": "$model", "kind": "model", "description": "bench",
            "stability": "stable"}
DEFINITION = Model(provider="$model", name="$model", formats=("openai.chat",))
""")
_CHAIN = Template("""
import msgspec
from lightflow_actors.flow import ApiStep, ChatPrompt, Workflow
METADATA = {"id": "$id", "title": "Chain", "kind": "workflow", "description": "bench",
            "stability": "stable"}
class Inputs(msgspec.Struct, frozen=True):
    seed: str = "x"
def step(n):
    src = "{inputs.seed}" if n == 1 else f"{{steps.s{n - 1}.output.text}}"
    return ApiStep(id=f"s{n}", format="openai.chat", model="$model",
                   prompt=ChatPrompt(user=f"{n} {src}"), depends_on=[] if n == 1 else [f"s{n - 1}"])
DEFINITION = Workflow(inputs=Inputs, steps=[step(n) for n in range(1, $steps + 1)])
""")
MODEL = _MODEL.substitute(model="noop")
CHAIN = _CHAIN.substitute(id="chain", model="noop", steps=10)


def write_chain_assets(assets: Path, model: str) -> None:
    """The benches' assets under `assets`: the model `model` (its provider has the same
    name), `chain` (ten steps calling it, each on the previous one's output) and `one`
    (its first step alone)."""
    (assets / "models").mkdir(parents=True)
    (assets / "workflows").mkdir()
    (assets / "models" / f"{model}.py").write_text(_MODEL.substitute(model=model))
    for workflow, steps in (("chain", 10), ("one", 1)):
        source = _CHAIN.substitute(id=workflow, model=model, steps=steps)
        (assets / "workflows" / f"{workflow}.py").write_text(source)


def noop(request: ProviderRequest) -> object:
    """The benchmark's provider: answers at once (its cost is the baseline's)."""
    return echo_reply(request, "{user}", "noop")


def _seed(run_id: str) -> bytes:
    """Inputs of their own for each run: the same inputs would make every run after the
    first reuse the first one's outputs (the output cache) and send no request at all."""
    return b'{"seed": "%s"}' % run_id.encode()


def _config(root: Path, *, shortcut: bool = True) -> RunsConfig:
    assets = root / "assets"
    write_chain_assets(assets, "noop")
    document = (
        f'{{"state_dir": "{root / "state"}", "assets": "{assets}", "providers": '
        f'[{{"kind": "python", "name": "noop", "target": "{Path(__file__).resolve()}:noop"}}], '
        f'"ctx": {{"shortcut": {"true" if shortcut else "false"}}}}}'
    )
    return decode_runs_config(document.encode())


async def _create_rates(hosting: RunsHosting) -> tuple[float, float]:
    """Creates of one workflow and inputs (resolved once, then from the evaluator's
    cache), after a first one that starts the evaluator's fork server (about 1 s)."""
    await hosting.call(CreateRun("chain", b"{}", "h-warm", start=False))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        await hosting.call(CreateRun("chain", b"{}", f"h{count}", start=False))
        count += 1
    hosted = count / (time.perf_counter() - start)
    ops = RunsOperations(hosting.settings, hosting.system.clock, random.Random(1))
    ops.create("chain", b"{}", "d-warm")  # its own evaluator starts here
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        ops.create("chain", b"{}", f"d{count}")
        count += 1
    return hosted, count / (time.perf_counter() - start)


async def _chain_latency(hosting: RunsHosting) -> tuple[float, float]:
    """Medians of a chain end to end (create → succeeded) and of its creation alone (the
    `CreateRun` ask: resolving new inputs in the evaluator child, the durable create)."""
    samples, creates = [], []
    for n in range(CHAIN_RUNS):
        start = time.perf_counter()
        await hosting.call(CreateRun("chain", _seed(f"c{n}"), f"c{n}"))
        creates.append(time.perf_counter() - start)
        view = await hosting.call(AwaitSettled(f"c{n}"))
        samples.append(time.perf_counter() - start)
        assert view.status == "succeeded", view
    return statistics.median(samples), statistics.median(creates)


async def _exchange_latency(hosting: RunsHosting, client_name: str) -> float:
    """Ten sequential commit → answer exchanges through the CortexFS client (no run actor)."""
    client = hosting.system.lookup(client_name, CortexClient)
    samples = []
    for n in range(CHAIN_RUNS):
        start = time.perf_counter()
        for step in range(10):
            body = {"model": "noop", "messages": [{"role": "user", "content": f"{step}"}]}
            outcome = await client.ask(Call("api", "openai.chat", f"x{n}-{step}", body))
            assert isinstance(outcome, ResponseObserved)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def _completed_rates(
    hosting: RunsHosting, client_name: str, runs: int = 100
) -> tuple[float, float]:
    start = time.perf_counter()
    for n in range(runs):
        await hosting.call(CreateRun("one", _seed(f"o{n}"), f"o{n}"))
    views = await asyncio.gather(*(hosting.call(AwaitSettled(f"o{n}")) for n in range(runs)))
    assert all(v.status == "succeeded" for v in views)
    driven = runs / (time.perf_counter() - start)
    client = hosting.system.lookup(client_name, CortexClient)
    start = time.perf_counter()
    body = {"model": "noop", "messages": [{"role": "user", "content": "x"}]}
    calls = [
        client.ask(Call("api", "openai.chat", f"p{n}", body), timeout=None) for n in range(runs)
    ]
    await asyncio.gather(*calls)
    return driven, runs / (time.perf_counter() - start)


class _Syscalls:
    """Counts and times the calls of some `os` functions while installed (all threads);
    fsyncs are also counted by what they make durable (`_FSYNC_KINDS`)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.count = dict.fromkeys(names, 0)
        self.seconds = dict.fromkeys(names, 0.0)
        self.synced: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[None]:
        # `renameat2`: the journal's own call (`_journal.swap_in`, through ctypes), not `os`'s.
        owners = {name: _journal if name == "renameat2" else os for name in self.names}
        originals = {name: getattr(owners[name], _ATTRIBUTE.get(name, name)) for name in self.names}
        for name, original in originals.items():
            if original is not None:
                setattr(owners[name], _ATTRIBUTE.get(name, name), self._timed(name, original))
        try:
            yield
        finally:
            for name, original in originals.items():
                setattr(owners[name], _ATTRIBUTE.get(name, name), original)

    def _timed(self, name: str, original: Callable[..., object]) -> Callable[..., object]:
        syncs = name in ("fsync", "fdatasync")

        def timed(*args: object, **kwargs: object) -> object:
            kind = _fsync_kind(args[0]) if syncs and isinstance(args[0], int) else None
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                with self._lock:
                    self.count[name] += 1
                    self.seconds[name] += spent
                    if kind is not None:
                        self.synced[kind] = self.synced.get(kind, 0) + 1

        return timed


_ATTRIBUTE = {"renameat2": "_renameat2"}

_FSYNC_KINDS = (
    ("/wal/", "run journal"),
    ("/audit/", "ctx audit"),
    ("/inbox/", "ctx request"),
    ("/outbox/", "ctx answer"),
    ("/staging/", "run creation"),
    ("/runs/", "run files"),
)


def _fsync_kind(fd: int) -> str:
    try:
        path = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "other"
    if os.path.isdir(path):
        return "folders"
    return next((kind for part, kind in _FSYNC_KINDS if part in path), "other")


def _evaluator_misses(assets: Path, rounds: int = 30) -> tuple[float, float]:
    """Medians of a miss (new inputs each time) resolved by a warm worker and by a fresh
    child per resolution, taken in alternation (the same load for both)."""
    catalog = AssetCatalog.scan(assets)
    warm, cold = AssetEvaluator(), AssetEvaluator(EvaluationLimits(warm_workers=0))
    try:
        for evaluator in (warm, cold):  # fork servers started, the worker made warm
            evaluator.resolve(catalog, "chain", _seed("eval-warm-up"))
        samples: dict[int, list[float]] = {id(warm): [], id(cold): []}
        for n in range(rounds):
            for evaluator in (warm, cold):
                start = time.perf_counter()
                evaluator.resolve(catalog, "chain", _seed(f"eval{n}-{id(evaluator)}"))
                samples[id(evaluator)].append(time.perf_counter() - start)
        assert warm.warm_resolutions == rounds and cold.warm_resolutions == 0
    finally:
        warm.close()
        cold.close()
    return statistics.median(samples[id(warm)]), statistics.median(samples[id(cold)])


async def _creation_fsyncs(hosting: RunsHosting) -> tuple[float, float]:
    """fsyncs of one run creation: through the host (group commit, journaled) and through
    a direct `RunsOperations.create` (the CLI's store), averaged over a few."""
    calls = _Syscalls(("fsync", "fdatasync"))
    ops = RunsOperations(hosting.settings, hosting.system.clock, random.Random(2))
    ops.create("chain", _seed("fs-warm"), "fs-direct-warm")
    rounds = 5
    with calls.installed():
        for n in range(rounds):
            await hosting.call(CreateRun("chain", _seed(f"fs{n}"), f"fs{n}", start=False))
        hosted = calls.count["fsync"] + calls.count["fdatasync"]
        for n in range(rounds):
            ops.create("chain", _seed(f"fs{n}"), f"fs-direct{n}")
        direct = calls.count["fsync"] + calls.count["fdatasync"] - hosted
    ops.close()
    return hosted / rounds, direct / rounds


class _Hops:
    """While installed: worker-thread hand-offs (`run_blocking`: how many, and the time
    from the call to the function starting on its thread plus from its end to the caller
    resuming), the loop time of the handlers that react to file watches (the substrate's
    `committed`, the client's `seen` and `tick`), and the messages run actors handled
    (counted as each stops; the other actors' from the system's snapshots)."""

    def __init__(self) -> None:
        self.blocking = 0
        self.blocking_wait_s = 0.0
        # Of those, the pipelined journal waits (ADR 0117): off the step's path.
        self.journal_waits = 0
        self.journal_wait_s = 0.0
        self.watch_s = 0.0
        self.run_messages = 0

    @contextmanager
    def installed(self) -> Iterator[None]:
        hops = self
        run_blocking = ActorSystem._run_blocking

        async def timed_blocking(system: ActorSystem, fn: Callable[..., T], *args: object) -> T:
            called = time.perf_counter()
            started: list[float] = []

            def stamped() -> T:
                started.append(time.perf_counter())
                try:
                    return fn(*args)
                finally:
                    started.append(time.perf_counter())

            result = await run_blocking(system, stamped)
            resumed = time.perf_counter()
            waited = (started[0] - called) + (resumed - started[-1])
            inner = getattr(fn, "func", fn)
            if getattr(inner, "__qualname__", "") == "QueuedCommit.wait":
                hops.journal_waits += 1
                hops.journal_wait_s += waited
            else:
                hops.blocking += 1
                hops.blocking_wait_s += waited
            return result

        patched: list[tuple[type, str, object]] = [(ActorSystem, "_run_blocking", run_blocking)]
        ActorSystem._run_blocking = timed_blocking  # type: ignore[method-assign,assignment]
        # Handlers are dispatched from a table built on first use: patch its rows.
        rows: list[tuple[Any, Any, Any]] = []
        for cls, name in ((Substrate, "committed"), (CortexClient, "seen"), (CortexClient, "tick")):
            original = cls.__dict__[name]
            for entry in set(ActorClassInfo.of(cls).handlers.values()):
                if entry.fn is original:
                    rows.append((entry, entry.fn, entry.call))
                    entry.fn = self._timed_handler(original)
                    if entry.call is not None:
                        entry.call = entry.fn
        stop = RunActor.on_stop
        patched.append((RunActor, "on_stop", stop))

        def counted_stop(actor: RunActor, reason: Any) -> None:
            hops.run_messages += actor.system.info(actor.ref).processed
            stop(actor, reason)

        RunActor.on_stop = counted_stop  # type: ignore[method-assign]
        try:
            yield
        finally:
            for cls, name, original in patched:
                setattr(cls, name, original)
            for entry, fn, call in rows:
                entry.fn, entry.call = fn, call

    def _timed_handler(self, fn: Callable[[object, object], object]) -> Any:
        hops = self

        def timed(actor: object, msg: object) -> object:
            start = time.perf_counter()
            try:
                return fn(actor, msg)
            finally:
                hops.watch_s += time.perf_counter() - start

        return timed


def _processed(hosting: RunsHosting) -> int:
    return sum(info.processed for info in hosting.system.actors())


async def _chain_split(
    hosting: RunsHosting, provider_s: float, label: str, dbos_chain_s: float | None
) -> None:
    """Where a step of the 10-step chain goes: fsync (by what it makes durable), rename,
    provider, the watchers' handlers, worker-thread hand-offs, actor messages, and the
    rest (JSON, the store's and the program's Python, scheduling)."""
    calls = _Syscalls(("fsync", "fdatasync", "rename", "replace", "renameat2"))
    hops = _Hops()
    runs = CHAIN_RUNS
    processed = _processed(hosting)
    with calls.installed(), hops.installed():
        start = time.perf_counter()
        for n in range(runs):
            await hosting.call(CreateRun("chain", _seed(f"split{n}"), f"split{n}"))
            view = await hosting.call(AwaitSettled(f"split{n}"))
            assert view.status == "succeeded", view
        total = time.perf_counter() - start
    steps = runs * 10
    per_step = total / steps
    syncs = calls.count["fsync"] + calls.count["fdatasync"]
    sync_s = (calls.seconds["fsync"] + calls.seconds["fdatasync"]) / steps
    # renameat2: a new file's one call, an existing one's exchange (ADR 0132).
    renames = calls.count["rename"] + calls.count["replace"] + calls.count["renameat2"]
    rename_s = sum(calls.seconds[n] for n in ("rename", "replace", "renameat2")) / steps
    provider = provider_s / 10
    rest = max(0.0, per_step - sync_s - rename_s - provider)
    # Labels differ by mode and hold no measured number: `--runs N` groups rows by label.
    row(f"chain step, {label} (mean, with creation)", per_step * 1e6, "us")
    if dbos_chain_s is not None:
        row(f"chain step, {label} (mean, with creation)", per_step * 1e6, "us",
            dbos_chain_s / 10 * 1e6, "DBOS step")  # fmt: skip
    row(f"chain step, {label} (mean, with creation)", per_step * 1e6, "us",
        provider_s / 10 * 1e6, "provider call direct")  # fmt: skip
    row(f"  {label}: in fsync", sync_s * 1e6, "us", per_step * 1e6, "step")
    kinds = ", ".join(f"{kind} {count / steps:.1f}" for kind, count in sorted(calls.synced.items()))
    print(f"    fsyncs per step: {syncs / steps:.1f} ({kinds})", flush=True)
    row(f"  {label}: in rename", rename_s * 1e6, "us", per_step * 1e6, "step")
    print(f"    renames per step: {renames / steps:.1f}", flush=True)
    row(f"  {label}: provider", provider * 1e6, "us", per_step * 1e6, "step")
    json_s = _json_per_step(hosting, f"split{runs - 1}")
    row(f"  {label}: JSON of a step's files, alone", json_s * 1e6, "us", per_step * 1e6,
        "step")  # fmt: skip
    rest = max(0.0, rest - json_s)
    watch = hops.watch_s / steps
    row(f"  {label}: watchers' handlers", watch * 1e6, "us", per_step * 1e6, "step")
    handoffs = hops.blocking_wait_s / steps
    row(f"  {label}: thread hand-offs", handoffs * 1e6, "us", per_step * 1e6, "step")
    print(f"    worker-thread calls per step: {hops.blocking / steps:.1f}", flush=True)
    # Pipelined journal waits (ADR 0117) overlap the next exchange: beside the step, not
    # in its sum (summed over threads, they can exceed it).
    waits = hops.journal_wait_s / steps
    row(f"  {label}: journal waits' hand-offs (off the path)", waits * 1e6, "us",
        per_step * 1e6, "step")  # fmt: skip
    print(f"    journal waits per step: {hops.journal_waits / steps:.1f}", flush=True)
    messages = (_processed(hosting) - processed + hops.run_messages) / steps
    hop = await _hop_cost(hosting) / 2  # an ask round trip is two messages
    row(f"  {label}: actor messages", messages * hop * 1e6, "us", per_step * 1e6, "step")
    print(f"    messages per step: {messages:.1f}, {hop * 1e6:.1f} us each", flush=True)
    rest = max(0.0, rest - watch - handoffs - messages * hop)
    row(f"  {label}: the rest (Python, scheduling)", rest * 1e6, "us", per_step * 1e6, "step")


def _json_per_step(hosting: RunsHosting, run_id: str) -> float:
    """Decoding and encoding again, once each, what one step of `run_id` reads or writes
    as JSON: the manifest (rewritten per transition, twice a step), its event and trace
    lines, its output, and its exchange's request, response and route files."""
    run = hosting.settings.state_dir / "runs" / run_id
    manifest = (run / "manifest.json").read_bytes()
    lines = (run / "events.jsonl").read_bytes().splitlines()[1:3]
    lines += (run / "trace.jsonl").read_bytes().splitlines()[:2]
    output = (run / "outputs" / "s5.json").read_bytes()
    committed = msgspec.json.decode((run / "trace.jsonl").read_bytes().splitlines()[0])
    request_id = committed["request_id"]
    inbox = Path(committed["path"]).parent
    outbox = inbox.parent / "outbox"
    exchange = [
        CtxLayout.file(inbox, request_id, Suffix.DONE).read_bytes(),
        CtxLayout.file(outbox, request_id, Suffix.RESPONSE).read_bytes(),
        CtxLayout.file(outbox, request_id, Suffix.ROUTE).read_bytes(),
    ]
    documents = [manifest, manifest, *lines, output, *exchange]
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        for document in documents:
            msgspec.json.encode(msgspec.json.decode(document))
    return (time.perf_counter() - start) / rounds


async def _hop_cost(hosting: RunsHosting) -> float:
    """One ask round trip to a live actor of the subtree (what an actor hop costs here)."""
    ref = hosting.system.whereis(hosting.names.substrate)
    assert ref is not None
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        await ref.ask(Stats())
    return (time.perf_counter() - start) / rounds


def _direct_provider_latency() -> float:
    raw = b'{"model": "noop", "messages": [{"role": "user", "content": "x"}]}'
    request = ProviderRequest("api", "openai.chat", "0", "r", {"model": "noop"}, raw)
    start = time.perf_counter()
    for _ in range(1000):
        for _ in range(10):
            noop(request)
    return (time.perf_counter() - start) / 1000


@contextmanager
def _pipelined(on: bool) -> Iterator[None]:
    """Run actors with pipelined commits (ADR 0117, the default) or, `on=False`, each
    flush waiting for its group before the next request (the baseline)."""
    if on:
        yield
        return
    original = RunActor.__init__

    def init(self: RunActor, *args: Any, **kwargs: Any) -> None:
        kwargs["pipeline"] = False
        original(self, *args, **kwargs)

    RunActor.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        RunActor.__init__ = original  # type: ignore[method-assign]


@asynccontextmanager
async def _async_pipelined(on: bool) -> AsyncIterator[None]:
    with _pipelined(on):
        yield


@asynccontextmanager
async def _async_journaled(on: bool) -> AsyncIterator[None]:
    """Journaled exchanges (ADR 0122, the default) or, `on=False`, every in-process
    exchange on files handed to the substrate (ADR 0100/0117, the baseline "files")."""
    if on:
        yield
        return
    original = RunsSettings.routed_on_loop
    RunsSettings.routed_on_loop = lambda self, kind, name: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        RunsSettings.routed_on_loop = original  # type: ignore[method-assign]


async def _bench(root: Path, dbos_chain_s: float | None) -> None:
    provider = _direct_provider_latency()
    chains: dict[str, float] = {}
    modes = (
        ("shortcut", True, True, True),
        ("files", True, True, False),
        ("unpipelined", True, False, True),
        ("watched", False, True, True),
    )
    for label, shortcut, pipelined, journaled in modes:
        config = _config(root / label, shortcut=shortcut)
        hosting = RunsHosting(config, environ={}, mcp=False, resume=False)
        async with (
            ActorSystem("bench-runs") as system,
            _async_pipelined(pipelined),
            _async_journaled(journaled),
        ):
            await hosting.start(system)
            if label == "shortcut":
                hosted, direct = await _create_rates(hosting)
                row("runs created (host ask, durable)", hosted, "runs/s", direct, "direct create")
                driven, exchanges = await _completed_rates(hosting, hosting.names.cortex)
                row("1-step runs driven to success", driven, "runs/s", exchanges, "bare exchanges")
                hosted_syncs, direct_syncs = await _creation_fsyncs(hosting)
                print(f"{'fsyncs per run creation (host, journaled)':<44} {hosted_syncs:>14.1f}"
                      f"   | direct create (CLI): {direct_syncs:.1f}", flush=True)  # fmt: skip
                warm, cold = _evaluator_misses(hosting.settings.assets)
                row("evaluator miss, warm worker (median)", warm * 1e6, "us", cold * 1e6,
                    "fresh child")  # fmt: skip
            chain, create = await _chain_latency(hosting)
            chains[label] = chain
            row(f"10-step chain, {label} (median)", chain * 1e6, "us", provider * 1e6,
                "provider 10x direct")  # fmt: skip
            if dbos_chain_s is not None:
                row(f"10-step chain, {label} (median)", chain * 1e6, "us", dbos_chain_s * 1e6,
                    "DBOS/SQLite")  # fmt: skip
            row(f"  {label}: of which the create ask", create * 1e6, "us", chain * 1e6,
                "chain")  # fmt: skip
            await _chain_split(hosting, provider, label, dbos_chain_s)
            if label == "shortcut":
                row("actor hop (one ask round trip)", await _hop_cost(hosting) * 1e6, "us")
                exchange = await _exchange_latency(hosting, hosting.names.cortex)
                row("10 sequential bare exchanges (median)", exchange * 1e6, "us",
                    provider * 1e6, "provider 10x direct")  # fmt: skip
            await hosting.stop()
    for baseline in ("files", "unpipelined", "watched"):
        row("10-step chain, shortcut (median)", chains["shortcut"] * 1e6, "us",
            chains[baseline] * 1e6, baseline)  # fmt: skip


_CLI_COUNTER = """
import json, os, sys, threading
from contextlib import redirect_stdout
from bench.bench_runs import _fsync_kind
counts, lock = {}, threading.Lock()
def counted(real):
    def sync(fd):
        kind = _fsync_kind(fd)
        with lock:
            counts[kind] = counts.get(kind, 0) + 1
        return real(fd)
    return sync
os.fsync, os.fdatasync = counted(os.fsync), counted(os.fdatasync)
from lightflow_actors.cli import main
with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "fsyncs": counts}))
"""


def _cli_create_fsyncs(root: Path) -> tuple[int, dict[str, int]]:
    """fsyncs of the whole `lightflow run create chain` process (the 10-step chain driven
    by the CLI's own host, its store checkpointed at exit), counted in that process by
    what each makes durable; after a first create that sets the state folder up."""
    assets = root / "assets"
    write_chain_assets(assets, "noop")
    config = root / "runs.json"
    config.write_bytes(
        msgspec.json.encode(
            {
                "state_dir": str(root / "state"),
                "assets": str(assets),
                "providers": [
                    {"kind": "python", "name": "noop", "target": f"{Path(__file__).resolve()}:noop"}
                ],
            }
        )
    )
    environ = {**os.environ, CONFIG_ENV: str(config)}
    outcome: dict[str, Any] = {}
    for run_id in ("cli-warm", "cli"):
        argv = ["run", "create", "chain", "--id", run_id, "--inputs", f'{{"seed": "{run_id}"}}']
        done = subprocess.run(
            [sys.executable, "-c", _CLI_COUNTER, *argv],
            env=environ,
            capture_output=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        outcome = msgspec.json.decode(done.stdout.splitlines()[-1])
        assert outcome["code"] == 0, done.stderr
    kinds: dict[str, int] = outcome["fsyncs"]
    return sum(kinds.values()), kinds


PAIRS = 12


async def _paired(root: Path) -> tuple[list[float], list[float]]:
    """The journaled exchange against ADR 0117's handed-off files, A/B: two hosts (their
    own state folders, systems and substrates) on one loop, their chains run alternately,
    `PAIRS` each, so both see the same load; returns both modes' chain times in order."""
    journaled, files = [], []
    async with AsyncExitStack() as stack:
        hosts = []
        for label, on in (("ab-journaled", True), ("ab-files", False)):
            hosting = RunsHosting(_config(root / label), environ={}, mcp=False, resume=False)
            system = await stack.enter_async_context(ActorSystem(f"bench-{label}"))
            async with _async_journaled(on):  # the host's shortcut is built at its start
                await hosting.start(system)
            stack.push_async_callback(hosting.stop)
            hosts.append(hosting)
        for n in range(PAIRS + 1):  # the first pair warms both up
            for hosting, samples in zip(hosts, (journaled, files), strict=True):
                start = time.perf_counter()
                await hosting.call(CreateRun("chain", _seed(f"ab{n}"), f"ab{n}"))
                view = await hosting.call(AwaitSettled(f"ab{n}"))
                assert view.status == "succeeded", view
                if n:
                    samples.append(time.perf_counter() - start)
    return journaled, files


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        (Path(tmp) / "cli").mkdir()
        total, kinds = _cli_create_fsyncs(Path(tmp) / "cli")
        shown = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        print(f"{'fsyncs of `lightflow run create` (10 steps)':<44} {total:>14}"
              f"   | per step: {total / 10:.1f} ({shown})", flush=True)  # fmt: skip
        dbos_chain: float | None = None
        try:
            from bench.bench_durable import _dbos  # imports this module: not at the top
        except ImportError as exc:  # a dev dependency: absent in a runtime-only install
            print(f"DBOS baseline skipped: {exc}")
        else:
            (Path(tmp) / "dbos").mkdir()
            dbos_chain, _ = _dbos(Path(tmp) / "dbos")
            row("DBOS/SQLite 10-step chain (median)", dbos_chain * 1e6, "us")
        asyncio.run(_bench(Path(tmp), dbos_chain))
        journaled, files = asyncio.run(_paired(Path(tmp)))
        ratios = sorted(j / f for j, f in zip(journaled, files, strict=True))
        row("10-step chain, journaled, A/B (median)", statistics.median(journaled) * 1e6, "us",
            statistics.median(files) * 1e6, "files, alternated")  # fmt: skip
        print(f"    paired ratio journaled/files: median {statistics.median(ratios):.2f}x "
              f"({ratios[0]:.2f}-{ratios[-1]:.2f}x, {len(ratios)} pairs)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
