"""A plain sync provider callable holds the event loop for its whole call (ADR 0122): a
call over `SLOW_CALL_S` is reported once per provider, in the log and as a remark on the
provider's slot in the operator tree, naming the fix (ADR 0135)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from ctx_substrate import ProviderRequest, callable_provider
from ctx_substrate.providers import SLOW_CALL_S, LoopCalls
from lightflow_actors.supervision import system_tree

from .test_concurrency import commit_and_wait

pytestmark = pytest.mark.anyio


def slot_remarks(system: Any, provider: str) -> list[str | None]:
    remarks: list[str | None] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.child_id is not None and node.child_id.startswith(f"{provider} "):
                remarks.append(node.remark)
            walk(node.children)

    walk(system_tree(system).roots)
    return remarks


async def test_a_slow_sync_provider_is_reported_once_in_the_log_and_the_tree(
    start_ctx: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    def slow(request: ProviderRequest) -> object:
        time.sleep(SLOW_CALL_S * 1.5)  # stands in for a model's latency, on the loop
        return {"id": request.id}

    ctx = await start_ctx(providers=[callable_provider("echo", slow)])
    await ctx.until(lambda: slot_remarks(ctx.system, "echo") == [None], "its slot, no remark")
    with caplog.at_level(logging.WARNING, logger="ctx_substrate"):
        await commit_and_wait(ctx, ["a", "b", "c"])
    warned = [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "'echo'" in warned[0] and "blocking=True" in warned[0]
    [remark] = slot_remarks(ctx.system, "echo")
    assert remark is not None
    assert "3 call(s) over 100 ms" in remark and "blocking=True or async def" in remark


def test_calls_under_the_threshold_are_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    calls = LoopCalls("quick", threshold=0.1)
    with caplog.at_level(logging.WARNING, logger="ctx_substrate"):
        calls.took(0.05)
        calls.took(0.1)
        assert calls.remark is None and not caplog.records
        calls.took(0.3)
        calls.took(0.2)
    assert calls.slow == 2 and calls.longest == 0.3
    assert calls.remark is not None and "2 call(s) over 100 ms, the longest 300 ms" in calls.remark
    assert len(caplog.records) == 1


def test_a_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slow-call threshold"):
        LoopCalls("x", threshold=0)
