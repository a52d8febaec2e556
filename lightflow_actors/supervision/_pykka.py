"""pykka interop: supervise a pykka ``ThreadingActor``, and ask one without blocking the loop.

``PykkaChild`` is an actor that owns one pykka actor. It starts it in ``on_start`` (and
fails to start if the pykka ``on_start`` raises), stops it in ``on_stop``, and exits when
the pykka actor dies on its own: with the pykka failure as its crash reason, or ``normal``
if it was stopped. Its supervisor then applies the child's restart type as for any actor.
The pykka hooks run in the pykka thread; they reach the loop only via
``call_soon_threadsafe`` and a ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeAlias, TypeVar

import anyio.to_thread
import msgspec
import pykka

from ..kernel import NORMAL, Actor, ActorRef, Ask, ExitReason, handler
from ._errors import InvalidChildSpec
from ._spec import ChildSpec, Restart, Shutdown, graceful_timeout

logger = logging.getLogger("lightflow_actors.supervision")

T = TypeVar("T")
A = TypeVar("A", bound=pykka.Actor)
PykkaRef: TypeAlias = pykka.ActorRef[pykka.ThreadingActor]


class PykkaExited(msgspec.Struct, frozen=True):
    """The owned pykka actor died: ``failure`` is its exception, or None if it was stopped."""

    failure: BaseException | None


class GetPykkaRef(Ask[PykkaRef], frozen=True):
    """Ask a ``PykkaChild`` for the pykka ref of the actor it owns."""


class PykkaActorFailed(RuntimeError):
    """The pykka actor died of a ``BaseException`` that is not an ``Exception``."""


class _Hooks:
    """Carries events from the pykka thread to the loop; every method is thread-safe."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        owner: ActorRef[PykkaExited],
        started: concurrent.futures.Future[None],
    ) -> None:
        self._loop = loop
        self._owner = owner
        self._started = started

    def started(self, failure: BaseException | None) -> None:
        if self._started.done():
            return
        if failure is None:
            self._started.set_result(None)
        else:
            self._started.set_exception(failure)

    def exited(self, failure: BaseException | None) -> None:
        # RuntimeError: the loop is closed, nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._deliver, failure)

    def _deliver(self, failure: BaseException | None) -> None:
        if self._owner.alive:
            self._owner.tell(PykkaExited(failure))


def _hooked(base: type[pykka.ThreadingActor], hooks: _Hooks) -> type[pykka.ThreadingActor]:
    """A subclass of ``base`` whose lifecycle hooks also report to ``hooks``."""

    class Supervised(base):  # type: ignore[valid-type,misc]
        def on_start(self) -> None:
            try:
                super().on_start()
            except Exception as exc:
                hooks.started(exc)
                raise
            hooks.started(None)

        def on_failure(
            self,
            exception_type: type[BaseException] | None,
            exception_value: BaseException | None,
            traceback: TracebackType | None,
        ) -> None:
            try:
                super().on_failure(exception_type, exception_value, traceback)
            finally:
                failure = exception_value
                if failure is None:
                    failure = PykkaActorFailed(f"{base.__qualname__} failed")
                hooks.exited(failure)

        def on_stop(self) -> None:
            try:
                super().on_stop()
            except Exception as exc:
                hooks.exited(exc)
                raise
            hooks.exited(None)

    Supervised.__name__ = base.__name__
    Supervised.__qualname__ = base.__qualname__
    return Supervised


