"""A run through the real CortexFS client on a plain folder (real time, real files): the
request files appear where the ABI says, answers written by a provider are picked up."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import msgspec
import pytest

from lightflow_actors.adapters.cortex import CortexClient
from lightflow_actors.cortex import CtxLayout, atomic_write
from lightflow_actors.flow import AssetCatalog, FlowService, RunActor, RunStore, default_assets_root
from lightflow_actors.kernel import ActorSystem

from ._evaluator import SHARED


class Clock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000


async def provider(layout: CtxLayout, served: list[str]) -> None:
    """Answer every committed request of openai.chat and the wordcount tool."""
    boxes = [
        (layout.api_inbox("openai.chat"), layout.api_outbox("openai.chat")),
        (layout.tool_inbox("wordcount"), layout.tool_outbox("wordcount")),
    ]
    while True:
        for inbox, outbox in boxes:
            for request in sorted(inbox.glob("*.req.json")):
                body = msgspec.json.decode(request.read_bytes())
                request_id = request.name.removesuffix(".req.json")
                if "text" in body:
                    answer = {"words": len(body["text"].split()), "lines": 1}
                else:
                    prompt = body["messages"][-1]["content"]
                    answer = {"choices": [{"message": {"content": f"plan for: {prompt}"}}]}
                request.rename(inbox / f"{request_id}.done")
                atomic_write(outbox / f"{request_id}.resp.json", msgspec.json.encode(answer))
                served.append(request_id)
        await asyncio.sleep(0.005)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "workflow,inputs",
    [("text-plan", b'{"topic": "tea"}'), ("word-count", b'{"text": "one two three"}')],
)
async def test_run_through_the_cortex_client(tmp_path: Path, workflow: str, inputs: bytes) -> None:
    layout = CtxLayout(root=str(tmp_path / "ctx"), uid="1000")
    for folder in (
        layout.api_inbox("openai.chat"),
        layout.api_outbox("openai.chat"),
        layout.tool_inbox("wordcount"),
        layout.tool_outbox("wordcount"),
    ):
        folder.mkdir(parents=True)
    service = FlowService(
        AssetCatalog.scan(default_assets_root()),
        RunStore(tmp_path / "state"),
        Clock(),
        random.Random(0),
        SHARED,
    )
    service.create(workflow, inputs, run_id="real")
    served: list[str] = []
    async with ActorSystem() as system:
        answering = asyncio.ensure_future(provider(layout, served))
        try:
            cortex = system.spawn(lambda: CortexClient(layout, watch="poll", poll_interval_s=0.01))
            run = await system.start_actor(
                lambda: RunActor(service.store, "real", cortex, layout=layout)
            )
            await asyncio.wait_for(system.wait_exit(run), timeout=30)
        finally:
            answering.cancel()
    view = service.get("real")
    assert view.status == "succeeded" and len(served) == 1
    step = view.steps[0]
    assert service.store.output("real", step.id) in (
        {"words": 3, "lines": 1},
        {"text": "plan for: Write a plan in 5 steps for: tea"},
    )
    committed, observed = service.trace("real")
    assert committed.path.endswith(f"/inbox/{served[0]}.req.json")  # type: ignore[union-attr]
    assert observed.path.endswith(f"/outbox/{served[0]}.resp.json")
