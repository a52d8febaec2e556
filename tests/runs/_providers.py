"""Python-callable providers for the runs tests (named in the test runs config).

`chat` answers every api format in its own shape with `done: <prompt>`, threads with
`{"text"}`; a prompt starting with `FAIL` is refused with a provider error. `slow_chat` is
the same after a pause (the crash test kills the server while steps are in flight), and
`async_slow_chat` the same awaited on the loop.
`gated_chat` refuses step 5 of the `chain` workflow while the file named by
`$LIGHTFLOW_TEST_GATE` exists (a run fails there; remove the file, and its retry can
succeed); `slow_gated_chat` is the same after a pause. `held_chat` holds the `fanout`
join step (its prompt joins two answers with ` + `) while the file named by
`$LIGHTFLOW_TEST_HOLD` exists, so a test sees the run half done whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ctx_substrate import ProviderFailure, ProviderRequest
from lightflow_actors.host import echo_reply


def chat(request: ProviderRequest) -> object:
    if b"FAIL" in request.raw:
        raise ProviderFailure("provider_error", "the mock provider refuses FAIL prompts")
    return echo_reply(request, "done: {user}", "mock-1")


def slow_chat(request: ProviderRequest) -> object:
    time.sleep(0.25)  # a test fixture standing in for a model's latency
    return chat(request)


async def async_slow_chat(request: ProviderRequest) -> object:
    """`slow_chat` without a thread: an `async def` callable runs on the loop, so its
    exchanges are journaled (ADR 0122)."""
    await asyncio.sleep(0.25)
    return chat(request)


def noop(request: ProviderRequest) -> object:
    return echo_reply(request, "ok", "mock-1")


def gated_chat(request: ProviderRequest) -> object:
    gate = os.environ.get("LIGHTFLOW_TEST_GATE")
    if gate and b"step 5 after" in request.raw and Path(gate).exists():
        raise ProviderFailure("provider_error", "the gate is closed for step 5")
    return chat(request)


def slow_gated_chat(request: ProviderRequest) -> object:
    time.sleep(0.25)  # a test fixture standing in for a model's latency
    return gated_chat(request)


def held_chat(request: ProviderRequest) -> object:
    hold = os.environ.get("LIGHTFLOW_TEST_HOLD")
    if hold and b" + " in request.raw:
        waited = 0
        while Path(hold).exists() and waited < 3000:  # at most 30 s, then answer anyway
            time.sleep(0.01)
            waited += 1
    return chat(request)


def turnstile_chat(request: ProviderRequest) -> object:
    """`chat`, after writing whose request it is (its tenant) as a line of the file named
    by `$LIGHTFLOW_TEST_ORDER`, and while the file named by `$LIGHTFLOW_TEST_HOLD` exists
    (at most 30 s): a test holds the provider's one slot and reads the order it served."""
    order = os.environ.get("LIGHTFLOW_TEST_ORDER")
    if order:
        with open(order, "a", encoding="ascii") as log:
            log.write(request.tenant + "\n")
    hold = os.environ.get("LIGHTFLOW_TEST_HOLD")
    waited = 0
    while hold and Path(hold).exists() and waited < 3000:
        time.sleep(0.01)
        waited += 1
    return chat(request)
