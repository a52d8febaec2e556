"""Async work in handlers: ``assign_async`` and ``start_async`` (Phoenix LiveView's).

A slow call (a database, an HTTP API, a model) must not block the session: it would
stop answering events, timers and pubsub meanwhile. A view returns a command instead:

* `AssignAsync(keys, fn)`: the state fields `keys` become ``AsyncResult`` values now
  loading (the previous result kept for the template, as Phoenix does unless
  ``reset``); ``fn()`` runs in a worker actor and its mapping ``{key: value}`` sets
  each field to ``ok``; an exception sets each to ``failed``.
* `StartAsync(name, fn)`: ``fn()`` runs in a worker; its outcome reaches the view's
  ``handle_async(name, result, state)`` as an `AsyncResult` (ok or failed).
* `CancelAsync(name)`: the work named `name` (a ``start_async`` name or an
  ``assign_async`` key) stops; its fields, or ``handle_async``, see it failed with the
  reason ``"cancelled"``.

``fn`` is called on the loop in a worker actor (a child of the session, linked to it):
an ``async`` function, or one that returns an awaitable, is awaited there; a blocking
function must say so (``blocking=True``) and runs in a thread through the kernel's
``run_blocking`` (simulated under the deterministic scheduler). A new command with the
same name replaces the running one; a session that stops kills its workers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

import msgspec

from ..kernel import Actor, ActorRef, handler

T = TypeVar("T")


class AsyncResult(msgspec.Struct, Generic[T], frozen=True):
    """The state of async work a template shows: ``loading``, ``ok`` with `result`, or
    ``failed`` with a reason (the text of the exception). A new load keeps the last
    `result` while ``loading`` is True.

    >>> AsyncResult.pending().loading, AsyncResult.of(3).result
    (True, 3)
    """

    loading: bool = False
    ok: bool = False
    result: T | None = None
    failed: str | None = None

    @classmethod
    def pending(cls) -> AsyncResult[T]:
        """Loading, nothing yet (what a field holds before its first result)."""
        return cls(loading=True)

    @classmethod
    def of(cls, result: T) -> AsyncResult[T]:
        """Loaded: `result`."""
        return cls(ok=True, result=result)

    @classmethod
    def failure(cls, reason: str) -> AsyncResult[T]:
        """Failed with `reason`."""
        return cls(failed=reason)

    def reloading(self, *, reset: bool = False) -> AsyncResult[T]:
        """Loading again, keeping the last result unless `reset`."""
        if reset:
            return AsyncResult(loading=True)
        return AsyncResult(loading=True, ok=self.ok, result=self.result)


AsyncFn = Callable[[], object]
"""What async work runs: returns a value, or an awaitable of one (an ``async def``)."""


class AssignAsync(msgspec.Struct, frozen=True, kw_only=True):
    """Load the state fields `keys` in the background: ``fn()`` returns (or awaits to)
    a mapping with a value for each key."""

    keys: tuple[str, ...]
    fn: Callable[[], Mapping[str, object] | Awaitable[Mapping[str, object]]]
    reset: bool = False
    blocking: bool = False


class StartAsync(msgspec.Struct, frozen=True, kw_only=True):
    """Run ``fn()`` in the background; its outcome goes to ``handle_async(name, ...)``."""

    name: str
    fn: AsyncFn
    blocking: bool = False


class CancelAsync(msgspec.Struct, frozen=True, kw_only=True):
    """Stop the work `name` (a ``start_async`` name or an ``assign_async`` key)."""

    name: str
    reason: str = "cancelled"


class AsyncDone(msgspec.Struct, frozen=True):
    """From a worker to its session: the work `token` ended (`ok` with `value`, or
    `failed` with a reason)."""

    token: int
    ok: bool
    value: object = None
    failed: str | None = None


class _Run(msgspec.Struct, frozen=True):
    """Session to worker: start."""


class AsyncWorker(Actor[_Run]):
    """Runs one piece of async work for a session and reports it, then stops."""

    def __init__(
        self, fn: AsyncFn, *, blocking: bool, token: int, session: ActorRef[AsyncDone]
    ) -> None:
        self.fn = fn
        self.blocking = blocking
        self.token = token
        self.session = session

    def on_start(self) -> None:
        self.ref.tell(_Run())

    @handler
    async def run(self, msg: _Run) -> None:
        try:
            value = await self.run_blocking(self.fn) if self.blocking else self.fn()
            if inspect.isawaitable(value):
                value = await value
        except Exception as error:  # the view's failure to show, not this actor's crash
            self.session.tell(AsyncDone(self.token, False, failed=_reason(error)))
        else:
            self.session.tell(AsyncDone(self.token, True, value))
        self.stop()


def _reason(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
