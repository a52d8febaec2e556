"""Shared pytest configuration.

- Async tests run on asyncio through anyio's plugin, except those that take the ``runtime``
  fixture: they run on the loop it names, the real asyncio loop or the deterministic one
  (``lightflow_actors.testing``: virtual time, a seeded schedule), so each concurrency
  claim is tested on both (STYLE habit 15).
- Hypothesis runs without its per-example deadline and without the too-slow health
  check: both are wall-clock thresholds, and the machines are shared and noisy (a test
  asserts behaviour, never speed; benches in bench/ measure).
- Python caches bytecode in this session and in every process it starts, even where the
  environment says PYTHONDONTWRITEBYTECODE (as some CI images do): the suite starts
  `lightflow` and generated projects' checks many times, and each would otherwise compile
  every module it imports from source again.
- Every test session gets its own XDG state and config folders (inherited by the server
  and CLI processes tests start), so no test reads or writes the user's real
  `~/.local/state/lightflow` or `~/.config/lightflow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from lightflow_actors import ActorSystem
from lightflow_actors.kernel import Clock, RootStarter
from lightflow_actors.testing import BlockingPolicy, FifoViolation, Simulation
from lightflow_actors.testing.pytest_plugin import SEED_ENV, SEEDS_ENV, STRATEGY_ENV

T = TypeVar("T")

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

settings.register_profile("lightflow", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("lightflow")

DEFAULT_SEED = 7
"""The deterministic runtime's seed unless LIGHTFLOW_SEED or LIGHTFLOW_SEEDS say otherwise."""

RuntimeKind = Literal["asyncio", "deterministic"]


class DrivenLoop:
    """One event loop of a runtime, which a test drives with ``run(coro)`` until ``close()``.

    The real loop is an ``asyncio.Runner`` (its ``close`` cancels what is left and shuts
    the default executor down, as ``asyncio.run`` does). The deterministic one is a
    ``Simulation``: its ``close`` also checks per-pair FIFO on every system it built, and
    a failure on it carries a note with the seed, the trace digest and the replay command.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.runner = None if runtime.deterministic else asyncio.Runner()
        self.simulation = Simulation(seed=runtime.seed) if runtime.deterministic else None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.runner is not None:
            return self.runner.run(coro)
        assert self.simulation is not None
        with self._noted():
            return self.simulation.run(coro)

    def close(self) -> None:
        self.runtime._forget(self)
        if self.runner is not None:
            self.runner.close()
            return
        assert self.simulation is not None
        with self._noted():
            self.simulation.close()
            self.simulation.check()

    def system(self, name: str | None, options: dict[str, Any], allow_threads: bool) -> ActorSystem:
        if name is not None:
            options["name"] = name
        if self.simulation is None:
            return ActorSystem(**options)
        # run_blocking runs inline on the loop thread: deterministic, and the loop waits
        # for it as it would for a handler doing the same work.
        blocking = BlockingPolicy(allow_threads=True) if allow_threads else None
        return self.simulation.system(blocking=blocking, **options)

    @contextlib.contextmanager
    def _noted(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            assert self.simulation is not None
            sim, runtime = self.simulation, self.runtime
            note = (
                f"runtime: deterministic loop, seed {runtime.seed} (strategy "
                f"{sim.strategy.spec}), {sim.loop.steps} steps, virtual time "
                f"{sim.loop.time():g}s, trace sha256 {sim.trace.sha256()} ({len(sim.trace)} events)"
            )
            if runtime.nodeid:
                command = f"uv run --frozen pytest '{runtime.nodeid}'"
                note += f"\n  replay: {SEED_ENV}={runtime.seed} {command}"
            exc.add_note(note)
            raise


class Runtime:
    """The event loop a test runs on: the real asyncio loop, or the deterministic loop with
    a seed (named in the test id: ``test_x[asyncio]``, ``test_x[deterministic-seed=7]``).

    An async test that takes ``runtime`` runs on its loop and builds systems with
    ``runtime.system(...)`` (the arguments of ``ActorSystem``)::

        async def test_one_for_one_restarts_only_the_crashed_child(runtime: Runtime) -> None:
            async with runtime.system(root=False) as system:
                ...

    Sleeps and timeouts cost no wall time on the deterministic loop (its clock jumps to
    the next timer); real I/O and threads are refused there. A sync test (a Hypothesis
    property) runs a scenario with ``runtime.run(main)``; a state machine drives one loop
    across its steps with ``loop = runtime.open()``, ``loop.run(coro)``, ``loop.close()``.
    """

    __slots__ = ("_loop", "kind", "nodeid", "seed")

    def __init__(self, kind: RuntimeKind, seed: int = DEFAULT_SEED, nodeid: str = "") -> None:
        self.kind: RuntimeKind = kind
        self.seed = seed
        self.nodeid = nodeid
        self._loop: DrivenLoop | None = None

    @property
    def deterministic(self) -> bool:
        return self.kind == "deterministic"

    def __repr__(self) -> str:
        where = f"deterministic-seed={self.seed}" if self.deterministic else "asyncio"
        return f"<Runtime {where}>"

    def system(
        self,
        name: str | None = None,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        throughput: int | None = None,
        default_stop_timeout: float = 5.0,
        root: bool | RootStarter = True,
        allow_threads: bool = False,
    ) -> ActorSystem:
        """A new, not yet started ``ActorSystem`` on this runtime's open loop.

        ``throughput`` defaults to each loop's own default (300 real; 1 deterministic, so
        every message is its own scheduling step); ``seed`` to the runtime's seed on the
        deterministic loop. ``allow_threads`` lets ``run_blocking`` work run inline on the
        deterministic loop instead of being refused (the real loop always uses threads).
        """
        if self._loop is None:
            raise RuntimeError(
                "runtime.system() builds a system for the loop the test runs on: call it "
                "inside an async test that takes `runtime`, inside runtime.run(...), or "
                "after runtime.open()"
            )
        options: dict[str, Any] = {"default_stop_timeout": default_stop_timeout, "root": root}
        if seed is not None:
            options["seed"] = seed
        if clock is not None:
            options["clock"] = clock
        if throughput is not None:
            options["throughput"] = throughput
        return self._loop.system(name, options, allow_threads)

    def open(self) -> DrivenLoop:
        """A fresh loop of this kind, which ``system()`` builds for until it is closed."""
        if self._loop is not None:
            raise RuntimeError(f"{self!r} already has an open loop; close it first")
        self._loop = DrivenLoop(self)
        return self._loop

    def run(self, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``main()`` to completion on a fresh loop of this kind and return its result."""
        loop = self.open()
        try:
            result = loop.run(main())
        except BaseException:
            # The test's own failure is the one to report, not a FIFO check after it.
            with contextlib.suppress(FifoViolation):
                loop.close()
            raise
        loop.close()
        return result

    def _forget(self, loop: DrivenLoop) -> None:
        if self._loop is loop:
            self._loop = None