class PykkaChild(Actor[GetPykkaRef | PykkaExited]):
    """An actor that owns (starts, watches, stops) one pykka ``ThreadingActor``.

    ::

        spec = pykka_child_spec("legacy", LegacyActor, args=(config,))
        sup = await system.start_actor(lambda: Supervisor([spec]))
        owner = (await which_children(sup))[0].ref
        pref = await owner.ask(GetPykkaRef())
        reply = await ask_pykka(pref, {"cmd": "status"})
    """

    def __init__(
        self,
        actor_class: type[pykka.ThreadingActor],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
        *,
        stop_timeout: float | None = 5.0,
    ) -> None:
        self._actor_class = actor_class
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self._stop_timeout = stop_timeout
        self._pykka_ref: PykkaRef | None = None

    async def on_start(self) -> None:
        loop = asyncio.get_running_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        owner: ActorRef[PykkaExited] = self.ref
        hooked = _hooked(self._actor_class, _Hooks(loop, owner, started))
        # Called here, not in a worker thread: pykka runs only __init__ in the caller (keep
        # heavy setup in the pykka on_start, which runs in its own thread), and an await
        # here would open a window where a kill loses the ref and leaks the pykka thread.
        pref: PykkaRef = hooked.start(*self._args, **self._kwargs)
        self._pykka_ref = pref
        try:
            await asyncio.wrap_future(started)
        except BaseException:
            pref.stop(block=False)  # on_start failed or we were killed: don't leak the thread
            raise

    async def on_stop(self, reason: ExitReason) -> None:
        pref = self._pykka_ref
        if pref is None or not pref.is_alive():
            return
        stop = functools.partial(pref.stop, block=True, timeout=self._stop_timeout)
        try:
            await self.run_blocking(stop)
        except pykka.Timeout:
            logger.error(
                "pykka actor %s did not stop within %ss; its thread keeps running",
                pref,
                self._stop_timeout,
            )

    @handler
    def pykka_ref(self, msg: GetPykkaRef) -> PykkaRef:
        assert self._pykka_ref is not None
        return self._pykka_ref

    @handler
    def pykka_exited(self, msg: PykkaExited) -> None:
        if msg.failure is None:
            self.stop(NORMAL)
            return
        if isinstance(msg.failure, Exception):
            raise msg.failure
        raise PykkaActorFailed(repr(msg.failure)) from msg.failure


def pykka_child_spec(
    id: str,
    actor_class: type[pykka.ThreadingActor],
    *,
    args: Sequence[object] = (),
    kwargs: Mapping[str, object] | None = None,
    restart: Restart = "permanent",
    shutdown: Shutdown = 5.0,
) -> ChildSpec[GetPykkaRef | PykkaExited]:
    """A ``ChildSpec`` that runs ``actor_class(*args, **kwargs)`` as a pykka actor.

    ``brutal_kill`` is refused: killing the owner skips its ``on_stop``, and a pykka thread
    cannot be killed, so the pykka actor would outlive its supervisor.
    """
    if shutdown == "brutal_kill":
        raise InvalidChildSpec(
            "shutdown",
            shutdown,
            "a timeout or 'infinity' for a pykka child (threads cannot "
            "be killed; the owner must run on_stop to stop the pykka actor)",
        )
    stop_timeout = graceful_timeout(shutdown)
    return ChildSpec(
        id=id,
        start=lambda: PykkaChild(actor_class, args, kwargs, stop_timeout=stop_timeout),
        restart=restart,
        shutdown=shutdown,
    )


async def await_pykka(future: pykka.Future[T], *, timeout: float = 5.0) -> T:
    """Wait for a pykka future in a worker thread, so the event loop keeps running.

    pykka's own ``await future`` calls the blocking ``get`` on the loop thread; this does
    not. Raises ``pykka.Timeout`` after ``timeout`` seconds, or the actor's exception.
    """
    get = functools.partial(future.get, timeout=timeout)
    result: T = await anyio.to_thread.run_sync(get, abandon_on_cancel=True)
    return result


async def ask_pykka(ref: pykka.ActorRef[A], message: object, *, timeout: float = 5.0) -> object:
    """``ref.ask(message)`` for async code: the reply, without blocking the loop."""
    future: pykka.Future[object] = ref.ask(message, block=False)
    return await await_pykka(future, timeout=timeout)
