"""Simulated blocking work: what ``run_blocking`` / ``run_in_executor`` do under simulation.

A worker thread finishes at a wall-clock time no scheduler controls, so the deterministic
loop refuses threads. A scenario that needs blocking work either registers a simulated
function for each real one (``blocking={real_fn: fake_fn}``) or opts into ``allow_threads``,
which runs the real function inline on the loop thread: deterministic, but the loop is
blocked while it runs, exactly like calling it from a handler would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..kernel._clock import Clock
from ..kernel._system import RootStarter
from ..supervision import ActorSystem
from ._errors import RealIOForbidden

T = TypeVar("T")

BlockingFn = Callable[..., object]


def _key(fn: Callable[..., object]) -> Callable[..., object]:
    """The function to look up: partials and bound methods name their underlying function."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    underlying = getattr(fn, "__func__", None)
    return underlying if callable(underlying) else fn


def _name(fn: Callable[..., object]) -> str:
    target = _key(fn)
    module = getattr(target, "__module__", None) or "?"
    return f"{module}.{getattr(target, '__qualname__', repr(target))}"


class BlockingPolicy:
    """Which blocking calls a run may make, and what runs in their place."""

    __slots__ = ("_fakes", "allow_threads")

    def __init__(
        self,
        fakes: Mapping[BlockingFn, BlockingFn] | None = None,
        allow_threads: bool = False,
    ) -> None:
        self._fakes: dict[Callable[..., object], Callable[..., object]] = {
            _key(real): fake for real, fake in (fakes or {}).items()
        }
        self.allow_threads = allow_threads

    def call(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` the simulated way, or raise ``RealIOForbidden`` saying how."""
        fake = self._fakes.get(_key(fn))
        if fake is not None:
            # A bound method or partial keeps its bound arguments for the fake too.
            bound: tuple[object, ...] = ()
            inner: Callable[..., object] = fn
            while isinstance(inner, functools.partial):
                bound = tuple(inner.args) + bound
                inner = inner.func
            owner = getattr(inner, "__self__", None)
            prefix = (owner,) if owner is not None and not isinstance(owner, type) else ()
            result: T = fake(*prefix, *bound, *args)  # type: ignore[assignment]
            return result
        if self.allow_threads:
            return fn(*args)
        raise RealIOForbidden(
            f"{what}({_name(fn)})",
            "it would run in a worker thread. Register a simulated function with "
            f"Scenario(blocking={{{_name(fn)}: fake}}) or run it inline with "
            "Scenario(allow_threads=True)",
        )


class SimulatedActorSystem(ActorSystem):
    """An ``ActorSystem`` whose ``run_blocking`` follows a ``BlockingPolicy``.

    Everything else is the unchanged kernel; the harness builds one per run.
    """

    def __init__(
        self,
        *,
        blocking: BlockingPolicy,
        seed: int,
        clock: Clock,
        throughput: int = 1,
        name: str = "simulation",
        default_stop_timeout: float = 5.0,
        root: bool | RootStarter = True,
    ) -> None:
        async def run_blocking(fn: Callable[..., T], *args: object) -> T:
            return blocking.call("run_blocking", fn, *args)

        super().__init__(
            name,
            seed=seed,
            clock=clock,
            throughput=throughput,
            default_stop_timeout=default_stop_timeout,
            blocking_runner=run_blocking,
            root=root,
        )
        self._blocking = blocking
        self.network: object = None
        """The run's simulated network (``network(system)``); set by the simulation."""
        self.monitors: object = None
        """The run's monitors (``notify(system, event)``); set by the simulation."""
