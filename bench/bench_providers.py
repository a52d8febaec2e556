"""Concurrent providers: 20 runs of a 10-step chain whose every step takes 200 ms.

Figures, each beside baselines measured in the same run (temp folder, embedded directory
substrate, the runs host as `lightflow serve` builds it):
- wall time with an `async def` provider (`await asyncio.sleep(0.2)`) at its default
  concurrency, and with a blocking one (`time.sleep(0.2)`, a thread each) at its default;
- the same blocking provider at concurrency 1 (one request at a time: what every Python
  provider did before providers had slots), and at 20 (a slot per run);
- the floor: one chain's own sleeping, 10 x 200 ms.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench._report import row
from bench.bench_runs import CHAIN, MODEL
from ctx_substrate import ProviderRequest
from lightflow_actors import ActorSystem
from lightflow_actors.host import RunsHosting, decode_runs_config, echo_reply
from lightflow_actors.runs import AwaitSettled, CreateRun

RUNS = 20
STEP_S = 0.2


async def slow_async(request: ProviderRequest) -> object:
    await asyncio.sleep(STEP_S)
    return echo_reply(request, "ok", "slow")


def slow_blocking(request: ProviderRequest) -> object:
    time.sleep(STEP_S)
    return echo_reply(request, "ok", "slow")


def _hosting(root: Path, target: str, blocking: bool, concurrency: int | None) -> RunsHosting:
    assets = root / "assets"
    (assets / "models").mkdir(parents=True)
    (assets / "workflows").mkdir()
    (assets / "models" / "noop.py").write_text(MODEL)
    (assets / "workflows" / "chain.py").write_text(CHAIN)
    extra = f', "concurrency": {concurrency}' if concurrency is not None else ""
    document = (
        f'{{"state_dir": "{root / "state"}", "assets": "{assets}", "providers": '
        f'[{{"kind": "python", "name": "noop", "blocking": {str(blocking).lower()}, '
        f'"target": "{Path(__file__).resolve()}:{target}"{extra}}}]}}'
    )
    return RunsHosting(decode_runs_config(document.encode()), environ={}, mcp=False, resume=False)


async def _wall(root: Path, target: str, blocking: bool, concurrency: int | None) -> float:
    hosting = _hosting(root, target, blocking, concurrency)
    async with ActorSystem("bench-providers") as system:
        await hosting.start(system)
        start = time.perf_counter()
        for n in range(RUNS):
            await hosting.call(CreateRun("chain", b"{}", f"c{n}"))
        views = await asyncio.gather(*(hosting.call(AwaitSettled(f"c{n}")) for n in range(RUNS)))
        elapsed = time.perf_counter() - start
        assert all(v.status == "succeeded" for v in views), views
        await hosting.stop()
    return elapsed


def main() -> None:
    floor = 10 * STEP_S
    cases = [
        ("async provider, default concurrency", "slow_async", False, None),
        ("blocking provider, default concurrency", "slow_blocking", True, None),
        ("blocking provider, concurrency 1", "slow_blocking", True, 1),
        ("blocking provider, concurrency 20", "slow_blocking", True, 20),
    ]
    results = []
    for label, target, blocking, concurrency in cases:
        with tempfile.TemporaryDirectory(prefix="bench-providers-") as tmp:
            wall = asyncio.run(_wall(Path(tmp), target, blocking, concurrency))
        results.append(wall)
        row(f"{RUNS} runs x 10 steps of 200 ms: {label}", wall * 1e3, "ms", floor * 1e3, "floor")
    print(
        f"{'speed-up of the default over concurrency 1':<44} {results[2] / results[1]:>14.1f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
