"""Run `exclaim10` against this asset folder: no runs config, no provider file.

The whole workload is `nodes/exclaim.py` (15 lines: the node's types, its code, and the
provider of its tool) and `workflows/exclaim10.py` (26 lines): 41 lines. Run it::

    uv run --frozen python examples/nodes/run.py    # prints {"text":"go!!!!!!!!!!"}
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from lightflow_actors import ActorSystem
from lightflow_actors.host import CtxConfig, RunsConfig, RunsHosting
from lightflow_actors.runs import AwaitSettled, CreateRun

HERE = Path(__file__).resolve().parent


async def main(state: Path) -> str:
    config = RunsConfig(
        state_dir=str(state), assets=str(HERE), ctx=CtxConfig(root=str(state / "ctx"))
    )
    hosting = RunsHosting(config, environ={})
    async with ActorSystem() as system:
        await hosting.start(system)
        try:
            await hosting.call(CreateRun("exclaim10", b"{}", "demo"))
            view = await hosting.call(AwaitSettled("demo"))
        finally:
            await hosting.stop()
    if view.status != "succeeded":
        raise SystemExit(f"run {view.status}: {[s.error for s in view.steps if s.error]}")
    return (state / "runs" / "demo" / "outputs" / "s10.json").read_text()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        sys.stdout.write(asyncio.run(main(Path(tmp))) + "\n")
