"""A provider backed by a Python callable (sync or async).

A plain sync callable (not `blocking`) is called on the event loop and holds it for its
whole call (ADR 0122). Each call is timed on the loop clock; the first one over
`SLOW_CALL_S` is reported once per provider, as asyncio's slow-callback warning does: a
warning in the log and a `remark` on the provider's slot in the operator tree, naming
the fix (ADR 0135). The call itself is not moved off the loop.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec

from lightflow_actors.kernel import Actor, handler

from .._errors import ProviderFailure
from ._protocol import Answer, Failure, ProviderRequest, ProviderSpec, Reply, Work, WorkDone

__all__ = [
    "ASYNC_CONCURRENCY",
    "BLOCKING_CONCURRENCY",
    "SLOW_CALL_S",
    "AsyncCallableWorker",
    "CallableWorker",
    "LoopCalls",
    "ProviderFn",
    "callable_provider",
]

ProviderFn = Callable[[ProviderRequest], object | Awaitable[object]]

_encoder = msgspec.json.Encoder()

logger = logging.getLogger("ctx_substrate")

SLOW_CALL_S: Final = 0.1
"""A plain sync provider call holding the loop longer than this (seconds) is reported
(asyncio's `slow_callback_duration`, and `lightflow serve`'s long-handler watchdog)."""


def encode_reply(value: object, default_model: str) -> Answer:
    """Encode a provider's return value; a value msgspec cannot encode is a provider error."""
    model = default_model
    if isinstance(value, Reply):
        model = value.model or default_model
        value = value.value
    try:
        return Answer(_encoder.encode(value), model)
    except (TypeError, ValueError) as exc:
        raise ProviderFailure("provider_error", f"the answer is not JSON-encodable: {exc}") from exc


class LoopCalls:
    """How long a plain sync provider's calls held the loop: shared by its workers'
    incarnations, so a restarted slot keeps the report and the log line is written once.

    ``slow`` counts the calls over ``threshold`` seconds, ``longest`` is the longest of
    them (seconds); both only grow."""

    __slots__ = ("longest", "provider", "slow", "threshold")

    def __init__(self, provider: str, threshold: float = SLOW_CALL_S) -> None:
        if not threshold > 0:
            raise ValueError(f"the slow-call threshold must be > 0 seconds, got {threshold}")
        self.provider = provider
        self.threshold = threshold
        self.slow = 0
        self.longest = 0.0

    def took(self, held: float) -> None:
        """Note one call that held the loop ``held`` seconds."""
        if held <= self.threshold:
            return
        self.slow += 1
        self.longest = max(self.longest, held)
        if self.slow == 1:
            logger.warning(
                "provider %r: its sync callable held the event loop %.0f ms in one call "
                "(over %.0f ms); nothing else runs meanwhile. Declare it blocking=True "
                "(a worker thread) or make it async def (reported once per provider)",
                self.provider,
                held * 1000,
                self.threshold * 1000,
            )

    @property
    def remark(self) -> str | None:
        """What the provider's slot shows operators (None while no call was slow)."""
        if not self.slow:
            return None
        return (
            f"sync callable on the event loop: {self.slow} call(s) over "
            f"{self.threshold * 1000:.0f} ms, the longest {self.longest * 1000:.0f} ms; "
            "declare it blocking=True or async def"
        )


class CallableWorker(Actor[Work]):
    """Calls a synchronous `fn(request)` inline, one request at a time (on the loop),
    timing each call on the loop clock (`calls`)."""

    def __init__(self, fn: ProviderFn, model: str, calls: LoopCalls | None = None) -> None:
        self._fn = fn
        self._model = model
        self.calls = calls if calls is not None else LoopCalls(model or "?")

    @property
    def remark(self) -> str | None:  # type: ignore[override]
        return self.calls.remark

    @handler
    def work(self, msg: Work) -> None:
        clock = self.system.clock
        started = clock.now()
        try:
            try:
                result = self._fn(msg.request)
            finally:
                self.calls.took(clock.now() - started)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise ProviderFailure(
                    "provider_error", "the provider returned an awaitable; declare it `async def`"
                )
            outcome: Answer | Failure = encode_reply(result, self._model)
        except ProviderFailure as exc:
            outcome = Failure(exc.kind, exc.message)
        msg.reply_to.tell(WorkDone(msg.token, outcome))


class AsyncCallableWorker(Actor[Work]):
    """Awaits an `async def fn(request)`, or runs a blocking sync `fn` in a worker thread;
    one request at a time per worker (a provider has `concurrency` workers)."""

    def __init__(self, fn: ProviderFn, model: str, blocking: bool) -> None:
        self._fn = fn
        self._model = model
        self._blocking = blocking

    @handler
    async def work(self, msg: Work) -> None:
        try:
            if self._blocking:
                result = await self.run_blocking(self._fn, msg.request)
            else:
                result = self._fn(msg.request)
            if inspect.isawaitable(result):
                result = await result
            outcome: Answer | Failure = encode_reply(result, self._model)
        except ProviderFailure as exc:
            outcome = Failure(exc.kind, exc.message)
        msg.reply_to.tell(WorkDone(msg.token, outcome))


ASYNC_CONCURRENCY = 16
"""Default concurrency of an `async def` provider (requests awaited at once)."""
BLOCKING_CONCURRENCY = 16
"""Default concurrency of a `blocking` provider (its bounded pool of worker threads)."""


def callable_provider(
    name: str,
    fn: ProviderFn,
    *,
    model: str = "",
    blocking: bool = False,
    concurrency: int | None = None,
) -> ProviderSpec:
    """A provider that answers with `fn(request)` (a JSON value, or `Reply(value, model)`).

    `fn` raising `ProviderFailure` answers `<id>.error`; raising anything else crashes the
    provider, which its host restarts.

    `concurrency` is how many requests it serves at once. Default: an `async def` fn
    `ASYNC_CONCURRENCY` (awaited side by side), a `blocking` fn `BLOCKING_CONCURRENCY`
    (that many worker threads at most), a plain sync fn 1 (it runs on the event loop, so
    more would only queue behind each other).

    >>> spec = callable_provider("echo", lambda req: {"echo": req.body})
    >>> spec.name
    'echo'
    """
    if blocking or inspect.iscoroutinefunction(fn):
        default = BLOCKING_CONCURRENCY if blocking else ASYNC_CONCURRENCY
        return ProviderSpec(
            name,
            lambda: AsyncCallableWorker(fn, model, blocking),
            model,
            concurrency or default,
        )
    calls = LoopCalls(name)
    return ProviderSpec(name, lambda: CallableWorker(fn, model, calls), model, concurrency or 1)
