"""A provider backed by a Python callable (sync or async)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import msgspec

from lightflow_actors.kernel import Actor, handler

from .._errors import ProviderFailure
from ._protocol import Answer, Failure, ProviderRequest, ProviderSpec, Reply, Work, WorkDone

__all__ = [
    "ASYNC_CONCURRENCY",
    "BLOCKING_CONCURRENCY",
    "AsyncCallableWorker",
    "CallableWorker",
    "ProviderFn",
    "callable_provider",
]

ProviderFn = Callable[[ProviderRequest], object | Awaitable[object]]

_encoder = msgspec.json.Encoder()


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


class CallableWorker(Actor[Work]):
    """Calls a synchronous `fn(request)` inline, one request at a time (on the loop)."""

    def __init__(self, fn: ProviderFn, model: str) -> None:
        self._fn = fn
        self._model = model

    @handler
    def work(self, msg: Work) -> None:
        try:
            result = self._fn(msg.request)
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
    return ProviderSpec(name, lambda: CallableWorker(fn, model), model, concurrency or 1)
