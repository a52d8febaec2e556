"""The supervised ``ActorSystem``: the kernel's system with a root supervisor at the top.

This is the ``ActorSystem`` applications use (``lightflow_actors.ActorSystem``). The kernel
takes its root as an injected ``RootStarter`` so that it imports nothing above itself; this
subclass is where supervision injects ``RootSupervisor``.
"""

from __future__ import annotations

from typing import Never

from ..kernel import ActorRef, BlockingRunner, Clock, RootStarter, run_in_thread
from ..kernel import ActorSystem as KernelSystem
from ._root import ROOT_NAME, start_root


async def start_root_supervisor(system: KernelSystem) -> ActorRef[Never]:
    """The default ``RootStarter``: a ``RootSupervisor`` registered as ``lightflow.root``."""
    return await start_root(system, name=ROOT_NAME)


class ActorSystem(KernelSystem):
    """An ``ActorSystem`` whose top-level actors live under a root supervisor.

    ::

        async with ActorSystem() as system:
            counter = system.spawn(Counter, name="counter")
            assert system.root is not None  # the RootSupervisor, named "lightflow.root"

    ``root=True`` (the default) starts a ``RootSupervisor`` registered as
    ``lightflow.root``; top-level actors are its (temporary, linked) children, so the
    whole system is one supervision tree. ``root=False`` gives the bare kernel, and a
    ``RootStarter`` puts your own actor at the top. Every other argument is the kernel's
    (see ``lightflow_actors.kernel.ActorSystem``).
    """

    def __init__(
        self,
        name: str = "lightflow",
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        throughput: int = 300,
        event_history: int = 10_000,
        default_stop_timeout: float = 5.0,
        blocking_runner: BlockingRunner = run_in_thread,
        root: bool | RootStarter = True,
        long_handler: float | None = None,
    ) -> None:
        starter: RootStarter | None
        if root is True:
            starter = start_root_supervisor
        elif root is False:
            starter = None
        else:
            starter = root
        super().__init__(
            name,
            seed=seed,
            clock=clock,
            throughput=throughput,
            event_history=event_history,
            default_stop_timeout=default_stop_timeout,
            blocking_runner=blocking_runner,
            root=starter,
            long_handler=long_handler,
        )