QUIESCE_S = 1e-6
"""Far below any timer a test sets, so none of them fires during ``quiesce()``."""


async def quiesce() -> None:
    """Let every callback already queued run before going on, on either loop.

    On the real loop this is a loop turn, like ``asyncio.sleep(0)``. On the deterministic
    loop it lasts until nothing else is ready: virtual time, and so this sleep's timer,
    moves only then. One ``sleep(0)`` lets queued work (an exit signal travelling by
    ``call_soon``, a started actor's first message) run only under FIFO scheduling, which
    the deterministic loop does not promise across actors, and nor does the kernel.
    """
    await asyncio.sleep(QUIESCE_S)


def _runtime_params() -> list[Any]:
    """asyncio, then the deterministic loop on DEFAULT_SEED, or on LIGHTFLOW_SEED, or on
    LIGHTFLOW_SEEDS=<n> seeds from DEFAULT_SEED on (the plugin's variables, same meaning)."""
    try:
        if os.environ.get(SEED_ENV):
            seeds = [int(os.environ[SEED_ENV])]
        else:
            count = int(os.environ.get(SEEDS_ENV) or 1)
            seeds = list(range(DEFAULT_SEED, DEFAULT_SEED + max(count, 1)))
    except ValueError as exc:
        raise pytest.UsageError(
            f"{SEED_ENV} is one seed and {SEEDS_ENV} a number of seeds, both integers: {exc}"
        ) from exc
    params = [pytest.param(("asyncio", DEFAULT_SEED), id="asyncio")]
    params += [
        pytest.param(("deterministic", seed), id=f"deterministic-seed={seed}") for seed in seeds
    ]
    return params


@pytest.fixture(params=_runtime_params())
def runtime(request: pytest.FixtureRequest) -> Runtime:
    """The loop this test runs on, once per runtime (see ``Runtime``)."""
    kind, seed = request.param
    return Runtime(kind, seed, request.node.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an async test that takes ``runtime`` on that runtime's loop."""
    runtime = pyfuncitem.funcargs.get("runtime")
    fn = pyfuncitem.obj
    if not isinstance(runtime, Runtime) or not inspect.iscoroutinefunction(fn):
        return None
    if pyfuncitem.get_closest_marker("anyio") is not None:
        raise pytest.UsageError(
            f"{pyfuncitem.nodeid} takes the runtime fixture, which picks its loop; remove "
            "@pytest.mark.anyio from it (or from the module's pytestmark)"
        )
    kwargs = {name: pyfuncitem.funcargs[name] for name in inspect.signature(fn).parameters}
    runtime.run(lambda: fn(**kwargs))
    return True


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# The deterministic harness's own controls (a replay line sets them) are not user settings.
_HARNESS_ENV = frozenset({SEED_ENV, SEEDS_ENV, STRATEGY_ENV})


@pytest.fixture(autouse=True, scope="session")
def _isolated_xdg_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.mktemp("xdg")
    saved = {k: os.environ.get(k) for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME")}
    os.environ["XDG_STATE_HOME"] = str(base / "state")
    os.environ["XDG_CONFIG_HOME"] = str(base / "config")
    for key in [k for k in os.environ if k.startswith("LIGHTFLOW_") and k not in _HARNESS_ENV]:
        saved.setdefault(key, os.environ.pop(key))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
